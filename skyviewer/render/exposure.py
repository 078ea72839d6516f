"""Exposure: measuring a sky frame's key on the GPU, and adapting to it over time like a camera.

The key (the luminance that lands on middle grey, see skyviewer.sky.tonemap) is the
log-average luminance of the sky image. It is measured once per uploaded model frame, not per
displayed frame; the dome interpolates the keys of its two frames geometrically with `blend`,
and AutoExposure follows that target with a time constant, driven by the frame time it is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import moderngl
import numpy as np

from skyviewer.render.context import Fence
from skyviewer.render.shaders import ShaderLibrary


class LogLuminanceMeter:
    """GPU log-average luminance of a canonical sky texture, over the pixels inside the horizon.

    luminance.frag sums ln(Y) over BLOCK x BLOCK tiles into a power-of-two texture (tiles beyond
    the frame cleared to zero sums of zero texels); its mip chain averages them down to one texel,
    whose two averages have the same ratio as the two sums: the log-average. That texel (8 bytes)
    is copied into one of two pixel buffers without waiting, and read when the key is first
    asked for (measure() returns the reading), so a new frame's upload never stalls the GL
    pipeline. It equals tonemap.auto_key_nits(sky, fisheye_mask(N)) for any N.
    """

    BLOCK = 8  # texels per tile side; must match luminance.frag

    def __init__(self, ctx: moderngl.Context, shaders: ShaderLibrary, size: int) -> None:
        self.ctx = ctx
        self.program = shaders.program("fullscreen.vert", "luminance.frag")
        self._tiles = -(-size // self.BLOCK)
        side = 1 << (self._tiles - 1).bit_length()
        self._top = side.bit_length() - 1
        self._sums = ctx.texture((side, side), 2, dtype="f4")
        self._sums.build_mipmaps(0, self._top)  # allocates the chain the reduction fills
        self.framebuffer = ctx.framebuffer(color_attachments=[self._sums])
        self.vao = ctx.vertex_array(self.program, [])
        self._readings = [ctx.buffer(reserve=8) for _ in range(2)]
        self._measured = 0

    def measure(self, sky: moderngl.Texture) -> KeyReading:
        """Start measuring the key (nits) of one sky texture; the reading waits for the GPU only
        when first read. A reading must be read before the measurement after next."""
        sky.use(0)
        self.program["sky"].value = 0
        self.framebuffer.use()
        self.framebuffer.viewport = (0, 0, *self._sums.size)
        self.framebuffer.clear()
        self.framebuffer.viewport = (0, 0, self._tiles, self._tiles)
        self.vao.render(moderngl.TRIANGLES, vertices=3)
        self._sums.build_mipmaps(0, self._top)
        buffer = self._readings[self._measured % 2]
        self._sums.read_into(buffer, level=self._top)
        self._measured += 1
        return KeyReading(Fence(self.ctx), buffer)

    def release(self) -> None:
        for obj in (self.vao, self.framebuffer, self._sums, *self._readings):
            obj.release()


class KeyReading:
    """A measured key on its way back from the GPU: nits() waits for it once, then remembers it."""

    def __init__(self, fence: Fence, buffer: moderngl.Buffer) -> None:
        self._fence, self._buffer, self._nits = fence, buffer, None

    def nits(self) -> float:
        if self._nits is None:
            self._fence.wait()  # with the GIL released; then the read only copies 8 bytes
            mean_log, mean_count = np.frombuffer(self._buffer.read(), np.float32).astype(np.float64)
            self._nits = math.exp(mean_log / max(mean_count, 1e-30))
        return self._nits


CALIBRATION_K = 12.5
"""Reflected-light meter calibration constant (ISO 2720, as most camera makers set it): a scene
whose average luminance is L nits meters at EV100 = log2(L * 100 / K)."""


def key_nits_at(ev100: float) -> float:
    """The average luminance (nits) of a scene that meters at EV100 = ev100."""
    return 2.0**ev100 * CALIBRATION_K / 100.0


@dataclass(frozen=True)
class AutoExposureConfig:
    """How fast auto-exposure follows the sky, in seconds of viewer time, and how far it may go."""

    brighten_seconds: float = 0.4
    """Time constant when the sky gets brighter (eyes and cameras adapt to light quickly)."""
    darken_seconds: float = 1.5
    """Time constant when the sky gets darker (dark adaptation is slower)."""
    min_ev100: float = 4.0
    """Darkest scene auto-exposure exposes for: EV100 4, an average of 2 nits, the sky with the
    sun about 7 deg down as civil twilight ends. Darker skies keep this exposure and fall dark:
    a 0.004-nit night (EV100 -5) is 9 stops under and renders black, while the glow over the
    horizon in early nautical twilight still shows. Unreal's Min EV100; a camera's slowest
    shutter at its highest ISO."""
    max_ev100: float = 17.0
    """Brightest scene it exposes for: EV100 17, an average of 16 400 nits, above any daylight
    sky (SkySim's average 3 000 - 8 000 nits, EV100 14.5 - 16): day is never clamped."""


class AutoExposure:
    """Exponential adaptation of the key in log space, like a camera's auto-exposure, within the
    config's EV100 range (manual exposure compensation on top of it is not bounded)."""

    def __init__(self, config: AutoExposureConfig = AutoExposureConfig()) -> None:
        self.config = config
        self._log_key: float | None = None
        self._log_range = tuple(math.log(key_nits_at(ev)) for ev in (config.min_ev100, config.max_ev100))

    @property
    def key_nits(self) -> float | None:
        """The current key, or None before the first update."""
        return None if self._log_key is None else math.exp(self._log_key)

    def update(self, target_key_nits: float, dt_seconds: float) -> float:
        """Move towards target_key_nits, clamped to the EV100 range, over dt_seconds of viewer
        time; returns the new key. The first update jumps straight to the (clamped) target.
        """
        lo, hi = self._log_range
        target = min(max(math.log(max(target_key_nits, 1e-12)), lo), hi)
        if self._log_key is None:
            self._log_key = target
        else:
            brighter = target > self._log_key
            tau = self.config.brighten_seconds if brighter else self.config.darken_seconds
            self._log_key += (target - self._log_key) * (1.0 - math.exp(-max(dt_seconds, 0.0) / tau))
        return math.exp(self._log_key)
