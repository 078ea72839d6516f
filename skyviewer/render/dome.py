"""The sky dome: warps the canonical fisheye sky over the viewer's sky (skyviewer/shaders/dome.*).

Per displayed frame the host calls render() with a DomeView (camera, sun, exposure key, blend,
frame index: everything time-dependent is passed in, so recordings are deterministic); per
model step it calls push_frame() with the model's new (N, N, 3) float16 frame.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import moderngl
import numpy as np

from skyviewer.render.camera import Camera, project_ndc
from skyviewer.render.exposure import KeyReading, LogLuminanceMeter
from skyviewer.render.projections import CubeFaceCamera, PanoramaCamera, Projection
from skyviewer.render.shaders import SHADER_DIR, ShaderLibrary
from skyviewer.render.textures import SkyTextures
from skyviewer.sky.radiance import ENCODING, SUN
from skyviewer.sky.tonemap import MIDDLE_GREY, SKY_EXPOSURE_BIAS_STOPS

Vec3 = tuple[float, float, float]
SUN_BLOB_TEXELS = 2.5
"""sun.glsl's radius (texels) of the clamped disc's footprint in the sky image; dome.frag
replaces it by the glow around it, fading out by SUN_BLOB_TEXELS + 0.5."""


@dataclass(frozen=True)
class DomeSettings:
    """How the dome looks; changes rarely (user settings, not per frame)."""

    exposure_stops: float = SKY_EXPOSURE_BIAS_STOPS
    """Exposure compensation (EV) on top of the key: +1 doubles the radiance fed to the curve.
    The default meters the sky above middle grey, as photographers (and previews) do."""
    ground_albedo: Vec3 = (0.3, 0.3, 0.3)
    """Ground radiance as a fraction of the sky's mean horizon radiance (the ground is lit
    by that sky and seen through haze), linear RGB."""
    haze_depth_deg: float = 8.0
    """Angle below the horizon over which the horizon haze fades into the ground colour."""
    sun_fade_stops: float = 1.0
    """The analytic sun fades out as the sky image's peak at the sun drops this many stops
    under the clamp (a cloud moving in front of it); keep it under the ~1.7 stops between the
    clamp and the brightest clouds, or bright cloud near the sun would show a disc."""
    dither: bool = True
    """Triangular +-1 LSB dither of the 8-bit output against banding (tests turn it off)."""


@dataclass(frozen=True)
class DomeView:
    """What one displayed frame shows: the inputs that change every frame."""

    camera: Camera | CubeFaceCamera | PanoramaCamera
    """Where the viewer looks (the projection's camera, see DomeRenderer)."""
    key_nits: float
    """Luminance that lands on middle grey (from AutoExposure, or a manual key)."""
    sun_direction: Vec3 = (0.0, -1.0, 0.0)
    """Unit vector towards the sun, world axes; below the horizon draws no disc."""
    blend: float = 0.0
    """Fraction of the current model step elapsed: 0 shows the previous frame, 1 the next."""
    frame_index: int = 0
    """Displayed frame counter: varies the dither pattern from frame to frame."""
    sun_radiance_nits: Vec3 = (SUN.luminance_nits,) * 3
    """Mean disc radiance, linear RGB (nits): dimmer and redder when the sun is low."""


@dataclass(frozen=True)
class DomeParams:
    """The values of the GLSL block DomeParams (skyviewer/shaders/uniforms.glsl documents each member)."""

    cam_right: Vec3
    exposure_scale: float
    cam_up: Vec3
    blend: float
    cam_forward: Vec3
    pixel_angle: float
    sun_direction: Vec3
    sun_radius: float
    sun_radiance: Vec3
    sun_limb_u: float
    ground_albedo: Vec3
    haze_depth: float
    dither_lsb: float
    frame_index: float
    sun_fade_stops: float
    sky_clamp_nits: float


def dome_params(view: DomeView, settings: DomeSettings, size: tuple[int, int]) -> DomeParams:
    """Shader parameters of one frame rendered at size = (width, height)."""
    width, height = size
    right, up, forward = view.camera.ray_basis(width / height)
    sun = np.asarray(view.sun_direction, dtype=np.float64)
    return DomeParams(
        cam_right=tuple(right),
        exposure_scale=MIDDLE_GREY / max(view.key_nits, 1e-12) * 2.0**settings.exposure_stops,
        cam_up=tuple(up),
        blend=min(max(view.blend, 0.0), 1.0),
        cam_forward=tuple(forward),
        pixel_angle=view.camera.pixel_angle(height),
        sun_direction=tuple(sun / np.linalg.norm(sun)),
        sun_radius=math.radians(SUN.angular_radius_deg),
        sun_radiance=tuple(view.sun_radiance_nits),
        sun_limb_u=SUN.limb_darkening_u,
        ground_albedo=tuple(settings.ground_albedo),
        haze_depth=math.radians(settings.haze_depth_deg),
        dither_lsb=1.0 if settings.dither else 0.0,
        frame_index=float(view.frame_index % 2**24),  # exact in float32
        sun_fade_stops=settings.sun_fade_stops,
        sky_clamp_nits=ENCODING.x_max,
    )


def block_layout(path=SHADER_DIR / "uniforms.glsl") -> list[tuple[str, str, int]]:
    """(name, type, byte offset) of each DomeParams member, read from the GLSL (std140 rules
    for the float and vec3 members it uses: vec3 aligns to 16 bytes, float to 4)."""
    block = re.search(r"uniform\s+DomeParams\s*\{(.*?)\}", path.read_text(), re.S).group(1)
    members, offset = [], 0
    for gl_type, name in re.findall(r"^\s*(vec3|float)\s+(\w+)\s*;", block, re.M):
        align, size = (16, 12) if gl_type == "vec3" else (4, 4)
        offset = -(-offset // align) * align
        members.append((name, gl_type, offset))
        offset += size
    return members


def pack_params(params: DomeParams, layout: list[tuple[str, str, int]], nbytes: int) -> bytes:
    """The block's std140 bytes (nbytes: the block size GL reports)."""
    data = np.zeros(nbytes // 4, np.float32)
    for name, _, offset in layout:
        value = np.atleast_1d(np.asarray(getattr(params, name), np.float32))
        data[offset // 4 : offset // 4 + value.size] = value
    return data.tobytes()


Box = tuple[int, int, int, int]
"""A framebuffer rectangle (x, y, width, height), GL window coordinates (y up from the bottom)."""
NOWHERE: Box = (0, 0, 0, 0)


def rows_box(framebuffer: moderngl.Framebuffer, rows: tuple[int, int] | None) -> Box:
    """The box of a band of rows (first, count) across the framebuffer; None: all of it."""
    width, height = framebuffer.size
    return (0, 0, width, height) if rows is None else (0, rows[0], width, rows[1])


def intersect(a: Box, b: Box) -> Box:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else NOWHERE


def draw_in(framebuffer: moderngl.Framebuffer, box: Box, draw) -> None:
    """draw() into `framebuffer`, scissored to `box` (nothing when the box is empty)."""
    if box[2] <= 0 or box[3] <= 0:
        return
    framebuffer.scissor = box
    framebuffer.use()
    try:
        draw()
    finally:
        framebuffer.scissor = None
        framebuffer.use()


def sun_box(view: DomeView, size: tuple[int, int], sky_size: int, projection: Projection) -> Box | None:
    """The framebuffer box outside which dome.frag's sun terms (the disc, and the clamped blob
    replaced by the glow around it) change nothing, so SUN_ELSEWHERE draws those pixels exactly.
    None: they may reach anywhere (the panoramas; a sun low enough for the fisheye's rim clamp to
    carry the blob below the horizon), so the full shader draws the whole frame."""
    if projection != Projection.PERSPECTIVE:
        return None
    sun = np.asarray(view.sun_direction, np.float64)
    sun /= np.linalg.norm(sun)
    sun_radius = math.radians(SUN.angular_radius_deg)
    if sun[1] < -sun_radius:
        return NOWHERE  # no disc above the horizon, and the blob's visibility is 0 (dome.vert)
    # The blob reaches SUN_BLOB_TEXELS + 0.5 texels in fisheye uv: at most pi radians per unit uv.
    blob = (SUN_BLOB_TEXELS + 0.5) * math.pi / sky_size
    if math.asin(sun[1]) < 2.0 * blob:
        return None
    width, height = size
    pixel = view.camera.pixel_angle(height)
    half_angle = 1.05 * max(blob, sun_radius + pixel) + pixel  # 5 %: the 16-gon inside the cone
    a = np.cross(sun, [0.0, 1.0, 0.0] if abs(sun[1]) < 0.9 else [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    phi = np.linspace(0.0, 2.0 * math.pi, 16, endpoint=False)[:, None]
    ring = math.cos(half_angle) * sun + math.sin(half_angle) * (
        np.cos(phi) * a + np.sin(phi) * np.cross(sun, a)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        x, y, depth = project_ndc(view.camera.ray_basis(width / height), ring)
    if (depth <= 1e-6).all():
        return NOWHERE  # behind the camera
    if (depth <= 1e-6).any():
        return None
    x0, x1 = math.floor((x.min() + 1) / 2 * width) - 2, math.ceil((x.max() + 1) / 2 * width) + 2
    y0, y1 = math.floor((y.min() + 1) / 2 * height) - 2, math.ceil((y.max() + 1) / 2 * height) + 2
    return intersect((x0, y0, x1 - x0, y1 - y0), (0, 0, width, height))


class DomeRenderer:
    """Draws the sky dome into any framebuffer (offscreen target or the window's)."""

    def __init__(
        self,
        ctx: moderngl.Context,
        sky_size: int,
        settings: DomeSettings = DomeSettings(),
        shaders: ShaderLibrary | None = None,
        projection: Projection = Projection.PERSPECTIVE,
        gpu_frames: bool = False,
    ) -> None:
        """projection: how pixels map to view rays (render/projections.py); the equirect and
        fisheye projections take a PanoramaCamera in DomeView, cube faces a CubeFaceCamera.
        gpu_frames: frames arrive through push_device (SkyTextures)."""
        shaders = shaders or ShaderLibrary(ctx)
        self.ctx = ctx
        self.settings = settings
        self.projection = Projection(projection)
        defines = {"VIEW_PROJECTION": int(self.projection)}
        self.program = shaders.program("dome.vert", "dome.frag", defines)
        away = shaders.program("dome.vert", "dome.frag", defines | {"SUN_ELSEWHERE": 1})
        for program in (self.program, away):
            program["sky_prev"].value, program["sky_next"].value = 0, 1
            program["DomeParams"].binding = 0
        self._layout = block_layout()
        self._params = ctx.buffer(reserve=self.program["DomeParams"].size, dynamic=True)
        self.vao = ctx.vertex_array(self.program, [])
        self.vao_away_from_sun = ctx.vertex_array(away, [])
        self.sky = SkyTextures(ctx, sky_size, gpu_frames)
        self.meter = LogLuminanceMeter(ctx, shaders, sky_size)
        self._keys: tuple[KeyReading, KeyReading] | None = None

    def push_frame(self, frame: np.ndarray) -> None:
        """Upload the model's newest (N, N, 3) float16 frame (nits) and measure its key."""
        self.sky.push(frame)
        self._measure_newest()

    def push_device(self, write: Callable[[int], None]) -> None:
        """The same for a frame made on the GPU (gpu_frames): write(pointer) puts it at a CUDA
        pointer into the upload's pixel buffer (SkyTextures.push_device; SkyModel.decode_into)."""
        self.sky.push_device(write)
        self._measure_newest()

    def _measure_newest(self) -> None:
        # The older key is read now (it was measured a frame ago: no wait), so the meter's two
        # read-back buffers are never both pending; the newest is read when first asked for.
        reading = self.meter.measure(self.sky.next)
        self._keys = (reading, reading) if self._keys is None else (self._keys[1], reading)
        self._keys[0].nits()

    def scene_key_nits(self, blend: float) -> float:
        """Log-average luminance of the blended sky: the auto-exposure target."""
        if self._keys is None:
            raise RuntimeError("push_frame() first")
        prev, nxt = (math.log(k.nits()) for k in self._keys)
        return math.exp(prev + (nxt - prev) * min(max(blend, 0.0), 1.0))

    def render(
        self, framebuffer: moderngl.Framebuffer, view: DomeView, rows: tuple[int, int] | None = None
    ) -> DomeParams:
        """Draw one frame; returns the parameters used (what reference.render_dome needs).
        rows = (first, count): draw only that band of rows (GL order), the rest of the
        framebuffer is left as it is (what an opaque scene in front will cover anyway).

        Where the sun's box is known (sun_box), the frame is drawn without the sun's terms and
        the box again with them: the same pixels, for less work."""
        params = dome_params(view, self.settings, framebuffer.size)
        self._params.write(pack_params(params, self._layout, self._params.size))
        self._params.bind_to_uniform_block(0)
        self.sky.use(0, 1)
        self.ctx.disable(moderngl.BLEND | moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        frame = rows_box(framebuffer, rows)
        near_sun = sun_box(view, framebuffer.size, self.sky.size, self.projection)
        if near_sun is None:
            draw_in(framebuffer, frame, self._draw)
        else:
            draw_in(framebuffer, frame, self._draw_away_from_sun)
            draw_in(framebuffer, intersect(frame, near_sun), self._draw)
        return params

    def _draw(self) -> None:
        self.vao.render(moderngl.TRIANGLES, vertices=3)

    def _draw_away_from_sun(self) -> None:
        self.vao_away_from_sun.render(moderngl.TRIANGLES, vertices=3)

    def release(self) -> None:
        for obj in (self.vao, self.vao_away_from_sun, self._params, self.sky, self.meter):
            obj.release()
