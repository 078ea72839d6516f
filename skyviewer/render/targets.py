"""Render targets: an offscreen framebuffer with numpy readback, and the window's framebuffer."""

from __future__ import annotations

import moderngl
import numpy as np

from skyviewer.errors import UserError


class OffscreenTarget:
    """A framebuffer of `size` = (width, height): an RGBA8 display attachment and, optionally,
    an RGBA32F attachment receiving linear radiance in nits (float32: the sun disc's 1.6e9 nits
    overflows float16), for EXR screenshots."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int], hdr: bool = True) -> None:
        self.size = size
        self._display = ctx.texture(size, 4)
        attachments = [self._display]
        self._radiance = ctx.texture(size, 4, dtype="f4") if hdr else None
        if self._radiance is not None:
            attachments.append(self._radiance)
        self.framebuffer = ctx.framebuffer(color_attachments=attachments)

    def read_display(self) -> np.ndarray:
        """The display image as uint8 (height, width, 3), row 0 at the top."""
        return read_display(self.framebuffer)

    def read_radiance(self) -> np.ndarray:
        """Linear radiance (nits) as float32 (height, width, 3), row 0 at the top."""
        if self._radiance is None:
            raise ValueError("OffscreenTarget was created with hdr=False")
        data = self.framebuffer.read(components=3, attachment=1, dtype="f4", alignment=1)
        return _rows_top_down(np.frombuffer(data, np.float32), self.size)

    def release(self) -> None:
        self.framebuffer.release()
        self._display.release()
        if self._radiance is not None:
            self._radiance.release()


def window_target(ctx: moderngl.Context) -> moderngl.Framebuffer:
    """The framebuffer of the window whose context is current (glfw's default framebuffer).

    Only location 0 (display) lands there; the radiance output is discarded.
    """
    return ctx.detect_framebuffer()


def read_display(framebuffer: moderngl.Framebuffer) -> np.ndarray:
    """The display colours of any framebuffer (offscreen or the window's) as uint8 (H, W, 3),
    row 0 at the top."""
    data = framebuffer.read(components=3, attachment=0, alignment=1)
    return _rows_top_down(np.frombuffer(data, np.uint8), framebuffer.size)


def parse_size(text: str) -> tuple[int, int]:
    """A render size from the command line: '1280x720' -> (1280, 720); at least 16 x 16."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 1280x720") from None
    if width < 16 or height < 16:
        raise UserError(f"--size {text!r}: at least 16x16")
    return width, height


def _rows_top_down(flat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    # GL reads rows bottom-up; images are top-down.
    width, height = size
    return flat.reshape(height, width, 3)[::-1].copy()
