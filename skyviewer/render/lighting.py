"""Image-based lighting from every sky frame, on the GPU (shaders/lighting_*.glsl).

Per pushed model frame (when it arrives, like the dome's upload) SkyLighting bakes:

1. reduce: the frame (any N) -> a map of at most env_size texels a side of the clean sky (the
   clamped disc capped at its glow), every frame texel read once;
2. SH: 9 RGB radiance coefficients of the environment (sky above, the dome's ground below) and
   the sun's visibility in the frame, copied (40 floats x 16 bands) into a GL buffer and summed
   in float64 when first asked for: push() only queues GL work, it never waits for it;
3. cube: the environment on a cube map (level 0, the mirror reflection), its box mips, and a GGX
   prefiltered mip chain (roughness = level / (levels - 1)) in a second cube map, a draw per level.

Two bakes are kept, like the dome's two frames: at(blend) mixes the SH and the sun of the
previous and the newest frame, and a renderer mixes the two cube maps with the same blend.
The numpy reference is skyviewer/runtime/lighting.py (docs/rendering.md, "Lighting").
"""

from __future__ import annotations

import contextlib
import ctypes
import math
from dataclasses import dataclass

import moderngl
import numpy as np

from skyviewer.errors import UserError
from skyviewer.render.context import Fence, gl_library
from skyviewer.render.shaders import ShaderLibrary
from skyviewer.runtime.lighting import (
    SH_COUNT,
    FrameLighting,
    LightingSettings,
    blend_lighting,
    match_up_irradiance,
    sh_basis,
    sun_light,
)
from skyviewer.sky.radiance import ENCODING, SUN

SH_BANDS, SH_GRID = 64, 64  # = lighting_sh.frag's
GL_TEXTURE0, GL_TEXTURE_CUBE_MAP = 0x84C0, 0x8513
GL_TEXTURE_CUBE_MAP_POSITIVE_X = 0x8515
GL_TEXTURE_CUBE_MAP_SEAMLESS = 0x884F
GL_RGB, GL_FLOAT, GL_RGBA16F = 0x1907, 0x1406, 0x881A
GL_FRAMEBUFFER, GL_FRAMEBUFFER_BINDING, GL_COLOR_ATTACHMENT0 = 0x8D40, 0x8CA6, 0x8CE0


@dataclass(frozen=True)
class LightingConfig:
    """Sizes of the bake (speed against detail)."""

    env_size: int = 128
    """Largest side of the reduced sky map (texels): frames up to this size are used as they are."""
    cube_size: int = 64
    """Texels per face side of the cube map's level 0 (the mirror reflection)."""
    cube_levels: int = 5
    """Mip levels of the prefiltered cube (64 px: 64, 32, 16, 8, 4; roughness 0, .25, .5, .75, 1)."""


def _gl() -> ctypes.CDLL:
    """The GL entry points moderngl does not wrap (cube-map levels, layered framebuffers)."""
    gl = gl_library()
    if gl is None:
        raise UserError(
            "image-based lighting needs the OpenGL library (libOpenGL / libGL) for cube-map levels"
        )
    return gl


def _level_framebuffer(
    ctx: moderngl.Context, *levels: tuple[moderngl.TextureCube, int]
) -> moderngl.Framebuffer:
    """A framebuffer drawing into all six faces (layer = face) of each (cube, mip level), which
    moderngl cannot attach: made through GL, then wrapped so that use() binds it, its draw
    buffers and its viewport."""
    gl, glo, bound = _gl(), ctypes.c_uint(0), ctypes.c_int(0)
    gl.glGetIntegerv(GL_FRAMEBUFFER_BINDING, ctypes.byref(bound))
    gl.glGenFramebuffers(1, ctypes.byref(glo))
    gl.glBindFramebuffer(GL_FRAMEBUFFER, glo)
    attachments = [GL_COLOR_ATTACHMENT0 + k for k in range(len(levels))]
    for attachment, (cube, level) in zip(attachments, levels, strict=True):
        gl.glFramebufferTexture(GL_FRAMEBUFFER, attachment, cube.glo, level)
    gl.glDrawBuffers(len(attachments), (ctypes.c_uint * len(attachments))(*attachments))
    framebuffer = ctx.detect_framebuffer(glo.value)
    ctx.error  # noqa: B018 (clears the error of detect_framebuffer's 2D size query on a cube map)
    gl.glBindFramebuffer(GL_FRAMEBUFFER, bound.value)  # what moderngl believes bound
    cube, level = levels[0]
    framebuffer.viewport = (0, 0, *(max(1, side >> level) for side in cube.size))
    return framebuffer


