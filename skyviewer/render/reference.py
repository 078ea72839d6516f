"""Numpy reference of the whole dome (skyviewer/shaders/dome.vert + dome.frag), for tests.

Camera ray -> canonical fisheye uv (skyviewer.sky.projection, the conventions' own code) ->
bilinear sample of both frames with GL's rules (texel centres at (i + 0.5) / N, clamp to
edge) -> clamped-sun blob replaced by the surrounding glow -> horizon haze and ground ->
analytic sun disc -> exposure, ACES, sRGB (skyviewer.sky.tonemap). Dithering is left out:
compare against renders with DomeSettings(dither=False). float64 throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from skyviewer.render.dome import SUN_BLOB_TEXELS, DomeParams
from skyviewer.render.projections import Projection, rays_at
from skyviewer.sky.projection import direction_to_fisheye_uv
from skyviewer.sky.tonemap import aces_filmic, srgb_encode, to_uint8

# Same constants as the GLSL (sun.glsl, dome.vert).
SUN_RING_TEXELS = 3.5
HORIZON_SAMPLES = 64


def bilinear(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """GL_LINEAR sample with clamp-to-edge of an (N, N, C) image at uv (row 0 at v = 0)."""
    n = image.shape[0]
    x, y = np.asarray(u) * n - 0.5, np.asarray(v) * n - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    i0, j0 = np.clip(y0.astype(int), 0, n - 1), np.clip(x0.astype(int), 0, n - 1)
    i1, j1 = np.clip(i0 + 1, 0, n - 1), np.clip(j0 + 1, 0, n - 1)
    i1 = np.where(y0 < 0, 0, i1)  # both taps clamp to the edge texel
    j1 = np.where(x0 < 0, 0, j1)
    top = image[i0, j0] * (1 - fx) + image[i0, j1] * fx
    bottom = image[i1, j0] * (1 - fx) + image[i1, j1] * fx
    return top * (1 - fy) + bottom * fy


def inner_radius(n: int) -> float:
    return 1.0 - 3.0 / n


def clamp_to_radius(u: np.ndarray, v: np.ndarray, r_max: float) -> tuple[np.ndarray, np.ndarray]:
    du, dv = np.asarray(u) - 0.5, np.asarray(v) - 0.5
    r = 2.0 * np.hypot(du, dv)
    scale = np.where(r > r_max, r_max / np.maximum(r, 1e-30), 1.0)
    return 0.5 + du * scale, 0.5 + dv * scale


def fisheye_uv(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """projection.direction_to_fisheye_uv, continued outside the circle for rays below the horizon."""
    u, v, _ = direction_to_fisheye_uv(d)
    return u, v


@dataclass(frozen=True)
class FrameConstants:
    """What dome.vert computes once per frame from the two textures."""

    ground: np.ndarray
    sun_glow: np.ndarray
    sun_visibility: float


def horizon_mean(sky: np.ndarray) -> np.ndarray:
    a = np.arange(HORIZON_SAMPLES) * (2 * math.pi / HORIZON_SAMPLES)
    r = inner_radius(sky.shape[0])
    return bilinear(sky, 0.5 + 0.5 * r * np.cos(a), 0.5 + 0.5 * r * np.sin(a)).mean(axis=0)


def sun_peak(sky: np.ndarray, u: float, v: float) -> float:
    n = sky.shape[0]
    ci, cj = int(v * n), int(u * n)
    rows = np.clip(np.arange(ci - 1, ci + 2), 0, n - 1)
    cols = np.clip(np.arange(cj - 1, cj + 2), 0, n - 1)
    return float(sky[np.ix_(rows, cols)].max())


def sun_glow(sky: np.ndarray, u: float, v: float) -> np.ndarray:
    n = sky.shape[0]
    a = np.arange(8) * (math.pi / 4)
    ru, rv = u + SUN_RING_TEXELS / n * np.cos(a), v + SUN_RING_TEXELS / n * np.sin(a)
    return bilinear(sky, *clamp_to_radius(ru, rv, inner_radius(n))).mean(axis=0)


def sun_visibility(peak: float, p: DomeParams) -> float:
    stops_below = math.log2(max(peak, 1e-30) / p.sky_clamp_nits)
    return float(smoothstep(-p.sun_fade_stops, 0.0, stops_below))


def smoothstep(e0: float, e1: float, x):
    t = np.clip((np.asarray(x) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def frame_constants(prev: np.ndarray, nxt: np.ndarray, p: DomeParams) -> FrameConstants:
    """dome.vert's per-frame values."""
    lerp = lambda a, b: a + (b - a) * p.blend  # noqa: E731
    ground = np.asarray(p.ground_albedo) * lerp(horizon_mean(prev), horizon_mean(nxt))
    sun = np.asarray(p.sun_direction)
    if sun[1] <= -p.sun_radius:
        return FrameConstants(ground, np.zeros(3), 0.0)
    u, v = fisheye_uv(sun)
    visibility = lerp(sun_visibility(sun_peak(prev, u, v), p), sun_visibility(sun_peak(nxt, u, v), p))
    return FrameConstants(ground, lerp(sun_glow(prev, u, v), sun_glow(nxt, u, v)), visibility)


