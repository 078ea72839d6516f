"""Look-dev scene under the sky (shaders/lookdev.*): a ground plane and five spheres from rough to
mirror, lit by SkyLighting, drawn over the dome in the same framebuffer.

The scene reads the dome's DomeParams block (binding 0: camera, exposure, dither, sun direction,
blend), so draw it right after DomeRenderer.render() with the same view; render_with_scene() does
both, each scissored to the rows where it shows:

* the whole scene lies below the horizon (the spheres' tops are under the eye), so it is drawn
  only in rows where some view ray points down;
* the ground is opaque out to GROUND_OPAQUE_M, so the dome is drawn only in rows where some ray
  rises above that distance's depression (within a degree of the horizon).

On a software rasteriser every pixel costs, and the scene's shading is the most expensive pass
there is; looking at the horizon, most of the frame is sky.
"""

from __future__ import annotations

import math

import moderngl

from skyviewer.render.dome import DomeRenderer, DomeView, draw_in, rows_box
from skyviewer.render.lighting import SkyLighting
from skyviewer.render.projections import Projection, rows_seeing
from skyviewer.render.shaders import ShaderLibrary

EYE_HEIGHT_M = 1.5
"""The camera's height above the ground plane."""
GROUND_OPAQUE_M = 100.0
"""Horizontal distance out to which the ground is opaque; it fades into the dome's own ground
by 4x this (lookdev.frag)."""
GROUND_OPAQUE_SINE = math.sin(math.atan2(EYE_HEIGHT_M, GROUND_OPAQUE_M))
"""Elevation sine (negative) below which every view ray meets opaque ground."""


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
        self.projection = Projection(projection)
        defines = {
            "VIEW_PROJECTION": int(projection),
            "EYE_HEIGHT_M": EYE_HEIGHT_M,
            "GROUND_OPAQUE_M": GROUND_OPAQUE_M,
        }
        self.program = shaders.program("lookdev.vert", "lookdev.frag", defines)
        self.program["DomeParams"].binding = 0
        self.program["cube_prev"].value, self.program["cube_next"].value = 3, 4
        self.vao = ctx.vertex_array(self.program, [])

    def sky_rows(self, view: DomeView, size: tuple[int, int]) -> tuple[int, int]:
        """The rows (first, count; GL order) where the dome still shows past the scene."""
        return rows_seeing(view.camera, self.projection, size, min_sine=-GROUND_OPAQUE_SINE)

    def render(self, framebuffer: moderngl.Framebuffer, lighting: SkyLighting, view: DomeView) -> None:
        """Draw the scene over what the dome drew (the dome's DomeParams still bound)."""
        light = lighting.at(view.blend)
        self.program["sh"].write(light.sh.astype("f4").tobytes())
        self.program["sun_irradiance"].value = tuple(light.sun.irradiance)
        self.program["sun_visibility"].value = light.sun.visibility
        self.program["cube_levels"].value = float(lighting.config.cube_levels)
        lighting.prev_cube.use(3)
        lighting.next_cube.use(4)
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        below_horizon = rows_seeing(view.camera, self.projection, framebuffer.size, max_sine=0.0)
        draw_in(framebuffer, rows_box(framebuffer, below_horizon), self._draw)
        self.ctx.disable(moderngl.BLEND)

    def _draw(self) -> None:
        self.vao.render(moderngl.TRIANGLES, vertices=3)

    def release(self) -> None:
        self.vao.release()


def render_with_scene(
    dome: DomeRenderer,
    framebuffer: moderngl.Framebuffer,
    view: DomeView,
    scene: LookDevScene | None = None,
    lighting: SkyLighting | None = None,
) -> None:
    """The dome for `view`, and the scene over it when given (lit by `lighting`)."""
    if scene is None:
        dome.render(framebuffer, view)
        return
    dome.render(framebuffer, view, scene.sky_rows(view, framebuffer.size))
    scene.render(framebuffer, lighting, view)
