"""Image-based lighting from a sky frame, in numpy (no GL, no torch): the reference the GPU path
(skyviewer/render/lighting.py, shaders/lighting_*.glsl) is tested against, and a CPU path for
hosts that only hold frames (SkyTimeline users).

A sky frame lights a scene in two parts (docs/rendering.md, "Lighting"):

* the **environment**: the frame's sky above the horizon with the clamped solar disc replaced by
  the glow around it (as the dome draws it), and below the horizon the dome's ground (the horizon
  haze fading into ground_albedo x the mean horizon radiance). Its order-2 spherical-harmonic
  projection (9 RGB coefficients of radiance, nits) gives the irradiance on any normal, with the
  up-facing irradiance made exact (match_up_irradiance: a dusk sky's bright horizon band puts
  energy in the l = 4 band the projection drops, 8% of the ground's light);
* the **sun**: direction, and irradiance after the atmosphere (SkySim's clear-sky transmittance for
  the sun's elevation and a turbidity) and the clouds in front of it (the visibility the dome reads
  from the frame: the image's peak at the sun against the clamp).

SH basis (real, orthonormal; Sloan's "Stupid SH tricks" order) in world axes x east, y up,
z south: Y0 = 0.282095; Y1..3 = 0.488603 (y, z, x); Y4 = 1.092548 xy, Y5 = 1.092548 yz,
Y6 = 0.315392 (3 z^2 - 1), Y7 = 1.092548 xz, Y8 = 0.546274 (x^2 - y^2).
Irradiance E(n) = sum_i A_l(i) L_i Y_i(n) with A = (pi, 2 pi / 3, pi / 4) per band.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from skyviewer.sky.projection import direction_to_fisheye_uv, fisheye_directions, fisheye_mask
from skyviewer.sky.radiance import ENCODING, SUN

SH_COUNT = 9
BAND_OF = np.array([0, 1, 1, 1, 2, 2, 2, 2, 2])
COSINE_LOBE = np.array([math.pi, 2.0 * math.pi / 3.0, math.pi / 4.0])[BAND_OF]
"""Zonal coefficients of the clamped cosine per SH coefficient (Ramamoorthi & Hanrahan 2001)."""
SUN_SOLID_ANGLE_SR = 2.0 * math.pi * (1.0 - math.cos(math.radians(SUN.angular_radius_deg)))
# Same constants as shaders/sun.glsl and dome.vert.
SUN_BLOB_TEXELS = 2.5
SUN_RING_TEXELS = 3.5
HORIZON_SAMPLES = 64
REC709_LUMA = np.array([0.2126, 0.7152, 0.0722])


@dataclass(frozen=True)
class LightingSettings:
    """How a frame becomes lighting; the ground and the sun fade match DomeSettings' defaults
    (tests check), so the lighting shows what the dome shows."""

    ground_albedo: tuple[float, float, float] = (0.3, 0.3, 0.3)
    """Radiance below the horizon = albedo x the mean horizon radiance (the dome's ground)."""
    haze_depth_deg: float = 8.0
    """Angle below the horizon over which the horizon haze fades into the ground."""
    sun_fade_stops: float = 1.0
    """The sun is hidden once the frame's peak at it is this many stops under the clamp."""
    turbidity: float = 3.0
    """Haze of the atmosphere the sunbeam crosses (SkySim's default, the training skies')."""


# ------------------------------------------------------------------ spherical harmonics


def sh_basis(d: np.ndarray) -> np.ndarray:
    """The 9 real SH basis functions (..., 9) at unit directions d (..., 3)."""
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    return np.stack(
        [
            np.full_like(x, 0.282095),
            0.488603 * y,
            0.488603 * z,
            0.488603 * x,
            1.092548 * x * y,
            1.092548 * y * z,
            0.315392 * (3.0 * z * z - 1.0),
            1.092548 * x * z,
            0.546274 * (x * x - y * y),
        ],
        axis=-1,
    )


def sh_irradiance(sh: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Irradiance (..., 3) (lux: nits x sr) on surfaces with unit normals (..., 3), from radiance
    SH coefficients (9, 3)."""
    return (sh_basis(np.asarray(normal, np.float64)) * COSINE_LOBE) @ np.asarray(sh, np.float64)


def match_up_irradiance(sh: np.ndarray, up_irradiance) -> np.ndarray:
    """The SH with the irradiance on an up-facing surface moved to `up_irradiance` (the same
    environment's exact cosine integral), the change fading out towards facing down: E(n) moves
    by delta (1 + n_y) / 2, which coefficients 0 and 1 (constant, y) carry. A lopsided sky's
    order-2 truncation error is largest facing up, where a ground plane (most of a scene's
    surface) faces; facing down, the ground's own light, is left as projected."""
    up = np.array([0.0, 1.0, 0.0])
    delta = np.asarray(up_irradiance, np.float64) - sh_irradiance(sh, up)
    matched = np.array(sh, np.float64, copy=True)
    for i in (0, 1):
        matched[i] += delta / (2.0 * COSINE_LOBE[i] * sh_basis(up)[i])
    return matched


# ------------------------------------------------------------------ the environment


def _bilinear(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """GL_LINEAR, clamp to edge, of an (N, N, C) image at uv (texel centres at (i + 0.5) / N)."""
    n = image.shape[0]
    x, y = np.clip(np.asarray(u) * n - 0.5, 0, n - 1), np.clip(np.asarray(v) * n - 0.5, 0, n - 1)
    x0, y0 = np.minimum(np.floor(x).astype(int), n - 2), np.minimum(np.floor(y).astype(int), n - 2)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    return top * (1 - fy) + (image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx) * fy


def _smoothstep(e0, e1, x):
    t = np.clip((np.asarray(x, np.float64) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _clamp_to_radius(u, v, r_max):
    du, dv = np.asarray(u) - 0.5, np.asarray(v) - 0.5
    r = 2.0 * np.hypot(du, dv)
    scale = np.where(r > r_max, r_max / np.maximum(r, 1e-30), 1.0)
    return 0.5 + du * scale, 0.5 + dv * scale


def sun_visibility(frame: np.ndarray, sun_dir, fade_stops: float = 1.0) -> float:
    """sun.glsl's visibility: 1 when the brightest channel of the 3x3 texels at the sun reaches
    the clamp, 0 once it is fade_stops under it; 0 for a sun below the horizon."""
    sun = np.asarray(sun_dir, np.float64)
    if sun[1] < -math.radians(SUN.angular_radius_deg):
        return 0.0
    n = frame.shape[0]
    u, v, _ = direction_to_fisheye_uv(sun)
    col, row = int(u * n), int(v * n)
    patch = frame[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2].astype(np.float64)
    stops = math.log2(max(float(patch.max()), 1e-30) / ENCODING.x_max)
    return float(_smoothstep(-fade_stops, 0.0, stops))


def clean_sky(frame: np.ndarray, sun_dir, visibility: float) -> np.ndarray:
    """The frame (float64) with the clamped disc capped at the glow around it, as the dome
    shows it (dome.frag sky_radiance): the analytic sun is lit separately."""
    sky = np.asarray(frame, np.float64)
    if visibility <= 0.0:
        return sky
    n = sky.shape[0]
    su, sv, _ = direction_to_fisheye_uv(np.asarray(sun_dir, np.float64))
    angles = np.arange(8) * (math.pi / 4)
    ring_u, ring_v = su + SUN_RING_TEXELS / n * np.cos(angles), sv + SUN_RING_TEXELS / n * np.sin(angles)
    glow = _bilinear(sky, *_clamp_to_radius(ring_u, ring_v, 1.0 - 3.0 / n)).mean(axis=0)
    centres = (np.arange(n) + 0.5) / n
    texels = np.hypot(centres[None, :] - su, centres[:, None] - sv) * n
    in_blob = (1.0 - _smoothstep(SUN_BLOB_TEXELS - 0.5, SUN_BLOB_TEXELS + 0.5, texels)) * visibility
    return sky + (np.minimum(sky, glow) - sky) * in_blob[..., None]


def ground_radiance(sky: np.ndarray, settings: LightingSettings) -> np.ndarray:
    """dome.vert's ground: albedo x the mean of HORIZON_SAMPLES bilinear samples just inside the
    horizon circle (radius inner_radius(N))."""
    n = sky.shape[0]
    a = np.arange(HORIZON_SAMPLES) * (2.0 * math.pi / HORIZON_SAMPLES)
    r = 1.0 - 3.0 / n
    ring = _bilinear(sky, 0.5 + 0.5 * r * np.cos(a), 0.5 + 0.5 * r * np.sin(a))
    return np.asarray(settings.ground_albedo) * ring.mean(axis=0)


def pool(sky: np.ndarray, max_size: int) -> np.ndarray:
    """Average an (N, N, 3) sky over k x k blocks, k the smallest integer that brings it to at
    most max_size a side (any N; lighting_reduce.frag): the mean of each block's texels inside
    the horizon circle, 0 where there are none."""
    n = sky.shape[0]
    k = max(1, -(-n // max_size))
    m = -(-n // k)
    padded = np.zeros((m * k, m * k, 4))
    padded[:n, :n, :3] = sky * fisheye_mask(n)[..., None]
    padded[:n, :n, 3] = fisheye_mask(n)
    sums = padded.reshape(m, k, m, k, 4).sum(axis=(1, 3))
    return sums[..., :3] / np.maximum(sums[..., 3:], 1.0)


def project_environment(sky: np.ndarray, settings: LightingSettings, below_steps: int = 64) -> np.ndarray:
    """SH coefficients (9, 3) of the environment: the clean sky texel by texel (solid angle
    (pi / N)^2 sin(theta) / theta each, as SkySim weighs its pixels), plus the lower hemisphere
    on a (theta, azimuth) midpoint grid, where the horizon haze at each azimuth fades into the
    ground over haze_depth; the up-facing irradiance matched to the sky's own integral."""
    n = sky.shape[0]
    d, mask = fisheye_directions(n, np.float64)
    theta = np.arccos(np.clip(d[..., 1], -1.0, 1.0))
    weight = (math.pi / n) ** 2 * np.sinc(theta / math.pi) * mask
    sh = np.einsum("ijk,ijc,ij->kc", sh_basis(d), sky, weight)
    up_irradiance = np.einsum("ijc,ij->c", sky, weight * np.maximum(d[..., 1], 0.0))
    # Lower hemisphere: zenith angle pi/2 .. pi, radiance = mix(horizon at azimuth, ground).
    azimuths = 4 * n
    phi = (np.arange(azimuths) + 0.5) * (2.0 * math.pi / azimuths)
    r = 1.0 - 3.0 / n
    horizon = _bilinear(sky, 0.5 - 0.5 * r * np.sin(phi), 0.5 - 0.5 * r * np.cos(phi))  # (A, 3)
    below = (np.arange(below_steps) + 0.5) * (math.pi / 2 / below_steps)  # angle under the horizon
    fade = _smoothstep(0.0, math.radians(settings.haze_depth_deg), below)[:, None, None]  # (B, 1, 1)
    radiance = horizon[None] + (ground_radiance(sky, settings) - horizon[None]) * fade  # (B, A, 3)
    th = math.pi / 2 + below[:, None]
    dirs = np.stack(np.broadcast_arrays(np.sin(th) * np.sin(phi), np.cos(th), -np.sin(th) * np.cos(phi)), -1)
    d_omega = np.sin(th) * (math.pi / 2 / below_steps) * (2.0 * math.pi / azimuths)  # (B, 1)
    sh = sh + np.einsum("bak,bac,ba->kc", sh_basis(dirs), radiance, np.broadcast_to(d_omega, dirs.shape[:2]))
    return match_up_irradiance(sh, up_irradiance)


# ------------------------------------------------------------------ the sun


@dataclass(frozen=True)
class SunLight:
    """The sun as a directional light."""

    direction: tuple[float, float, float]
    """Unit world vector towards the sun (x east, y up, z south)."""
    irradiance: tuple[float, float, float]
    """Linear RGB irradiance (lux) on a surface facing the sun, after the atmosphere and the clouds
    in front of it; 0 at night."""
    visibility: float
    """How much of the sun the clouds let through as the frame shows it (1 clear, 0 hidden)."""

    @property
    def color(self) -> tuple[float, float, float]:
        """Irradiance scaled to luminance 1 (the light's colour; white when the sun is gone)."""
        y = float(np.dot(self.irradiance, REC709_LUMA))
        return tuple(float(c) / y for c in self.irradiance) if y > 0 else (1.0, 1.0, 1.0)

    @property
    def illuminance_lux(self) -> float:
        """Luminance-weighted irradiance: what a light meter facing the sun reads from it."""
        return float(np.dot(self.irradiance, REC709_LUMA))


def sun_light(sun_dir, visibility: float, settings: LightingSettings = LightingSettings()) -> SunLight:
    """Sunlight after SkySim's clear atmosphere (Rayleigh, aerosol at settings.turbidity, ozone;
    the disc mean of 1.6e9 nits at the zenith for turbidity 3) and the clouds (visibility); the
    disc's part above the horizon."""
    from skyviewer.data.skysim.atmosphere import sun_radiance  # numpy only, like this module

    d = np.asarray(sun_dir, np.float64)
    d = d / np.linalg.norm(d)
    elevation = math.degrees(math.asin(float(np.clip(d[1], -1.0, 1.0))))
    above = float(_smoothstep(-SUN.angular_radius_deg, SUN.angular_radius_deg, elevation))
    radiance = sun_radiance(elevation, settings.turbidity).astype(np.float64)
    irradiance = radiance * SUN_SOLID_ANGLE_SR * visibility * above
    return SunLight(tuple(float(v) for v in d), tuple(float(v) for v in irradiance), float(visibility))


# ------------------------------------------------------------------ one frame's lighting


@dataclass(frozen=True)
class FrameLighting:
    """The lighting of one sky frame (or a blend of two)."""

    sh: np.ndarray
    """(9, 3) float64 SH coefficients of the environment's radiance (nits); see the module doc."""
    sun: SunLight
    ground: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Radiance of the environment far below the horizon (the dome's ground), nits."""

    def irradiance(self, normal=(0.0, 1.0, 0.0), sun: bool = True) -> np.ndarray:
        """Irradiance (3,) on a surface with this normal: the environment's, plus the sun's
        (unshadowed) when `sun`."""
        n = np.asarray(normal, np.float64)
        e = sh_irradiance(self.sh, n)
        if sun:
            e = e + np.asarray(self.sun.irradiance) * max(float(n @ np.asarray(self.sun.direction)), 0.0)
        return e

    def to_dict(self) -> dict:
        """JSON-ready: sh as 9 [r, g, b] rows, the sun, the ground (what `record` writes)."""
        return {
            "sh_radiance_nits": [[float(c) for c in row] for row in self.sh],
            "sh_basis": "real orthonormal order 2, world axes x east y up z south (docs/rendering.md)",
            "sun": {
                "direction": list(self.sun.direction),
                "irradiance_lux": list(self.sun.irradiance),
                "visibility": self.sun.visibility,
            },
            "ground_nits": list(self.ground),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def blend_lighting(a: FrameLighting, b: FrameLighting, t: float) -> FrameLighting:
    """Lighting between two frames, `t` of the way from a to b (the dome's blend): SH, sun
    irradiance and ground mix linearly (the frames do), the direction along the arc."""
    t = min(max(float(t), 0.0), 1.0)
    mix = lambda p, q: tuple(float(x) for x in (1 - t) * np.asarray(p) + t * np.asarray(q))  # noqa: E731
    d = np.asarray(mix(a.sun.direction, b.sun.direction))
    sun = SunLight(
        tuple(float(v) for v in d / max(float(np.linalg.norm(d)), 1e-12)),
        mix(a.sun.irradiance, b.sun.irradiance),
        (1 - t) * a.sun.visibility + t * b.sun.visibility,
    )
    return FrameLighting((1 - t) * a.sh + t * b.sh, sun, mix(a.ground, b.ground))


def frame_lighting(
    frame: np.ndarray, sun_dir, settings: LightingSettings = LightingSettings(), max_size: int | None = 128
) -> FrameLighting:
    """The lighting of one (N, N, 3) frame (nits, any N) with the sun at sun_dir, on the CPU.
    max_size: pool the clean sky to at most this many texels a side first (a few ms at 128);
    None integrates every texel (the reference the GPU path is tested against)."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] != frame.shape[1]:
        raise ValueError(f"sky frame: expected (N, N, 3), got {frame.shape}")
    visibility = sun_visibility(frame, sun_dir, settings.sun_fade_stops)
    sky = clean_sky(frame, sun_dir, visibility)
    if max_size is not None and sky.shape[0] > max_size:
        sky = pool(sky, max_size)
    ground = ground_radiance(sky, settings)
    return FrameLighting(
        project_environment(sky, settings),
        sun_light(sun_dir, visibility, settings),
        tuple(map(float, ground)),
    )


@dataclass
class LightingTrack:
    """Lighting for SkyTimeline samples on the CPU: each model frame's computed once, then blended
    like the frames (sample.blend).

        track = LightingTrack()
        sky = timeline.at(t); light = track.at(sky)   # light.sh, light.sun, light.irradiance(n)
    """

    settings: LightingSettings = LightingSettings()
    max_size: int | None = 128
    _cache: dict[int, FrameLighting] = field(default_factory=dict)

    def frame(self, frame) -> FrameLighting:
        """The lighting of one SkyFrame (cached by its index; the two newest are kept)."""
        if frame.index not in self._cache:
            self._cache[frame.index] = frame_lighting(
                frame.radiance, frame.sun_dir, self.settings, self.max_size
            )
            for old in sorted(self._cache)[:-2]:
                del self._cache[old]
        return self._cache[frame.index]

    def at(self, sample) -> FrameLighting:
        """The lighting of a SkySample: its two frames' lighting, blended."""
        return blend_lighting(self.frame(sample.previous), self.frame(sample.next), sample.blend)