def scene_radiance(prev, nxt, rays, p: DomeParams, k: FrameConstants) -> np.ndarray:
    """dome.frag's sky_radiance and scene_radiance: sky, blob removal, haze and ground."""
    n = nxt.shape[0]
    u, v = clamp_to_radius(*fisheye_uv(rays), inner_radius(n))
    sky = bilinear(prev, u, v) * (1 - p.blend) + bilinear(nxt, u, v) * p.blend
    su, sv = fisheye_uv(np.asarray(p.sun_direction))
    in_blob = 1 - smoothstep(SUN_BLOB_TEXELS - 0.5, SUN_BLOB_TEXELS + 0.5, np.hypot(u - su, v - sv) * n)
    w = (in_blob * k.sun_visibility)[..., None]
    sky = sky * (1 - w) + np.minimum(sky, k.sun_glow) * w
    ground = smoothstep(0.0, p.haze_depth, np.arcsin(np.clip(-rays[..., 1], -1, 1)))[..., None]
    return sky * (1 - ground) + k.ground * ground


def sun_disc(rays, footprint, p: DomeParams, k: FrameConstants) -> tuple[np.ndarray, np.ndarray]:
    """Disc radiance (..., 3) scaled for visibility, and coverage (...) including the horizon;
    footprint: each ray's pixel angle (view_footprint)."""
    sun = np.asarray(p.sun_direction)
    d = np.arctan2(np.linalg.norm(np.cross(rays, sun), axis=-1), rays @ sun)
    coverage = np.clip((p.sun_radius - d) / footprint + 0.5, 0, 1)
    coverage *= np.clip(rays[..., 1] / footprint + 0.5, 0, 1)
    rho = np.minimum(d / p.sun_radius, 1.0)
    profile = (1 - p.sun_limb_u * (1 - np.sqrt(1 - rho * rho))) / (1 - p.sun_limb_u / 3)
    log_radiance = (1 - k.sun_visibility) * math.log2(p.sky_clamp_nits) + k.sun_visibility * np.log2(
        np.asarray(p.sun_radiance)
    )
    return profile[..., None] * k.sun_visibility * np.exp2(log_radiance), coverage


def view_rays(p: DomeParams, size: tuple[int, int], projection: Projection) -> tuple[np.ndarray, np.ndarray]:
    """view_projection.glsl: unit rays (H, W, 3) through the pixel centres and their footprints
    (H, W)."""
    width, height = size
    u, v = np.meshgrid((np.arange(width) + 0.5) / width, (np.arange(height) + 0.5) / height)
    rays = rays_at(projection, (p.cam_right, p.cam_up, p.cam_forward), u, v)
    if projection == Projection.PERSPECTIVE:
        return rays, p.pixel_angle * (rays @ np.asarray(p.cam_forward))
    return rays, np.full((height, width), p.pixel_angle)


def render_dome(
    prev: np.ndarray,
    nxt: np.ndarray,
    p: DomeParams,
    size: tuple[int, int],
    projection: Projection = Projection.PERSPECTIVE,
) -> tuple[np.ndarray, np.ndarray]:
    """(display uint8 (H, W, 3), radiance float64 (H, W, 3)) of the dome at size = (W, H)."""
    prev, nxt = np.asarray(prev, np.float64), np.asarray(nxt, np.float64)
    rays, footprint = view_rays(p, size, Projection(projection))
    k = frame_constants(prev, nxt, p)
    base = scene_radiance(prev, nxt, rays, p, k)
    sun, coverage = sun_disc(rays, footprint, p, k)
    c = coverage[..., None]
    exposed = base * p.exposure_scale
    display = aces_filmic(exposed) * (1 - c) + aces_filmic(exposed + sun * p.exposure_scale) * c
    return to_uint8(srgb_encode(display)), base + sun * c