@contextlib.contextmanager
def _bound(cube: moderngl.TextureCube):
    """The GL library with `cube` bound on moderngl's own scratch unit, so that the units the
    passes sample keep what was bound to them."""
    gl = _gl()
    gl.glActiveTexture(GL_TEXTURE0 + cube.ctx.default_texture_unit)
    gl.glBindTexture(GL_TEXTURE_CUBE_MAP, cube.glo)
    yield gl
    gl.glBindTexture(GL_TEXTURE_CUBE_MAP, 0)


def _immutable_storage(cube: moderngl.TextureCube, levels: int) -> None:
    """Give `cube` immutable storage of `levels` mips (glTexStorage2D): NVIDIA's driver (580) reads
    the faces of a cube allocated face by face, as moderngl does, stale after a layered draw."""
    with _bound(cube) as gl:
        gl.glTexStorage2D(GL_TEXTURE_CUBE_MAP, levels, GL_RGBA16F, *cube.size)


def _copy_to_cube(framebuffer: moderngl.Framebuffer, cube: moderngl.TextureCube, level: int) -> None:
    """Copy the six faces drawn side by side at the bottom left of `framebuffer` into `level`."""
    size = max(1, cube.size[0] >> level)
    framebuffer.use()  # GL_FRAMEBUFFER: the read framebuffer too
    with _bound(cube) as gl:
        for face in range(6):
            gl.glCopyTexSubImage2D(
                GL_TEXTURE_CUBE_MAP_POSITIVE_X + face, level, 0, 0, face * size, 0, size, size
            )


def read_cube_level(cube: moderngl.TextureCube, level: int, size: int) -> np.ndarray:
    """Faces (6, size, size, 3) float32 of one mip level, OpenGL face order, row = t (so pixel
    (row, col) looks along projection.cube_face_direction((col + .5) / size, (row + .5) / size))."""
    out = np.empty((6, size, size, 3), np.float32)
    with _bound(cube) as gl:
        for face in range(6):
            ptr = out[face].ctypes.data_as(ctypes.c_void_p)
            gl.glGetTexImage(GL_TEXTURE_CUBE_MAP_POSITIVE_X + face, level, GL_RGB, GL_FLOAT, ptr)
    return out


def _float_target(ctx, size, components=4):
    texture = ctx.texture(size, components, dtype="f4")
    texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
    texture.repeat_x = texture.repeat_y = False
    return texture, ctx.framebuffer(color_attachments=[texture])


def _cube_level_program(shaders: ShaderLibrary, level: int, layered: bool) -> moderngl.Program:
    """lighting_cube.frag for one level: the environment at level 0 (its ground from lighting.vert,
    or from the geometry stage that routes a layered draw's triangle to each face), GGX above."""
    stages = {"vertex_shader": "lighting.vert" if level == 0 and not layered else "fullscreen.vert"}
    stages |= {"geometry_shader": "lighting_cube.geom"} if layered else {}
    stages |= {"fragment_shader": "lighting_cube.frag"}
    return shaders.build(stages, {"PREFILTER": int(level > 0), "LAYERED": int(layered)})


