"""Image-based lighting from every sky frame, on the GPU (shaders/lighting_*.glsl).

Per pushed model frame (when it arrives, like the dome's upload) SkyLighting bakes:

1. reduce: the frame (any N) -> a map of at most env_size texels a side of the clean sky (the
   clamped disc capped at its glow), every frame texel read once;
2. SH: 9 RGB radiance coefficients of the environment (sky above, the dome's ground below) and
   the sun's visibility in the frame, read back (40 floats x 16 bands) and summed in float64;
3. cube: the environment on a cube map (level 0, the mirror reflection), its box mips, and a GGX
   prefiltered mip chain (roughness = level / (levels - 1)) in a second cube map.

Two bakes are kept, like the dome's two frames: at(blend) mixes the SH and the sun of the
previous and the newest frame, and a renderer mixes the two cube maps with the same blend.
The numpy reference is skyviewer/runtime/lighting.py (docs/rendering.md, "Lighting").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
from dataclasses import dataclass

import moderngl
import numpy as np

from skyviewer.errors import UserError
from skyviewer.render.context import finish
from skyviewer.render.shaders import ShaderLibrary
from skyviewer.runtime.lighting import (
    SH_COUNT,
    FrameLighting,
    LightingSettings,
    blend_lighting,
    sh_basis,
    sun_light,
)
from skyviewer.sky.radiance import ENCODING, SUN

SH_BANDS, SH_GRID = 16, 64  # = lighting_sh.frag's
GL_TEXTURE_CUBE_MAP = 0x8513
GL_TEXTURE_CUBE_MAP_POSITIVE_X = 0x8515
GL_TEXTURE_CUBE_MAP_SEAMLESS = 0x884F
GL_RGB, GL_FLOAT = 0x1907, 0x1406


@dataclass(frozen=True)
class LightingConfig:
    """Sizes of the bake (speed against detail)."""

    env_size: int = 128
    """Largest side of the reduced sky map (texels): frames up to this size are used as they are."""
    cube_size: int = 64
    """Texels per face side of the cube map's level 0 (the mirror reflection)."""
    cube_levels: int = 5
    """Mip levels of the prefiltered cube (64 px: 64, 32, 16, 8, 4; roughness 0, .25, .5, .75, 1)."""


@functools.cache
def _gl():
    """The GL entry points moderngl does not wrap (cube-map levels), from the process's GL
    library, as render/context.py's glFinish."""
    for name in ("OpenGL", "GL", "opengl32"):
        path = ctypes.util.find_library(name)
        if path is None:
            continue
        try:
            lib = ctypes.CDLL(path)
            lib.glCopyTexSubImage2D, lib.glBindTexture, lib.glGetTexImage  # noqa: B018 (must exist)
            return lib
        except (OSError, AttributeError):
            continue
    raise UserError("image-based lighting needs the OpenGL library (libOpenGL / libGL) for cube-map levels")


def _copy_to_cube(
    framebuffer: moderngl.Framebuffer, cube: moderngl.TextureCube, level: int, size: int
) -> None:
    """Copy the six faces drawn side by side at the bottom left of `framebuffer` into `level`."""
    gl = _gl()
    framebuffer.use()  # GL_FRAMEBUFFER: the read framebuffer too
    gl.glBindTexture(GL_TEXTURE_CUBE_MAP, cube.glo)
    for face in range(6):
        gl.glCopyTexSubImage2D(GL_TEXTURE_CUBE_MAP_POSITIVE_X + face, level, 0, 0, face * size, 0, size, size)
    gl.glBindTexture(GL_TEXTURE_CUBE_MAP, 0)


def read_cube_level(cube: moderngl.TextureCube, level: int, size: int) -> np.ndarray:
    """Faces (6, size, size, 3) float32 of one mip level, OpenGL face order, row = t (so pixel
    (row, col) looks along projection.cube_face_direction((col + .5) / size, (row + .5) / size))."""
    gl = _gl()
    out = np.empty((6, size, size, 3), np.float32)
    gl.glBindTexture(GL_TEXTURE_CUBE_MAP, cube.glo)
    for face in range(6):
        ptr = out[face].ctypes.data_as(ctypes.c_void_p)
        gl.glGetTexImage(GL_TEXTURE_CUBE_MAP_POSITIVE_X + face, level, GL_RGB, GL_FLOAT, ptr)
    gl.glBindTexture(GL_TEXTURE_CUBE_MAP, 0)
    return out


