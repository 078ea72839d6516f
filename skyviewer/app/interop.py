"""How model frames reach the GL texture, for the HUD.

Today every frame takes the host copy: ONNX Runtime's output is decoded on the host and
uploaded through SkyTextures' pixel buffers. CUDA-OpenGL interop (registering the PBO with
cudaGraphicsGLRegisterBuffer and copying device to device from the OrtValue) would need all
three conditions checked here; `interop_blocker` names the first one missing, so the HUD says
why the host copy is in use. The zero-copy path itself is not implemented yet (docs/viewer.md).
"""

from __future__ import annotations

import importlib.util

import moderngl

from skyviewer.runtime.model import SkyModel


def interop_blocker(model: SkyModel, ctx: moderngl.Context) -> str:
    """Why CUDA-GL interop cannot be used here (first missing condition)."""
    if model.device != "cuda":
        return f"model on {model.provider.removesuffix('ExecutionProvider')}"
    vendor = ctx.info.get("GL_VENDOR", "")
    if "NVIDIA" not in vendor:
        return f"GL is {vendor}, not NVIDIA"
    if importlib.util.find_spec("cuda") is None:
        return "cuda-python not installed"
    return "zero-copy path not implemented"


def upload_path(model: SkyModel, ctx: moderngl.Context) -> str:
    """The HUD's description of the upload path in use, e.g. "host copy: model on CPU"."""
    return f"host copy: {interop_blocker(model, ctx)}"