class _LayeredLevels:
    """Each cube level drawn by one draw straight into its six faces (lighting_cube.geom sends the
    triangle to each face's layer), level 0 into the unfiltered cube's too (a second colour
    attachment): the fewest calls per bake, for GPUs."""

    def __init__(self, shaders: ShaderLibrary, config: LightingConfig, raw_cube, cubes) -> None:
        self.programs = [_cube_level_program(shaders, k, layered=True) for k in range(config.cube_levels)]
        ctx = shaders.ctx
        self._framebuffers = {
            cube: [_level_framebuffer(ctx, (cube, 0), (raw_cube, 0))]
            + [_level_framebuffer(ctx, (cube, k)) for k in range(1, config.cube_levels)]
            for cube in cubes
        }

    def framebuffer(self, cube: moderngl.TextureCube, level: int) -> moderngl.Framebuffer:
        return self._framebuffers[cube][level]

    def copy(self, cube: moderngl.TextureCube, level: int) -> None:
        """Nothing to copy: drawn in place."""

    def release(self) -> None:
        for framebuffers in self._framebuffers.values():
            for framebuffer in framebuffers:
                framebuffer.release()


class _RowLevels:
    """Each cube level's six faces drawn side by side in a row, then copied into the cube (level 0
    into the unfiltered cube's too): for software GL, which rasterises the six layers of a layered
    draw in one thread (they share its tiles) but spreads a row over its threads."""

    def __init__(self, shaders: ShaderLibrary, config: LightingConfig, raw_cube, cubes) -> None:
        self.programs = [_cube_level_program(shaders, k, layered=False) for k in range(config.cube_levels)]
        size, self._raw_cube = config.cube_size, raw_cube
        self._faces = shaders.ctx.texture((6 * size, size), 4, dtype="f2")
        self._framebuffers = []
        for level in range(config.cube_levels):
            framebuffer = shaders.ctx.framebuffer(color_attachments=[self._faces])
            framebuffer.viewport = (0, 0, 6 * max(1, size >> level), max(1, size >> level))
            self._framebuffers.append(framebuffer)

    def framebuffer(self, cube: moderngl.TextureCube, level: int) -> moderngl.Framebuffer:
        return self._framebuffers[level]

    def copy(self, cube: moderngl.TextureCube, level: int) -> None:
        for target in (cube, self._raw_cube) if level == 0 else (cube,):
            _copy_to_cube(self._framebuffers[level], target, level)

    def release(self) -> None:
        for obj in (*self._framebuffers, self._faces):
            obj.release()


class _ShReadback:
    """The SH pass's sums copied into a GL buffer (no wait), read and summed in float64 the first
    time the lighting is asked for, after a fence: the bake never stalls the pipeline, and the
    read waits with the GIL released, for the SH pass only."""

    def __init__(self, ctx: moderngl.Context, settings: LightingSettings) -> None:
        self.ctx, self.settings = ctx, settings
        self.buffer = ctx.buffer(reserve=SH_BANDS * (SH_COUNT + 1) * 4 * 4)
        self._sun, self._fence, self._lighting = None, None, None

    def start(self, framebuffer: moderngl.Framebuffer, sun: np.ndarray) -> None:
        self._drop_fence()
        framebuffer.read_into(self.buffer, components=4, dtype="f4")
        self._sun, self._fence, self._lighting = sun, Fence(self.ctx), None

    @property
    def lighting(self) -> FrameLighting:
        if self._lighting is None:
            self._drop_fence()
            raw = np.frombuffer(self.buffer.read(), np.float32)
            cells = raw.reshape(SH_BANDS, SH_COUNT + 1, 4).astype(np.float64)
            sh = match_up_irradiance(cells[:, :SH_COUNT, :3].sum(axis=0), cells[:, SH_COUNT, 1:].sum(axis=0))
            visibility = float(cells[0, SH_COUNT, 0])
            ground = tuple(float(v) for v in _ground(sh))
            self._lighting = FrameLighting(sh, sun_light(self._sun, visibility, self.settings), ground)
        return self._lighting

    def _drop_fence(self) -> None:
        """Wait for the fence, which frees it: a bake never read waits here only two pushes on,
        when the GPU is long past it."""
        if self._fence is not None:
            self._fence.wait()
            self._fence = None

    def release(self) -> None:
        self._drop_fence()
        self.buffer.release()


