"""Scaled rendering: draw at a fraction of the output's resolution, then stretch it over the output.

On a software rasteriser (Mesa's llvmpipe) the dome's cost is per pixel, so drawing it at
0.75 of the window's width and height is ~0.56 of the work; the bilinear upscale is one
texture fetch per pixel. The sky is smooth at the scale of a few pixels, so the loss is
small, and the HUD is drawn afterwards at full resolution, staying sharp.

The viewer's `auto` scale is dynamic there (DynamicScale): it starts at AUTO_SCALE_SOFTWARE and
follows the measured draw time, as games' dynamic resolution does, so a heavier view (the look-dev
scene filling the frame) keeps its frame rate at a softer image instead of dropping frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import moderngl

from skyviewer.render.scene import render_with_scene
from skyviewer.render.shaders import ShaderLibrary

SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "software")
AUTO_SCALE_SOFTWARE = 0.75
"""Render scale `auto` picks on a software rasteriser (1.0 on a GPU)."""


def software_gl(ctx: moderngl.Context) -> bool:
    """Whether the context renders on the CPU (Mesa's llvmpipe and the like)."""
    renderer = ctx.info.get("GL_RENDERER", "").lower()
    return any(name in renderer for name in SOFTWARE_RENDERERS)


def auto_render_scale(ctx: moderngl.Context) -> float:
    """AUTO_SCALE_SOFTWARE on a software rasteriser, else 1.0."""
    return AUTO_SCALE_SOFTWARE if software_gl(ctx) else 1.0


@dataclass(frozen=True)
class DynamicScaleConfig:
    """How DynamicScale follows the draw time."""

    target_fps: float = 60.0
    """Frame rate to hold: the draw-time budget is 1 / target_fps."""
    min_scale: float = 0.5
    """Never softer than this (half the window's width and height)."""
    max_scale: float = 1.0
    """Never more than the window's resolution."""
    step: float = 0.05
    """Scales are multiples of this, so the offscreen buffer is re-made only when one is crossed."""
    window_frames: int = 30
    """Frames whose draw time is averaged before each decision (half a second at 60 fps)..."""
    window_s: float = 0.5
    """...or fewer, once their draw time adds up to this (a slow frame rate reacts as fast)."""
    headroom: float = 0.95
    """Step up only when the mean draw time, grown by the pixels of one more step ((s + step)^2 /
    s^2, as if every millisecond were per pixel), stays under this fraction of the budget: the
    next window is then inside the budget too (no oscillation)."""
    max_steps_down: int = 2
    """At most this many steps down per window: a window that caught a one-off stall (a shader
    compile, the first lighting bake) costs a little sharpness for a second, not half of it."""


class DynamicScale:
    """A render scale that holds a frame rate: fed the draw time of each frame (its GL work
    finished), it steps down as far as the time over budget asks (pixels cost ~scale^2) and up
    one step at a time while there is headroom."""

    def __init__(self, start: float, config: DynamicScaleConfig = DynamicScaleConfig()) -> None:
        self.config = config
        self._lowest = math.ceil(config.min_scale / config.step - 1e-6)
        self._highest = math.floor(config.max_scale / config.step + 1e-6)
        self._steps = self._bounded(math.floor(start / config.step + 1e-6))
        self._spent, self._frames = 0.0, 0

    @property
    def scale(self) -> float:
        return round(self._steps * self.config.step, 6)

    def _bounded(self, steps: int) -> int:
        return min(max(steps, self._lowest), self._highest)

    def update(self, draw_seconds: float) -> float:
        """One frame's draw time; returns the scale to draw the next frame at."""
        self._spent += draw_seconds
        self._frames += 1
        if self._frames < self.config.window_frames and self._spent < self.config.window_s:
            return self.scale
        mean, budget = self._spent / self._frames, 1.0 / self.config.target_fps
        self._spent, self._frames = 0.0, 0
        if mean > budget:
            as_asked = math.floor(self._steps * math.sqrt(budget / mean))  # pixels cost ~ scale^2
            down = min(max(self._steps - as_asked, 1), self.config.max_steps_down)
            self._steps = self._bounded(self._steps - down)
        elif mean * ((self._steps + 1) / self._steps) ** 2 < self.config.headroom * budget:
            self._steps = self._bounded(self._steps + 1)
        return self.scale


class ScaledRender:
    """An offscreen colour buffer `scale` times the output's size, and the pass that stretches it."""

    def __init__(self, ctx: moderngl.Context, shaders: ShaderLibrary, scale: float) -> None:
        if not 0.1 <= scale <= 1.0:
            raise ValueError(f"render scale must be in [0.1, 1], got {scale}")
        self.ctx, self.scale = ctx, scale
        """Fraction of the output's width and height drawn; may change between frames."""
        self.program = shaders.program("fullscreen.vert", "upscale.frag")
        self.program["image"].value = 0
        self.vao = ctx.vertex_array(self.program, [])
        self._texture: moderngl.Texture | None = None
        self._framebuffer: moderngl.Framebuffer | None = None

    def target(self, output: moderngl.Framebuffer) -> moderngl.Framebuffer:
        """The framebuffer to draw into for `output` (re-made when the output's size changes)."""
        size = tuple(max(1, round(side * self.scale)) for side in output.size)
        if self._texture is None or self._texture.size != size:
            self._release_buffers()
            self._texture = self.ctx.texture(size, 4)
            self._texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
            self._texture.repeat_x = self._texture.repeat_y = False
            self._framebuffer = self.ctx.framebuffer(color_attachments=[self._texture])
        return self._framebuffer

    def present(self, output: moderngl.Framebuffer) -> None:
        """Stretch what was drawn into target(output) over all of `output`."""
        output.use()
        self.ctx.disable(moderngl.BLEND)
        self._texture.use(0)
        self.program["output_size"].value = tuple(float(side) for side in output.size)
        self.vao.render(moderngl.TRIANGLES, vertices=3)

    def _release_buffers(self) -> None:
        for obj in (self._framebuffer, self._texture):
            if obj is not None:
                obj.release()

    def release(self) -> None:
        self._release_buffers()
        self.vao.release()


def render_dome(
    dome, output: moderngl.Framebuffer, view, scaled: ScaledRender | None, scene=None, lighting=None
) -> None:
    """Draw `dome` (a DomeRenderer) for `view` into `output`, through `scaled` when given, with
    the look-dev `scene` (lit by `lighting`) over it when given (scene.render_with_scene)."""
    if scaled is not None and scaled.scale >= 1.0:
        scaled = None  # a dynamic scale at the window's size: no buffer and stretch to pay for
    target = output if scaled is None else scaled.target(output)
    render_with_scene(dome, target, view, scene, lighting)
    if scaled is not None:
        scaled.present(output)
