"""Choosing ONNX Runtime execution providers: the best one that really works, quietly.

onnxruntime-gpu lists TensorRT and CUDA as available on every machine, GPU or not, and
logs a screen of library-loading errors when a session then tries them. So a GPU provider
counts as usable only when (1) ONNX Runtime lists it, (2) the libraries it needs load
(the NVIDIA driver for both, TensorRT's runtime for TensorRT), and (3) a session on a tiny
in-memory model actually comes up on it, created with ONNX Runtime's logging turned down.
The result is cached per process; `skyviewer doctor` shows each provider's reason.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import onnxruntime as ort

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
PREFERENCE = (TENSORRT, CUDA, CPU)
"""Best first: TensorRT compiles fused engines, CUDA runs any graph, the CPU always works."""
GPU_PROVIDERS = (TENSORRT, CUDA)
ALIASES = {"auto": None, "tensorrt": TENSORRT, "cuda": CUDA, "cpu": CPU}

# Shared libraries each GPU provider needs before ONNX Runtime even tries to load it.
_LIBRARIES = {
    CUDA: {"linux": ["libcuda.so.1"], "win32": ["nvcuda.dll"]},
    TENSORRT: {"linux": ["libcuda.so.1", "libnvinfer.so.10"], "win32": ["nvcuda.dll", "nvinfer_10.dll"]},
}
QUIET = 4
"""ONNX Runtime log severity while probing: fatal only (failed provider loads log as errors)."""
DEFAULT_LOG_SEVERITY = 2
"""ONNX Runtime's own default (warnings), restored after probing."""


@dataclass(frozen=True)
class ProviderStatus:
    """Whether one execution provider can run sessions on this machine, and why (not)."""

    name: str
    """ONNX Runtime's provider name, e.g. CUDAExecutionProvider."""
    usable: bool
    """A session really came up on it."""
    reason: str
    """One line: what was found, or what is missing."""


def _missing_library(provider: str) -> str | None:
    for lib in _LIBRARIES.get(provider, {}).get(sys.platform, []):
        try:
            ctypes.CDLL(lib)
        except OSError:
            return lib
    return None


@cache
def _probe_model() -> bytes:
    """A one-node float graph (Y = X + X) for test sessions; built in memory, never on disk."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)], ir_version=8)
    return model.SerializeToString()


@cache
def probe(provider: str) -> ProviderStatus:
    """Can sessions run on `provider` here? Checked once per process."""
    if provider not in ort.get_available_providers():
        return ProviderStatus(provider, False, f"not in this onnxruntime build ({ort.__version__})")
    if provider == CPU:
        return ProviderStatus(provider, True, "always available")
    if lib := _missing_library(provider):
        return ProviderStatus(provider, False, f"{lib} not loadable (no NVIDIA driver / runtime)")
    ort.set_default_logger_severity(QUIET)
    try:
        options = ort.SessionOptions()
        options.log_severity_level = QUIET
        session = ort.InferenceSession(_probe_model(), options, providers=[provider, CPU])
        active = session.get_providers()[0]
    except Exception as e:  # provider libraries that load but fail to initialise
        return ProviderStatus(provider, False, f"session failed: {str(e).splitlines()[0][:200]}")
    finally:
        ort.set_default_logger_severity(DEFAULT_LOG_SEVERITY)
    if active != provider:
        return ProviderStatus(
            provider, False, "failed to load (CUDA 12 runtime / cuDNN 9 libraries missing?)"
        )
    return ProviderStatus(provider, True, "session created")


def resolve_providers(request: str | Sequence[str] = "auto") -> list[str]:
    """The provider list to create sessions with: the requested or best usable one, then CPU.

    request: "auto" (best usable), "tensorrt", "cuda", "cpu", or a list of ONNX Runtime
    provider names. A requested provider that is not usable is an error, not a silent
    fallback; "auto" falls back silently (doctor says why).
    """
    if isinstance(request, str):
        if request not in ALIASES:
            raise ValueError(
                f"providers must be one of {sorted(ALIASES)} or a list of names, got {request!r}"
            )
        wanted = [ALIASES[request]] if ALIASES[request] else None
    else:
        wanted = list(request)
    if wanted is None:
        wanted = [next(p for p in PREFERENCE if probe(p).usable)]
    for name in wanted:
        status = probe(name)
        if not status.usable:
            raise RuntimeError(f"execution provider {name} is not usable here: {status.reason}")
    return wanted + ([CPU] if CPU not in wanted else [])


def session_providers(providers: list[str]) -> list[tuple[str, dict]]:
    """(name, options) pairs for InferenceSession: TensorRT caches its built engines on disk,
    so only the first run of a package pays the minutes-long engine build."""
    from pathlib import Path

    cache_dir = Path.home() / ".cache" / "skyviewer" / "tensorrt"
    trt = {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache_dir)}
    return [(p, trt if p == TENSORRT else {}) for p in providers]


def is_gpu(provider: str) -> bool:
    """Whether sessions on `provider` keep tensors in CUDA device memory."""
    return provider in GPU_PROVIDERS
