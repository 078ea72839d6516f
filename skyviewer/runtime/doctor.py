"""`skyviewer doctor`: what is installed and usable here, one line per item, one screen.

Every check is guarded: a missing library is a line in the report, never a traceback.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
from collections.abc import Callable


def _onnxruntime() -> str:
    import onnxruntime as ort

    return f"{ort.__version__}, build lists {', '.join(ort.get_available_providers())}"


def _providers() -> list[tuple[str, str]]:
    from skyviewer.runtime.providers import PREFERENCE, probe

    rows = []
    for name in PREFERENCE:
        status = probe(name)
        rows.append(
            (
                f"  {name.removesuffix('ExecutionProvider')}",
                ("yes: " if status.usable else "no: ") + status.reason,
            )
        )
    return rows


def _gpu() -> str:
    if shutil.which("nvidia-smi") is None:
        return "none found (no nvidia-smi on PATH)"
    query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
    result = subprocess.run(query, capture_output=True, text=True, timeout=20)
    return result.stdout.strip().replace("\n", "; ") or f"nvidia-smi failed: {result.stderr.strip()[:100]}"


def _opengl() -> str:
    from skyviewer.render.context import create_offscreen_context, release_context

    ctx = create_offscreen_context()
    try:
        return f"{ctx.info['GL_RENDERER']}, OpenGL {ctx.version_code / 100:.1f}"
    finally:
        release_context(ctx)


def _interop() -> str:
    from skyviewer.render.context import create_offscreen_context, release_context
    from skyviewer.render.cuda_gl import interop_blocker
    from skyviewer.runtime.providers import CUDA, probe

    if not probe(CUDA).usable:
        return "no: no usable CUDA provider"
    ctx = create_offscreen_context()
    try:
        blocker = interop_blocker("cuda", ctx)
    finally:
        release_context(ctx)
    return f"no: {blocker}" if blocker else "yes: decoded frames reach the dome without a host copy"


def _display() -> str:
    found = [f"{k}={os.environ[k]}" for k in ("DISPLAY", "WAYLAND_DISPLAY") if os.environ.get(k)]
    return ", ".join(found) or "none (headless: windowed viewer unavailable, EGL offscreen still works)"


def _video() -> str:
    import av

    encoders = [c for c in ("libx264", "libx265", "h264_nvenc") if c in av.codecs_available]
    ffmpeg = shutil.which("ffmpeg") or "no ffmpeg binary on PATH (PyAV has its own)"
    return f"PyAV {av.__version__} (encoders: {', '.join(encoders) or 'none of x264/x265/nvenc'}); {ffmpeg}"


def _torch() -> str:
    spec = importlib.util.find_spec("torch")  # looked up, never imported: the runtime does not need it
    return "installed (training and export)" if spec else "not installed (needed only to train and export)"


def _packages() -> str:
    from skyviewer.runtime.package import find_packages, search_dirs

    found = [p.name for p in find_packages()]
    where = ", ".join(str(d) for d in search_dirs())
    return f"{len(found)} ({', '.join(found) or 'none'}) in {where}"


CHECKS: list[tuple[str, Callable]] = [
    ("onnxruntime", _onnxruntime),
    ("providers", _providers),
    ("GPU", _gpu),
    ("OpenGL context", _opengl),
    ("CUDA-GL interop", _interop),
    ("display", _display),
    ("video", _video),
    ("torch", _torch),
    ("sky packages", _packages),
]


def report() -> list[tuple[str, str]]:
    """(label, finding) rows; a check that raises reports its error instead."""
    rows = [("python", f"{platform.python_version()} on {platform.platform(terse=True)}")]
    for label, check in CHECKS:
        try:
            result = check()
        except Exception as e:  # a doctor reports every failure, whatever its type
            result = f"unavailable: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
        if isinstance(result, list):
            rows += [(label, "")] + result
        else:
            rows.append((label, result))
    return rows
