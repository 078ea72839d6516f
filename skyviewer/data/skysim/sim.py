"""SkySim: frames of a simulated sky at random access, deterministic per (config, seed, k).

Anything that depends only on the view rays (Preetham's zenith-angle terms, the scattering
table rows, layer intersections, footprints, texture levels) is precomputed once per ray set
(`_Rays`); what changes with time (sun, light, cloud fields) is evaluated per frame, for the
fisheye frame or for any other rays: fisheye patches at another resolution, perspective views."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from skyviewer.data.skysim.atmosphere import (
    DAY_START_DEG,
    LUMA,
    TWILIGHT_END_DEG,
    PreethamSky,
    TwilightSky,
    smoothstep,
    sun_radiance,
    sun_transmittance,
)
from skyviewer.data.skysim.clouds import EARTH_RADIUS_M, LayerLight
from skyviewer.data.skysim.config import SimConfig
from skyviewer.data.skysim.layers import CirrusLayer, CirrusRays, CumulusLayer, CumulusRays, LayerOutput
from skyviewer.data.skysim.scattering import SUN_SOLID_ANGLE_SR, ScatteringTable, henyey_greenstein
from skyviewer.data.skysim.sun import disc_coverage, disc_profile
from skyviewer.data.types import FRAME_META_DTYPE, SkySequence
from skyviewer.sky.projection import direction_from_angles, fisheye_uv_to_direction
from skyviewer.sky.radiance import ENCODING, SUN, to_storage
from skyviewer.sky.solar import solar_position

# The reddening tint fades in below this sun elevation (deg): above it Preetham's colour holds.
REDDENING_START_DEG = 25.0
# Multiple scattering roughly doubles the singly scattered twilight glow (Bruneton & Neyret 2008).
TWILIGHT_SINGLE_SCATTERING_GAIN = 2.0
# The clear sky's irradiance on the clouds is integrated over a fixed fisheye of this size, so the
# light does not depend on which rays are rendered: a patch matches its full frame.
IRRADIANCE_RESOLUTION = 64
SUN_SUPERSAMPLE = 8  # per axis, over a pixel near the sun disc


@dataclass
class _Rays:
    """Everything about a set of view rays that does not change with time."""

    directions: np.ndarray
    """(M, 3) float32 unit view directions, upper hemisphere."""
    horizontal: np.ndarray
    """(M, 2) unit (east, north) horizontal direction of each ray."""
    preetham: PreethamSky
    twilight: TwilightSky
    rows: tuple[np.ndarray, np.ndarray]
    """Scattering-table rows (ScatteringTable.rows)."""
    cumulus: CumulusRays | None
    cirrus: CirrusRays | None


@dataclass
class _Conditions:
    """What frame k's rays share: time, sun, the light on each layer."""

    t: float
    sun_dir: np.ndarray
    elevation: float
    zenith_reddening: np.ndarray
    cirrus_light: LayerLight | None
    cumulus_light: LayerLight | None


def fisheye_pixel_steps(directions: np.ndarray, resolution: int) -> tuple[float, np.ndarray]:
    """Angular size of canonical-fisheye pixels along the zenith angle and across it (rad, (M,))."""
    step = math.pi / resolution  # 90 deg over n/2 pixels
    theta = np.arccos(np.clip(directions[:, 1], -1.0, 1.0))
    return step, step * np.sinc(theta / math.pi)  # sin(theta)/theta: equidistant azimuthal squeeze


