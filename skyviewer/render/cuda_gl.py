"""CUDA-OpenGL interop: OpenGL pixel buffers that CUDA writes, so a frame decoded on the GPU
reaches the dome's texture without crossing to the host (docs/rendering.md, "Frames from a GPU").

A pixel buffer is registered with CUDA once; for each frame it is mapped (CUDA gets a device
pointer into it), ONNX Runtime writes the radiance there (SkyModel.decode_into), it is unmapped,
and OpenGL copies it into the texture on the GPU. It needs NVIDIA's OpenGL with its context
current in the calling thread, the model on ONNX Runtime's CUDA provider in the same process
(both then use the device's primary CUDA context), and NVIDIA's `cuda-bindings` package.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager

import moderngl

REGISTER_WRITE_DISCARD = 2
"""cudaGraphicsRegisterFlagsWriteDiscard: CUDA overwrites the whole buffer, GL need not keep it."""


def interop_blocker(device: str, ctx: moderngl.Context) -> str | None:
    """Why frames on `device` ("cuda" or "cpu") cannot reach `ctx`'s textures through CUDA-GL
    interop here (the first missing condition), or None when they can."""
    if device != "cuda":
        return f"model on {device.upper()}"
    vendor = ctx.info.get("GL_VENDOR", "")
    if "NVIDIA" not in vendor:
        return f"GL is {vendor}, not NVIDIA"
    if importlib.util.find_spec("cuda.bindings") is None:
        return "cuda-bindings not installed"
    return None


def _runtime():
    from cuda.bindings import runtime

    return runtime


def _checked(result: tuple):
    """cuda-bindings calls return (error, *values): the values, or an error naming the failure."""
    cudart = _runtime()
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        name = cudart.cudaGetErrorName(error)[1].decode()
        raise RuntimeError(f"CUDA-OpenGL interop: {name} (is the GL context NVIDIA's, on the model's GPU?)")
    return values[0] if len(values) == 1 else values


class CudaGLBuffer:
    """A moderngl Buffer that CUDA can write while it is mapped."""

    def __init__(self, buffer: moderngl.Buffer) -> None:
        self.size = buffer.size
        self._resource = _checked(_runtime().cudaGraphicsGLRegisterBuffer(buffer.glo, REGISTER_WRITE_DISCARD))

    @contextmanager
    def mapped(self) -> Iterator[int]:
        """The buffer's CUDA device pointer, valid inside the block; GL may use the buffer after it
        (unmapping orders CUDA's writes before GL's later reads)."""
        cudart = _runtime()
        _checked(cudart.cudaGraphicsMapResources(1, self._resource, 0))
        try:
            pointer, size = _checked(cudart.cudaGraphicsResourceGetMappedPointer(self._resource))
            if size < self.size:
                raise RuntimeError(f"CUDA-OpenGL interop: mapped {size} bytes of a {self.size}-byte buffer")
            yield int(pointer)
        finally:
            _checked(cudart.cudaGraphicsUnmapResources(1, self._resource, 0))

    def release(self) -> None:
        _checked(_runtime().cudaGraphicsUnregisterResource(self._resource))