def _ground(sh: np.ndarray) -> np.ndarray:
    """The environment's radiance straight down, from the SH (for hosts: a ground colour)."""
    return sh_basis(np.array([0.0, -1.0, 0.0])) @ sh


class SkyLighting:
    """SH irradiance, sun light and a prefiltered radiance cube map of the two newest frames."""

    def __init__(
        self,
        ctx: moderngl.Context,
        sky_size: int,
        settings: LightingSettings | None = None,
        config: LightingConfig | None = None,
        shaders: ShaderLibrary | None = None,
        layered: bool | None = None,
    ) -> None:
        """layered: draw each cube level straight into its faces (_LayeredLevels, which needs
        immutable texture storage: GL 4.2 or ARB_texture_storage) or as a row of faces then
        copied (_RowLevels); by default layered where it can be, but on software GL."""
        from skyviewer.render.upscale import software_gl  # (upscale -> scene -> this module)

        shaders = shaders or ShaderLibrary(ctx)
        settings, config = settings or LightingSettings(), config or LightingConfig()
        self.ctx, self.settings, self.config = ctx, settings, config
        self.block = max(1, -(-sky_size // config.env_size))
        self.env_size = -(-sky_size // self.block)
        self.env, self._env_fb = _float_target(ctx, (self.env_size, self.env_size))
        self.env.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        self._sh_tex, self._sh_fb = _float_target(ctx, (SH_COUNT + 1, SH_BANDS))
        if layered is None:
            layered = not software_gl(ctx) and (
                ctx.version_code >= 420 or "GL_ARB_texture_storage" in ctx.extensions
            )
        self.raw_cube = self._cube(layered)
        self.cubes = [self._cube(layered) for _ in range(2)]
        self._levels = (_LayeredLevels if layered else _RowLevels)(shaders, config, self.raw_cube, self.cubes)
        self._readbacks = [_ShReadback(ctx, settings) for _ in self.cubes]  # one per slot, as the cubes
        self._next = 0
        self._baked: list[_ShReadback] = []
        self._programs(shaders)
        ctx.enable_direct(GL_TEXTURE_CUBE_MAP_SEAMLESS)

    def _cube(self, layered: bool) -> moderngl.TextureCube:
        """A cube map with the mip chain the bake fills (immutable where drawn layered)."""
        cube = self.ctx.texture_cube((self.config.cube_size,) * 2, 4, dtype="f2")
        if layered:
            _immutable_storage(cube, self.config.cube_levels)
        else:
            cube.build_mipmaps(0, self.config.cube_levels - 1)
        cube.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        return cube

    def _programs(self, shaders: ShaderLibrary) -> None:
        """The passes' programs with every uniform but the sun's set once: per push only the sun
        changes (each cube level has a program of its own, so none is set between levels)."""
        fullscreen, lit = {"vertex_shader": "fullscreen.vert"}, {"vertex_shader": "lighting.vert"}
        # The bake's own programs (ShaderLibrary.build), not the library's shared ones: a second bake
        # of another size sharing them would overwrite the uniforms set here once.
        self.reduce = shaders.build(fullscreen | {"fragment_shader": "lighting_reduce.frag"})
        self.project = shaders.build(lit | {"fragment_shader": "lighting_sh.frag"})
        s, size = self.settings, self.config.cube_size
        shared = {
            "sun_radius": math.radians(SUN.angular_radius_deg),
            "sky_clamp_nits": ENCODING.x_max,
            "sun_fade_stops": s.sun_fade_stops,
            "ground_albedo": tuple(s.ground_albedo),
            "haze_depth": math.radians(s.haze_depth_deg),
            "texel_solid_angle": 4.0 * math.pi / (6.0 * size * size),
        }
        own = {
            self.reduce: {"sky": 0, "block": self.block},
            # The SH grid covers the upper hemisphere with SH_GRID / 2 cells across.
            self.project: {"env": 1, "sky": 0, "env_lod": max(0.0, math.log2(self.env_size / (SH_GRID / 2)))},
        }
        for level, program in enumerate(self._levels.programs):
            roughness = level / (self.config.cube_levels - 1)
            own[program] = {
                "env": 1,
                "env_lod": 0.0,
                "radiance": 2,
                "roughness": roughness,
                "face_size": max(1, size >> level),
            }
        for program, values in own.items():
            for name, value in (shared | values).items():
                if name in program:
                    program[name].value = value
        self._sun_uniforms = [p["sun_direction"] for p in own if "sun_direction" in p]
        self._vaos = {program: self.ctx.vertex_array(program, []) for program in own}

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
        """The lighting of the newest baked frame (read back the first time it is asked for)."""
        return self.pair[1]

    @property
    def pair(self) -> tuple[FrameLighting, FrameLighting]:
        """The previous and the newest frame's lighting (one object twice after the first push),
        lit from prev_cube and next_cube: a new object with each push."""
        if not self._baked:
            raise RuntimeError("push() first")
        return self._baked[0].lighting, self._baked[-1].lighting

    def at(self, blend: float) -> FrameLighting:
        """The lighting between the two baked frames (the dome's blend: 0 previous, 1 newest)."""
        return blend_lighting(*self.pair, blend)

    def cube_faces(self, level: int = 0, newest: bool = True) -> np.ndarray:
        """A prefiltered level as a (6, S, S, 3) float32 array (read back; for hosts and files)."""
        if not 0 <= level < self.config.cube_levels:
            raise ValueError(f"level {level} outside 0..{self.config.cube_levels - 1}")
        cube = self.next_cube if newest else self.prev_cube
        return read_cube_level(cube, level, max(1, self.config.cube_size >> level))

    # ------------------------------------------------------------------ baking

    def push(self, sky: moderngl.Texture, sun_direction) -> None:
        """Bake the lighting of a new frame (the texture the dome uploaded it to) as the newest;
        the first push fills both slots. It only queues GL work: `newest`, `pair` and `at` read
        the SH back when first asked for."""
        sun = np.asarray(sun_direction, np.float64)
        sun = sun / np.linalg.norm(sun)
        for uniform in self._sun_uniforms:
            uniform.value = tuple(sun)
        first = not self._baked
        self._next = self._next if first else 1 - self._next
        self.ctx.disable(moderngl.BLEND | moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        sky.use(0)
        self._draw(self.reduce, self._env_fb)
        self.env.build_mipmaps()
        self.env.use(1)
        self._draw(self.project, self._sh_fb)
        readback = self._readbacks[self._next]
        readback.start(self._sh_fb, sun)
        for cube in self.cubes if first else [self.next_cube]:  # the first fills both
            self._bake_cube(cube)
        self._baked = [readback if first else self._baked[-1], readback]

    def _draw(self, program: moderngl.Program, framebuffer: moderngl.Framebuffer) -> None:
        framebuffer.use()
        self._vaos[program].render(moderngl.TRIANGLES, vertices=3)

    def _bake_cube(self, cube: moderngl.TextureCube) -> None:
        """Level 0, the environment, also into the unfiltered cube; that cube's box mips; the
        GGX levels, which sample them."""
        self._bake_level(cube, 0)
        self.raw_cube.build_mipmaps(0, self.config.cube_levels - 1)
        self.raw_cube.use(2)
        for level in range(1, self.config.cube_levels):
            self._bake_level(cube, level)

    def _bake_level(self, cube: moderngl.TextureCube, level: int) -> None:
        self._draw(self._levels.programs[level], self._levels.framebuffer(cube, level))
        self._levels.copy(cube, level)

    def release(self) -> None:
        for obj in (*self._vaos, *self._vaos.values(), self.env, self._env_fb, self._sh_tex, self._sh_fb):
            obj.release()
        for obj in (self._levels, *self._readbacks, self.raw_cube, *self.cubes):
            obj.release()