class SkySim:
    """The built-in physically based sky simulator (see docs/skysim.md).

    frame(k) renders the canonical fisheye at config.resolution; fisheye_patches() renders pixels of
    the fisheye at any other resolution (exactly those of the full frame), render_directions() any
    view rays. The per-ray geometry of the frame is computed here once.
    """

    def __init__(self, config: SimConfig, seed: int = 0):
        self.config, self.seed = config, int(seed)
        n = config.resolution
        self.scattering = ScatteringTable(config.turbidity)
        self.zenith_rows = ScatteringTable.rows(np.array([0.5 * math.pi]))
        # Sunlight above the atmosphere: SUN.luminance_nits is the disc seen from the ground (T = 3).
        zenith_sun = float(sun_transmittance(90.0, 3.0) @ LUMA)
        self.sun_top_of_atmosphere = SUN.luminance_nits * SUN_SOLID_ANGLE_SR / zenith_sun
        self.cumulus = CumulusLayer(config, self.seed) if config.cloud_cover > 0 else None
        self.cirrus = CirrusLayer(config, self.seed) if config.cirrus_cover > 0 else None
        a = math.radians(config.wind_towards_deg)
        self.wind_mps = config.wind_speed_mps * np.array([math.sin(a), math.cos(a)])  # (east, north)
        self.start_unix_time = config.start_unix_time
        self._last_conditions: tuple[int, _Conditions] | None = None
        # The irradiance quadrature: a small fisheye, solid angle x cos(theta) per pixel.
        quad, quad_mask = self._fisheye(IRRADIANCE_RESOLUTION, 0, 0, IRRADIANCE_RESOLUTION)
        d = quad[quad_mask]
        self._sky_rays = self._rays(d, *fisheye_pixel_steps(d, IRRADIANCE_RESOLUTION), clouds=False)
        solid_angle = (math.pi / IRRADIANCE_RESOLUTION) ** 2 * np.sinc(np.arccos(d[:, 1]) / math.pi)
        self.irradiance_weights = (solid_angle * d[:, 1]).astype(np.float32)
        # The frame's own rays.
        directions, mask = self._fisheye(n, 0, 0, n)
        self.inside = np.flatnonzero(mask.ravel())  # (M,) flat pixel indices inside the horizon
        d = directions[mask]
        self.pixel_angle = math.pi / n
        self.solid_angle = (self.pixel_angle**2 * np.sinc(np.arccos(d[:, 1]) / math.pi)).astype(np.float32)
        self._frame_rays = self._rays(d, *fisheye_pixel_steps(d, n))

    @staticmethod
    def _fisheye(resolution: int, row: int, col: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Directions (size, size, 3) float64 and horizon mask of a block of an n x n fisheye; the
        same numbers as the full image's pixels (pixel_centers), so a patch matches its frame."""
        centres = (np.arange(resolution, dtype=np.float64) + 0.5) / resolution  # as pixel_centers
        u, v = np.meshgrid(centres[col : col + size], centres[row : row + size], indexing="xy")
        return fisheye_uv_to_direction(u, v)

    def _rays(self, d: np.ndarray, zenith_step, azimuth_step, clouds: bool = True) -> _Rays:
        """Precompute rays (M, 3) (float64, upper hemisphere) whose pixels span the given angles."""
        horizontal = np.stack([d[:, 0], -d[:, 2]], axis=1)  # (M, 2) east, north
        horizontal /= np.maximum(np.linalg.norm(horizontal, axis=1, keepdims=True), 1e-9)
        preetham = PreethamSky(self.config.turbidity, d[:, 1])
        layers = clouds and len(d) > 0
        return _Rays(
            directions=d.astype(np.float32),
            horizontal=horizontal.astype(np.float32),
            preetham=preetham,
            twilight=TwilightSky(preetham, d[:, 1]),
            rows=ScatteringTable.rows(np.arcsin(np.clip(d[:, 1], 0.0, 1.0))),
            cumulus=self.cumulus.rays(d, zenith_step, azimuth_step) if layers and self.cumulus else None,
            cirrus=self.cirrus.rays(d, zenith_step, azimuth_step) if layers and self.cirrus else None,
        )

    # ------------------------------------------------------------------ sky

    def _clear_sky(self, rays: _Rays, c: _Conditions, cos_gamma, cos_dazimuth) -> np.ndarray:
        """Cloudless sky radiance (M, 3): Preetham by day, reddened at low sun by the colour of the
        sunlight where it scattered; after sunset the twilight floor plus single scattering."""
        elevation_deg = c.elevation
        top = np.full(3, self.sun_top_of_atmosphere)
        single, reddening = self.scattering.radiance(rays.rows, elevation_deg, cos_dazimuth, cos_gamma, top)
        day_weight = float(smoothstep(TWILIGHT_END_DEG, DAY_START_DEG, elevation_deg))
        sky = 0.0
        if day_weight > 0.0:
            theta_s = math.radians(90.0 - elevation_deg)
            day = rays.preetham.radiance(cos_gamma, theta_s)
            # Aerosol aureole: the narrow forward peak Preetham's smooth fit leaves out.
            sun_e = sun_radiance(elevation_deg, self.config.turbidity) * SUN_SOLID_ANGLE_SR
            beta = 0.04608 * self.config.turbidity - 0.04586
            day += (0.1 * beta * henyey_greenstein(cos_gamma, 0.93))[:, None] * sun_e.astype(np.float32)
            # Preetham's fit keeps the colour of a high sun away from the zenith. As the sun sinks,
            # tint each direction by the colour the sunlight had where that direction's light was
            # scattered (luminance kept), relative to the zenith's: Preetham's zenith chromaticity is
            # fitted to measured skies and already holds the zenith's reddening (tinting it again
            # turned the sunset zenith grey).
            tint = reddening / np.maximum(c.zenith_reddening, 1e-6)
            tint /= np.maximum(tint @ LUMA, 1e-6)[:, None]
            w = np.float32(smoothstep(REDDENING_START_DEG, 0.0, elevation_deg))
            sky = day_weight * day * (1.0 + w * (tint - 1.0))
        if day_weight < 1.0:
            twilight = rays.twilight.radiance(elevation_deg) + TWILIGHT_SINGLE_SCATTERING_GAIN * single
            sky = sky + (1.0 - day_weight) * twilight
        return np.asarray(sky, np.float32)

    def _layer_light(self, altitude_m: float, elevation_deg: float, sky_irradiance: np.ndarray) -> LayerLight:
        """Light on a layer: the sun (up for high clouds after it set for us), the sky, the ground."""
        dip_deg = math.degrees(math.sqrt(2.0 * altitude_m / EARTH_RADIUS_M)) + SUN.angular_radius_deg
        visible = float(smoothstep(-dip_deg - 0.5, -dip_deg + 0.5, elevation_deg))
        sun = sun_radiance(elevation_deg, self.config.turbidity, altitude_m) * SUN_SOLID_ANGLE_SR * visible
        cos_zenith = max(math.sin(math.radians(elevation_deg)), 0.0)
        # Cloud bases undulate: a sun within a few degrees of the horizon grazes them and the lower
        # sides facing it (fully from below once it is under the layer's horizontal).
        from_below = float(smoothstep(6.0, -0.5, elevation_deg))
        ground = sun * cos_zenith * (1.0 - self.config.cloud_cover) + sky_irradiance
        return LayerLight(
            sun.astype(np.float32), cos_zenith, from_below, sky_irradiance, ground.astype(np.float32)
        )

    # ------------------------------------------------------------------ frames

    def sun(self, k: int) -> tuple[np.ndarray, float]:
        """Unit sun direction (3,) and apparent elevation (deg) at frame k."""
        unix_time = self.start_unix_time + k * self.config.step_seconds
        elevation, azimuth = solar_position(self.config.latitude_deg, self.config.longitude_deg, unix_time)
        direction = direction_from_angles(np.radians(90.0 - float(elevation)), np.radians(float(azimuth)))
        return direction, float(elevation)

    def _sun_angles(self, rays: _Rays, sun_dir: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """cos of each ray's angle to the sun and of its azimuth difference from the sun's."""
        cos_gamma = rays.directions @ sun_dir.astype(np.float32)  # (M,)
        sun_h = np.array([sun_dir[0], -sun_dir[2]], dtype=np.float32)
        return cos_gamma, rays.horizontal @ (sun_h / max(float(np.linalg.norm(sun_h)), 1e-9))

    def _conditions(self, k: int) -> _Conditions:
        """Frame k's time, sun and light (kept for the last k: a frame and its patches share them)."""
        if self._last_conditions is not None and self._last_conditions[0] == k:
            return self._last_conditions[1]
        c = self.config
        sun_dir, elevation = self.sun(k)
        top = np.full(3, self.sun_top_of_atmosphere)
        zenith = self.scattering.radiance(
            self.zenith_rows, elevation, np.ones(1, np.float32), np.full(1, sun_dir[1], np.float32), top
        )[1][0]
        out = _Conditions(k * c.step_seconds, sun_dir, elevation, zenith, None, None)
        sky = self._clear_sky(self._sky_rays, out, *self._sun_angles(self._sky_rays, sun_dir))
        irradiance = self.irradiance_weights @ sky  # (3,)
        out.cirrus_light = self._layer_light(c.cirrus_altitude_m, elevation, irradiance)
        out.cumulus_light = self._layer_light(c.cloud_altitude_m, elevation, irradiance)
        self._last_conditions = (k, out)
        return out

    def _render(self, rays: _Rays, c: _Conditions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Radiance (M, 3) of the rays without the sun disc, the sunbeam's transmittance through the
        clouds (M,), and the clouds' total opacity (M,)."""
        cos_gamma, cos_dazimuth = self._sun_angles(rays, c.sun_dir)
        rgb = self._clear_sky(rays, c, cos_gamma, cos_dazimuth)
        beam = np.ones(len(rgb), np.float32)
        alpha = np.zeros(len(rgb), np.float32)
        drift = self.wind_mps * c.t
        layers: list[LayerOutput] = []
        if rays.cirrus is not None:
            layers.append(self.cirrus.render(rays.cirrus, rgb, c.t, drift, cos_gamma, c.cirrus_light))
            rgb = layers[-1].rgb
        if rays.cumulus is not None:
            args = (c.sun_dir, cos_gamma, cos_dazimuth, c.cumulus_light)
            layers.append(self.cumulus.render(rays.cumulus, rgb, c.t, drift, *args))
            rgb = layers[-1].rgb
        for layer in layers:
            beam = beam * (1.0 - layer.alpha)
            alpha = 1.0 - (1.0 - alpha) * (1.0 - layer.alpha)
        return rgb, beam, alpha

    def frame(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame k: radiance (N, N, 3) float32 in nits (0 outside the horizon) and its meta record."""
        n = self.config.resolution
        c = self._conditions(k)
        rgb, beam, alpha = self._render(self._frame_rays, c)
        image = np.zeros((n * n, 3), np.float32)
        image[self.inside] = rgb
        self._add_fisheye_sun(image, n, self.inside, np.arange(n * n), c, beam)
        np.clip(image, 0.0, ENCODING.x_max, out=image)
        return image.reshape(n, n, 3), self._meta(k, c, alpha)

    def fisheye_patches(self, k: int, resolution: int, positions: np.ndarray, size: int) -> np.ndarray:
        """Square patches (K, size, size, 3) float32 nits of frame k as it would be at `resolution`:
        patch i is pixels [r, r + size) x [c, c + size) of that frame, (r, c) = positions[i]. They equal
        SkySim(config with that resolution).frame(k) there, without rendering the whole frame."""
        positions = np.asarray(positions, dtype=np.int64).reshape(-1, 2)
        if ((positions < 0) | (positions > resolution - size)).any():
            raise ValueError(
                f"patches of {size} px must lie inside the {resolution} px frame: {positions.tolist()}"
            )
        blocks = [self._fisheye(resolution, int(r), int(col), size) for r, col in positions]
        masks = np.stack([m for _, m in blocks])  # (K, s, s)
        d = np.concatenate([b[m] for b, m in blocks])
        c = self._conditions(k)
        image = np.zeros((len(positions) * size * size, 3), np.float32)
        inside = np.flatnonzero(masks.ravel())
        if len(d):
            rgb, beam, _ = self._render(self._rays(d, *fisheye_pixel_steps(d, resolution)), c)
            image[inside] = rgb
            # Flat index of every patch pixel in the full frame, for the sun disc.
            rows = positions[:, 0, None, None] + np.arange(size)[None, :, None]
            cols = positions[:, 1, None, None] + np.arange(size)[None, None, :]
            self._add_fisheye_sun(image, resolution, inside, (rows * resolution + cols).ravel(), c, beam)
        np.clip(image, 0.0, ENCODING.x_max, out=image)
        return image.reshape(len(positions), size, size, 3)

    def render_directions(self, k: int, directions: np.ndarray, pixel_angle_rad) -> np.ndarray:
        """Radiance (M, 3) float32 nits of frame k along unit view directions (M, 3) (+Y up, -Z north,
        +X east), each standing for a pixel of pixel_angle_rad ((M,) or scalar) across: a perspective
        view, say. The sky is the frame's (same sun, light and clouds); below the horizon it is 0."""
        d = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
        step = np.broadcast_to(np.asarray(pixel_angle_rad, dtype=np.float64), (len(d),))
        up = np.flatnonzero(d[:, 1] >= 0.0)
        c = self._conditions(k)
        out = np.zeros((len(d), 3), np.float32)
        if len(up):
            rgb, beam, _ = self._render(self._rays(d[up], step[up], step[up]), c)
            disc = self._sun_disc(d[up], step[up], c) * beam
            out[up] = rgb + disc[:, None] * sun_radiance(c.elevation, self.config.turbidity).astype(
                np.float32
            )
        return np.clip(out, 0.0, ENCODING.x_max)

    def _add_fisheye_sun(
        self, image, n: int, inside: np.ndarray, flat: np.ndarray, c: _Conditions, beam
    ) -> None:
        """Add the disc (area-integrated, dimmed by the clouds in front of it) to image (P, 3), whose
        pixel p is pixel flat[p] of an n x n fisheye; inside (M,): the pixels beam (M,) belongs to."""
        if c.elevation < -SUN.angular_radius_deg:
            return
        idx, coverage = disc_coverage(n, c.sun_dir)
        pixels = flat[inside]  # frame pixel of each ray
        order = np.argsort(pixels, kind="stable")
        found = np.minimum(np.searchsorted(pixels, idx, sorter=order), len(pixels) - 1)
        ray = order[found]
        hit = pixels[ray] == idx
        radiance = sun_radiance(c.elevation, self.config.turbidity).astype(np.float32)
        image[inside[ray[hit]]] += (coverage[hit] * beam[ray[hit]])[:, None] * radiance

    def _sun_disc(self, d: np.ndarray, step: np.ndarray, c: _Conditions) -> np.ndarray:
        """(M,) disc coverage of rays (M, 3) of pixel size step (M,), 0 away from the sun: the mean
        limb-darkened disc (relative to its mean) over a SUN_SUPERSAMPLE^2 grid on the pixel."""
        out = np.zeros(len(d), np.float32)
        if c.elevation < -SUN.angular_radius_deg:
            return out
        reach = math.radians(SUN.angular_radius_deg) + step  # centre-to-centre, with a margin
        near = np.flatnonzero(d @ c.sun_dir > np.cos(np.minimum(reach, math.pi)))
        if len(near):
            ray = d[near]
            side = np.cross(ray, [0.0, 1.0, 0.0])
            side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-12)
            other = np.cross(side, ray)
            sub = ((np.arange(SUN_SUPERSAMPLE) + 0.5) / SUN_SUPERSAMPLE - 0.5)[None, :, None, None]
            a, b = sub, np.swapaxes(sub, 1, 2)  # (1, s, s, 1) grid offsets
            s = step[near][:, None, None, None]
            points = ray[:, None, None] + s * (a * side[:, None, None] + b * other[:, None, None])
            points /= np.linalg.norm(points, axis=-1, keepdims=True)
            out[near] = disc_profile(points @ c.sun_dir).mean(axis=(1, 2))
        return out

    def _meta(self, k: int, c: _Conditions, cloud_alpha: np.ndarray) -> np.ndarray:
        cfg = self.config
        meta = np.zeros((), FRAME_META_DTYPE)
        meta["t_seconds"] = c.t
        meta["unix_time"] = self.start_unix_time + c.t
        meta["sun_dir"] = c.sun_dir
        # Measured, not the knob: fraction of the sky's solid angle behind mostly opaque cloud.
        meta["cloud_cover"] = float(self.solid_angle @ (cloud_alpha > 0.5)) / float(self.solid_angle.sum())
        meta["wind"] = self.wind_mps
        meta["wind_speed_mps"] = cfg.wind_speed_mps
        meta["wind_towards_deg"] = cfg.wind_towards_deg % 360.0
        meta["cirrus_cover"] = cfg.cirrus_cover
        meta["cirrus_wind_speed_mps"] = cfg.cirrus_wind_scale * cfg.wind_speed_mps
        return meta

    def sequence(self, length: int, start: int = 0) -> SkySequence:
        """Frames start .. start+length-1 as a SkySequence (float16 storage)."""
        frames = np.empty((length, self.config.resolution, self.config.resolution, 3), np.float16)
        meta = np.zeros(length, FRAME_META_DTYPE)
        for i in range(length):
            rgb, meta[i] = self.frame(start + i)
            frames[i] = to_storage(rgb)
        meta["t_seconds"] -= meta["t_seconds"][0] if length else 0.0
        return SkySequence(
            frames=frames,
            meta=meta,
            step_seconds=self.config.step_seconds,
            source=self.config.describe(self.seed),
            attributes={"simulator": "skysim", "seed": self.seed, "config": self.config.to_json()},
        )
