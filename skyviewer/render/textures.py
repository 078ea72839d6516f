"""The two sky textures the dome blends: the previous and the next model frame."""

from __future__ import annotations

from collections.abc import Callable

import moderngl
import numpy as np

from skyviewer.errors import UserError
from skyviewer.render.cuda_gl import CudaGLBuffer


class SkyTextures:
    """Previous/next canonical sky frames as float16 textures, uploaded through two PBOs.

    push() writes the new frame into a pixel buffer object, has GL copy it into the texture
    that held the older frame, and swaps roles: the old `next` becomes `prev`. The copy from
    the PBO is asynchronous, and alternating between two PBOs means writing frame k never waits
    for the transfer of frame k-1 to finish.

    gpu_frames: the frames come from CUDA instead (push_device, render/cuda_gl.py), and the
    pixel buffers are registered with CUDA.
    """

    def __init__(self, ctx: moderngl.Context, size: int, gpu_frames: bool = False) -> None:
        self.size, self.gpu_frames = size, gpu_frames
        nbytes = size * size * 3 * 2  # RGB, float16
        self._textures = [self._texture(ctx) for _ in range(2)]
        # The host writes its frames into the buffers each push (dynamic); CUDA's never come from
        # the host (static: GL may keep them in video memory).
        self._pbos = [ctx.buffer(reserve=nbytes, dynamic=not gpu_frames) for _ in range(2)]
        self._cuda = {pbo.glo: CudaGLBuffer(pbo) for pbo in self._pbos} if gpu_frames else {}
        self._next = 0  # index of the texture holding the newest frame
        self._pushed = 0

    def _texture(self, ctx: moderngl.Context) -> moderngl.Texture:
        texture = ctx.texture((self.size, self.size), 3, dtype="f2", alignment=1)
        texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        texture.repeat_x = texture.repeat_y = False  # clamp to edge: the image does not wrap
        return texture

    @property
    def prev(self) -> moderngl.Texture:
        """The older of the two frames (blend = 0)."""
        return self._textures[1 - self._next]

    @property
    def next(self) -> moderngl.Texture:
        """The newest frame (blend = 1)."""
        return self._textures[self._next]

    def push(self, frame: np.ndarray) -> None:
        """Upload a (size, size, 3) float16 sky frame (nits) as the new `next`.

        The first frame fills both textures, so blending is valid from the start.
        """
        if self.gpu_frames:
            raise RuntimeError("these sky textures take frames from CUDA (push_device)")
        expected = (self.size, self.size, 3)
        if frame.shape != expected or frame.dtype != np.float16:
            raise UserError(f"sky frame: expected float16 {expected}, got {frame.dtype} {frame.shape}")

        def fill(pbo: moderngl.Buffer) -> None:
            pbo.orphan()  # fresh storage: never wait for a transfer still reading the old one
            pbo.write(np.ascontiguousarray(frame))

        self._upload(fill)

    def push_device(self, write: Callable[[int], None]) -> None:
        """push() for a frame made on the GPU (gpu_frames): write(pointer) puts the (size, size, 3)
        float16 frame at a CUDA device pointer into the pixel buffer; it never visits the host."""
        if not self.gpu_frames:
            raise RuntimeError("these sky textures take frames from the host (push); see gpu_frames")

        def fill(pbo: moderngl.Buffer) -> None:
            with self._cuda[pbo.glo].mapped() as pointer:
                write(pointer)

        self._upload(fill)

    def _upload(self, fill: Callable[[moderngl.Buffer], None]) -> None:
        """fill() the next pixel buffer, have GL copy it into the older texture, swap roles."""
        self._next = 1 - self._next
        pbo = self._pbos[self._pushed % 2]
        fill(pbo)
        targets = self._textures if self._pushed == 0 else [self.next]
        for texture in targets:
            texture.write(pbo)
        self._pushed += 1

    def use(self, prev_unit: int, next_unit: int) -> None:
        """Bind prev and next to texture units."""
        self.prev.use(prev_unit)
        self.next.use(next_unit)

    def release(self) -> None:
        for registered in self._cuda.values():
            registered.release()
        for obj in (*self._textures, *self._pbos):
            obj.release()
