"""Scaled rendering: draw at a fraction of the output's resolution, then stretch it over the output.

On a software rasteriser (Mesa's llvmpipe) the dome's cost is per pixel, so drawing it at
0.75 of the window's width and height is ~0.56 of the work; the bilinear upscale is one
texture fetch per pixel. The sky is smooth at the scale of a few pixels, so the loss is
small, and the HUD is drawn afterwards at full resolution, staying sharp.
"""

from __future__ import annotations

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


class ScaledRender:
    """An offscreen colour buffer `scale` times the output's size, and the pass that stretches it."""

    def __init__(self, ctx: moderngl.Context, shaders: ShaderLibrary, scale: float) -> None:
        if not 0.1 <= scale <= 1.0:
            raise ValueError(f"render scale must be in [0.1, 1], got {scale}")
        self.ctx, self.scale = ctx, scale
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
    target = output if scaled is None else scaled.target(output)
    render_with_scene(dome, target, view, scene, lighting)
    if scaled is not None:
        scaled.present(output)
