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

While the camera holds still, the scene is not shaded per frame: its linear radiance lit by each
of the two baked frames (SkyLighting.pair) is kept for that camera and size, and a frame mixes
the two by the dome's blend and tone-maps them (lookdev_composite.frag: ~4x cheaper on llvmpipe).
Only a new bake is shaded, once. A moving camera shades the scene with the blended lighting
every frame instead, as the cache would need both bakes shaded then. The two differ only in the
sun's term, which is not linear in the sun's direction and visibility: between frames 20 sky
seconds apart the sun moves 0.08 deg, and a cloud passing the sun cross-fades the shadows'
softness rather than interpolating it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import moderngl

from skyviewer.render.dome import Box, DomeRenderer, DomeView, draw_in, rows_box
from skyviewer.render.lighting import SkyLighting
from skyviewer.render.projections import Projection, rows_seeing
from skyviewer.render.shaders import ShaderLibrary
from skyviewer.runtime.lighting import FrameLighting

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
        shading = [
            shaders.program("lookdev.vert", "lookdev.frag", defines | {"LOOKDEV_RADIANCE": k}) for k in (0, 1)
        ]
        self.program, self.radiance_program = shading  # display + radiance; radiance alone (the cache's)
        self.composite = shaders.program("fullscreen.vert", "lookdev_composite.frag")
        for program in (*shading, self.composite):
            program["DomeParams"].binding = 0
        for program in shading:
            program["cube_prev"].value, program["cube_next"].value = 3, 4
        self.composite["scene_prev"].value, self.composite["scene_next"].value = 5, 6
        self._vaos = {program: ctx.vertex_array(program, []) for program in (*shading, self.composite)}
        self.cache = SceneCache(ctx)
        self._held: tuple | None = None  # the camera and size of the last frame

    def sky_rows(self, view: DomeView, size: tuple[int, int]) -> tuple[int, int]:
        """The rows (first, count; GL order) where the dome still shows past the scene."""
        return rows_seeing(view.camera, self.projection, size, min_sine=-GROUND_OPAQUE_SINE)

    def render(self, framebuffer: moderngl.Framebuffer, lighting: SkyLighting, view: DomeView) -> None:
        """Draw the scene over what the dome drew (the dome's DomeParams still bound): from the
        cache when the camera and size are those of the last frame, else shaded."""
        below_horizon = rows_seeing(view.camera, self.projection, framebuffer.size, max_sine=0.0)
        rows = rows_box(framebuffer, below_horizon)
        seen_from = (view.camera, framebuffer.size)
        held, self._held = seen_from == self._held, seen_from
        if held:
            self._fill_cache(lighting, framebuffer.size, rows)
        else:
            self.cache.forget()
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        if held:
            self.cache.texture(lighting.pair[0]).use(5)
            self.cache.texture(lighting.pair[1]).use(6)
            self._draw(self.composite, framebuffer, rows)
        else:
            light = lighting.at(view.blend)
            self._shade(self.program, framebuffer, rows, lighting, light, view.blend, view.sun_direction)
        self.ctx.disable(moderngl.BLEND)

    def _fill_cache(self, lighting: SkyLighting, size: tuple[int, int], rows: Box) -> None:
        """Shade the scene for each baked frame the cache lacks (blending off: a target holds the
        radiance and coverage as shaded), in the target of one it no longer needs."""
        for k, light in enumerate(lighting.pair):
            if self.cache.slot_of(light) is None:
                target = self.cache.claim(light, size, keep=lighting.pair)
                self._shade(self.radiance_program, target, rows, lighting, light, cube_blend=float(k))

    def _shade(
        self,
        program: moderngl.Program,
        framebuffer: moderngl.Framebuffer,
        rows: Box,
        lighting: SkyLighting,
        light: FrameLighting,
        cube_blend: float,
        sun_direction=None,
    ) -> None:
        """Shade the scene in `rows` lit by `light`, its reflections from the cubes mixed by
        cube_blend, its sun towards sun_direction (default: the one `light` was baked for)."""
        program["sh"].write(light.sh.astype("f4").tobytes())
        program["sun_irradiance"].value = tuple(light.sun.irradiance)
        program["sun_visibility"].value = light.sun.visibility
        program["light_direction"].value = tuple(sun_direction or light.sun.direction)
        program["cube_blend"].value = cube_blend
        program["cube_levels"].value = float(lighting.config.cube_levels)
        lighting.prev_cube.use(3)
        lighting.next_cube.use(4)
        self._draw(program, framebuffer, rows)

    def _draw(self, program: moderngl.Program, framebuffer: moderngl.Framebuffer, rows: Box) -> None:
        draw_in(framebuffer, rows, lambda: self._vaos[program].render(moderngl.TRIANGLES, vertices=3))

    def release(self) -> None:
        self.cache.release()
        for vao in self._vaos.values():
            vao.release()


@dataclass
class _Slot:
    light: FrameLighting | None  # the baked frame it holds the scene lit by; None: nothing valid
    texture: moderngl.Texture
    framebuffer: moderngl.Framebuffer


class SceneCache:
    """Two float targets holding the scene's linear radiance and coverage (RGBA32F: the mirror's
    sun highlight overflows float16), each lit by one baked frame, for one camera and size."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self._slots: list[_Slot] = []

    def slot_of(self, light: FrameLighting) -> _Slot | None:
        return next((slot for slot in self._slots if slot.light is light), None)

    def texture(self, light: FrameLighting) -> moderngl.Texture:
        return self.slot_of(light).texture

    def claim(self, light: FrameLighting, size: tuple[int, int], keep) -> moderngl.Framebuffer:
        """A cleared target for `light`, in a slot holding none of the lights in `keep`."""
        if not self._slots or self._slots[0].texture.size != size:
            self.release()
            for _ in range(2):
                texture = self.ctx.texture(size, 4, dtype="f4")
                self._slots.append(_Slot(None, texture, self.ctx.framebuffer(color_attachments=[texture])))
        slot = next(slot for slot in self._slots if not any(slot.light is k for k in keep))
        slot.light = light
        slot.framebuffer.clear(0.0, 0.0, 0.0, 0.0)
        return slot.framebuffer

    def forget(self) -> None:
        """The camera moved: nothing held is valid."""
        for slot in self._slots:
            slot.light = None

    def release(self) -> None:
        for slot in self._slots:
            slot.framebuffer.release()
            slot.texture.release()
        self._slots = []


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