def _float_target(ctx, size, components=4):
    texture = ctx.texture(size, components, dtype="f4")
    texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
    texture.repeat_x = texture.repeat_y = False
    return texture, ctx.framebuffer(color_attachments=[texture])


class SkyLighting:
    """SH irradiance, sun light and a prefiltered radiance cube map of the two newest frames."""

    def __init__(
        self,
        ctx: moderngl.Context,
        sky_size: int,
        settings: LightingSettings | None = None,
        config: LightingConfig | None = None,
        shaders: ShaderLibrary | None = None,
    ) -> None:
        shaders = shaders or ShaderLibrary(ctx)
        settings, config = settings or LightingSettings(), config or LightingConfig()
        self.ctx, self.settings, self.config = ctx, settings, config
        self.block = max(1, -(-sky_size // config.env_size))
        self.env_size = -(-sky_size // self.block)
        self.reduce = shaders.program("fullscreen.vert", "lighting_reduce.frag")
        self.project = shaders.program("lighting.vert", "lighting_sh.frag")
        self.cube0 = shaders.program("lighting.vert", "lighting_cube.frag", {"PREFILTER": 0})
        self.prefilter = shaders.program("fullscreen.vert", "lighting_cube.frag", {"PREFILTER": 1})
        self._vaos = {
            p: ctx.vertex_array(p, []) for p in (self.reduce, self.project, self.cube0, self.prefilter)
        }
        self.env, self._env_fb = _float_target(ctx, (self.env_size, self.env_size))
        self.env.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        # The SH grid covers the upper hemisphere with SH_GRID / 2 cells across.
        self._sh_lod = max(0.0, math.log2(self.env_size / (SH_GRID / 2)))
        self._sh_tex, self._sh_fb = _float_target(ctx, (SH_COUNT + 1, SH_BANDS))
        size = config.cube_size
        self._faces = ctx.texture((6 * size, size), 4, dtype="f2")
        self._faces_fb = ctx.framebuffer(color_attachments=[self._faces])
        self.raw_cube = self._cube()
        self.cubes = [self._cube() for _ in range(2)]
        self._next = 0
        self._baked: list[FrameLighting] = []
        ctx.enable_direct(GL_TEXTURE_CUBE_MAP_SEAMLESS)

    def _cube(self) -> moderngl.TextureCube:
        cube = self.ctx.texture_cube((self.config.cube_size,) * 2, 4, dtype="f2")
        cube.build_mipmaps(0, self.config.cube_levels - 1)  # allocates the chain the bake fills
        cube.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        return cube

    # ------------------------------------------------------------------ results

    @property
    def ready(self) -> bool:
        return bool(self._baked)

    @property
    def prev_cube(self) -> moderngl.TextureCube:
        return self.cubes[1 - self._next]

    @property
    def next_cube(self) -> moderngl.TextureCube:
        return self.cubes[self._next]

    @property
    def newest(self) -> FrameLighting:
        """The lighting of the newest baked frame."""
        return self._baked[-1]

    @property
    def pair(self) -> tuple[FrameLighting, FrameLighting]:
        """The previous and the newest frame's lighting (one object twice after the first push),
        lit from prev_cube and next_cube: a new object with each push."""
        if not self._baked:
            raise RuntimeError("push() first")
        return self._baked[0], self._baked[-1]

    def at(self, blend: float) -> FrameLighting:
        """The lighting between the two baked frames (the dome's blend: 0 previous, 1 newest)."""
        if not self._baked:
            raise RuntimeError("push() first")
        return blend_lighting(self._baked[0], self._baked[-1], blend)

    def cube_faces(self, level: int = 0, newest: bool = True) -> np.ndarray:
        """A prefiltered level as a (6, S, S, 3) float32 array (read back; for hosts and files)."""
        if not 0 <= level < self.config.cube_levels:
            raise ValueError(f"level {level} outside 0..{self.config.cube_levels - 1}")
        cube = self.next_cube if newest else self.prev_cube
        return read_cube_level(cube, level, max(1, self.config.cube_size >> level))

    # ------------------------------------------------------------------ baking

    def push(self, sky: moderngl.Texture, sun_direction) -> FrameLighting:
        """Bake the lighting of a new frame (the texture the dome uploaded it to) as the newest;
        the first push fills both slots. Returns its lighting."""
        sun = np.asarray(sun_direction, np.float64)
        sun = sun / np.linalg.norm(sun)
        self._uniforms(sun)
        self._next = 1 - self._next if self._baked else self._next
        sky.use(0)
        self._draw(self.reduce, self._env_fb, {"sky": 0, "block": self.block})
        self.env.build_mipmaps()
        self.env.use(1)
        self._draw(self.project, self._sh_fb, {"env": 1, "sky": 0, "env_lod": self._sh_lod})
        lighting = self._read_sh(sun)
        for cube in self.cubes if not self._baked else [self.next_cube]:  # the first fills both
            self._bake_cube(cube)
        self._baked = [self._baked[-1] if self._baked else lighting, lighting]
        return lighting

    def _uniforms(self, sun: np.ndarray) -> None:
        s = self.settings
        values = {
            "sun_direction": tuple(sun),
            "sun_radius": math.radians(SUN.angular_radius_deg),
            "sky_clamp_nits": ENCODING.x_max,
            "sun_fade_stops": s.sun_fade_stops,
            "ground_albedo": tuple(s.ground_albedo),
            "haze_depth": math.radians(s.haze_depth_deg),
        }
        for program in self._vaos:
            for name, value in values.items():
                if name in program:
                    program[name].value = value

    def _draw(self, program, framebuffer, uniforms: dict, viewport=None) -> None:
        for name, value in uniforms.items():
            program[name].value = value
        framebuffer.use()
        framebuffer.viewport = viewport or (0, 0, *framebuffer.size)
        self.ctx.disable(moderngl.BLEND | moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        self._vaos[program].render(moderngl.TRIANGLES, vertices=3)

    def _read_sh(self, sun: np.ndarray) -> FrameLighting:
        finish(self.ctx)  # wait with the GIL released, as the exposure meter does
        raw = np.frombuffer(self._sh_fb.read(components=4, dtype="f4"), np.float32)
        cells = raw.reshape(SH_BANDS, SH_COUNT + 1, 4).astype(np.float64)
        sh = cells[:, :SH_COUNT, :3].sum(axis=0)
        visibility = float(cells[0, SH_COUNT, 0])
        ground = tuple(float(v) for v in self._ground(sh))
        return FrameLighting(sh, sun_light(sun, visibility, self.settings), ground)

    def _ground(self, sh: np.ndarray) -> np.ndarray:
        """The environment's radiance straight down, from the SH (for hosts: a ground colour)."""
        return sh_basis(np.array([0.0, -1.0, 0.0])) @ sh

    def _bake_cube(self, cube: moderngl.TextureCube) -> None:
        size = self.config.cube_size
        self.env.use(1)
        self._draw(
            self.cube0, self._faces_fb, {"env": 1, "face_size": size, "env_lod": 0.0}, (0, 0, 6 * size, size)
        )
        _copy_to_cube(self._faces_fb, self.raw_cube, 0, size)
        _copy_to_cube(self._faces_fb, cube, 0, size)
        self.raw_cube.build_mipmaps(0, self.config.cube_levels - 1)
        texel_solid_angle = 4.0 * math.pi / (6.0 * size * size)
        for level in range(1, self.config.cube_levels):
            level_size = max(1, size >> level)
            uniforms = {
                "radiance": 2,
                "face_size": level_size,
                "roughness": level / (self.config.cube_levels - 1),
                "texel_solid_angle": texel_solid_angle,
            }
            self.raw_cube.use(2)  # (again: the copies below bind cubes on the active unit)
            self._draw(self.prefilter, self._faces_fb, uniforms, (0, 0, 6 * level_size, level_size))
            _copy_to_cube(self._faces_fb, cube, level, level_size)

    def release(self) -> None:
        for obj in (*self._vaos.values(), self.env, self._env_fb, self._sh_tex, self._sh_fb):
            obj.release()
        for obj in (self._faces, self._faces_fb, self.raw_cube, *self.cubes):
            obj.release()
