"""Look-dev scene under the sky (shaders/lookdev.*): a ground plane and five spheres from rough to
mirror, lit by SkyLighting, drawn over the dome in the same framebuffer.

The scene reads the dome's DomeParams block (binding 0: camera, exposure, dither, sun direction,
blend), so draw it right after DomeRenderer.render() with the same view:

    dome.render(fb, view); scene.render(fb, lighting, view.blend)
"""

from __future__ import annotations

import moderngl

from skyviewer.render.lighting import SkyLighting
from skyviewer.render.projections import Projection
from skyviewer.render.shaders import ShaderLibrary


class LookDevScene:
    """The ray-traced look-dev scene, for one of the dome's projections."""

    def __init__(
        self,
        ctx: moderngl.Context,
        shaders: ShaderLibrary | None = None,
        projection: Projection = Projection.PERSPECTIVE,
    ) -> None:
        shaders = shaders or ShaderLibrary(ctx)
        self.ctx = ctx
        self.program = shaders.program("lookdev.vert", "lookdev.frag", {"VIEW_PROJECTION": int(projection)})
        self.program["DomeParams"].binding = 0
        self.program["cube_prev"].value, self.program["cube_next"].value = 3, 4
        self.vao = ctx.vertex_array(self.program, [])

    def render(self, framebuffer: moderngl.Framebuffer, lighting: SkyLighting, blend: float) -> None:
        """Draw the scene over what the dome drew (the dome's DomeParams still bound)."""
        light = lighting.at(blend)
        self.program["sh"].write(light.sh.astype("f4").tobytes())
        self.program["sun_irradiance"].value = tuple(light.sun.irradiance)
        self.program["sun_visibility"].value = light.sun.visibility
        self.program["cube_levels"].value = float(lighting.config.cube_levels)
        lighting.prev_cube.use(3)
        lighting.next_cube.use(4)
        framebuffer.use()
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        self.vao.render(moderngl.TRIANGLES, vertices=3)
        self.ctx.disable(moderngl.BLEND)

    def release(self) -> None:
        self.vao.release()
