"""SkySim: frames of a simulated sky at random access, deterministic per (config, seed, k)."""

from __future__ import annotations

import math

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
from skyviewer.data.skysim.layers import CirrusLayer, CumulusLayer
from skyviewer.data.skysim.scattering import SUN_SOLID_ANGLE_SR, ScatteringTable, henyey_greenstein
from skyviewer.data.skysim.sun import disc_coverage
from skyviewer.data.types import FRAME_META_DTYPE, SkySequence
from skyviewer.sky.projection import direction_from_angles, fisheye_directions
from skyviewer.sky.radiance import ENCODING, SUN, to_storage
from skyviewer.sky.solar import solar_position

# The reddening tint fades in below this sun elevation (deg): above it Preetham's colour holds.
REDDENING_START_DEG = 25.0
# Multiple scattering roughly doubles the singly scattered twilight glow (Bruneton & Neyret 2008).
TWILIGHT_SINGLE_SCATTERING_GAIN = 2.0


class SkySim:
    """The built-in physically based sky simulator (see docs/skysim.md).

    All per-pixel geometry (view rays, layer intersections, Preetham's theta terms) is
    computed here once; frame(k) only evaluates what changes with time.
    """

    def __init__(self, config: SimConfig, seed: int = 0):
        self.config, self.seed = config, int(seed)
        n = config.resolution
        directions, mask = fisheye_directions(n, dtype=np.float64)
        self.inside = np.flatnonzero(mask.ravel())  # (M,) flat pixel indices inside the horizon
        d = directions.reshape(-1, 3)[self.inside]  # (M, 3)
        self.directions = d.astype(np.float32)
        self.zenith_pixel = int(np.argmax(d[:, 1]))
        self.pixel_angle = math.pi / n  # fisheye: 90 deg over n/2 pixels
        theta = np.arccos(np.clip(d[:, 1], -1.0, 1.0))
        solid_angle = self.pixel_angle**2 * np.sinc(theta / math.pi)  # sin(theta)/theta * pixel area
        self.solid_angle = solid_angle.astype(np.float32)
        self.irradiance_weights = (solid_angle * d[:, 1]).astype(np.float32)
        horizontal = np.stack([d[:, 0], -d[:, 2]], axis=1)  # (M, 2) east, north
        self.horizontal = (
            horizontal / np.maximum(np.linalg.norm(horizontal, axis=1, keepdims=True), 1e-9)
        ).astype(np.float32)
        self.preetham = PreethamSky(config.turbidity, d[:, 1])
        self.twilight = TwilightSky(self.preetham, d[:, 1])
        self.scattering = ScatteringTable(config.turbidity, np.arcsin(np.clip(d[:, 1], 0.0, 1.0)))
        # Sunlight above the atmosphere: SUN.luminance_nits is the disc seen from the ground (T = 3).
        zenith_sun = float(sun_transmittance(90.0, 3.0) @ LUMA)
        self.sun_top_of_atmosphere = SUN.luminance_nits * SUN_SOLID_ANGLE_SR / zenith_sun
        self.cumulus = self._build_cumulus(n) if config.cloud_cover > 0 else None
        self.cirrus = CirrusLayer(config, self.seed, d, self.pixel_angle) if config.cirrus_cover > 0 else None
        a = math.radians(config.wind_towards_deg)
        self.wind_mps = config.wind_speed_mps * np.array([math.sin(a), math.cos(a)])  # (east, north)
        self.start_unix_time = config.start_unix_time

    def _build_cumulus(self, n: int) -> CumulusLayer:
        half = max(n // 2, 1)
        low_dirs, _ = fisheye_directions(half, dtype=np.float64)  # (n/2, n/2, 3), also outside the circle
        rows, cols = np.divmod(self.inside, n)
        parent = (rows // 2) * half + cols // 2  # (M,) low-res pixel of each pixel
        return CumulusLayer(
            self.config,
            self.seed,
            self.directions.astype(np.float64),
            low_dirs.reshape(-1, 3),
            parent,
            self.pixel_angle,
        )

    # ------------------------------------------------------------------ sky

    def _clear_sky(self, elevation_deg: float, cos_gamma: np.ndarray, cos_dazimuth: np.ndarray) -> np.ndarray:
        """Cloudless sky radiance (M, 3): Preetham by day, reddened at low sun by the colour of the
        sunlight where it scattered; after sunset the twilight floor plus single scattering."""
        top = np.full(3, self.sun_top_of_atmosphere)
        single, reddening = self.scattering.radiance(elevation_deg, cos_dazimuth, cos_gamma, top)
        day_weight = float(smoothstep(TWILIGHT_END_DEG, DAY_START_DEG, elevation_deg))
        sky = 0.0
        if day_weight > 0.0:
            theta_s = math.radians(90.0 - elevation_deg)
            day = self.preetham.radiance(cos_gamma, theta_s)
            # Aerosol aureole: the narrow forward peak Preetham's smooth fit leaves out.
            sun_e = sun_radiance(elevation_deg, self.config.turbidity) * SUN_SOLID_ANGLE_SR
            beta = 0.04608 * self.config.turbidity - 0.04586
            day += (0.1 * beta * henyey_greenstein(cos_gamma, 0.93))[:, None] * sun_e.astype(np.float32)
            # Preetham's fit keeps the colour of a high sun away from the zenith. As the sun sinks,
            # tint each direction by the colour the sunlight had where that direction's light was
            # scattered (luminance kept), relative to the zenith's: Preetham's zenith chromaticity is
            # fitted to measured skies and already holds the zenith's reddening (tinting it again
            # turned the sunset zenith grey).
            tint = reddening / np.maximum(reddening[self.zenith_pixel], 1e-6)
            tint /= np.maximum(tint @ LUMA, 1e-6)[:, None]
            w = np.float32(smoothstep(REDDENING_START_DEG, 0.0, elevation_deg))
            sky = day_weight * day * (1.0 + w * (tint - 1.0))
        if day_weight < 1.0:
            twilight = self.twilight.radiance(elevation_deg) + TWILIGHT_SINGLE_SCATTERING_GAIN * single
            sky = sky + (1.0 - day_weight) * twilight
        return sky.astype(np.float32)

    def _layer_light(self, altitude_m: float, elevation_deg: float, sky: np.ndarray) -> LayerLight:
        """Light on a layer: the sun (up for high clouds after it set for us), the sky, the ground."""
        dip_deg = math.degrees(math.sqrt(2.0 * altitude_m / EARTH_RADIUS_M)) + SUN.angular_radius_deg
        visible = float(smoothstep(-dip_deg - 0.5, -dip_deg + 0.5, elevation_deg))
        sun = sun_radiance(elevation_deg, self.config.turbidity, altitude_m) * SUN_SOLID_ANGLE_SR * visible
        sky_irradiance = self.irradiance_weights @ sky  # (3,)
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

    def frame(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame k: radiance (N, N, 3) float32 in nits (0 outside the horizon) and its meta record."""
        c = self.config
        t = k * c.step_seconds
        sun_dir, elevation = self.sun(k)
        cos_gamma = self.directions @ sun_dir.astype(np.float32)  # (M,)
        sun_h = np.array([sun_dir[0], -sun_dir[2]], dtype=np.float32)
        cos_dazimuth = self.horizontal @ (sun_h / max(float(np.linalg.norm(sun_h)), 1e-9))  # (M,)
        sky = self._clear_sky(elevation, cos_gamma, cos_dazimuth)
        rgb, beam = sky, np.ones(len(self.inside), np.float32)
        drift = self.wind_mps * t
        alpha_total = np.zeros(len(self.inside), np.float32)
        if self.cirrus is not None:
            light = self._layer_light(c.cirrus_altitude_m, elevation, sky)
            out = self.cirrus.render(rgb, t, drift, cos_gamma, light)
            rgb, beam, alpha_total = out.rgb, beam * (1.0 - out.alpha), out.alpha
        if self.cumulus is not None:
            light = self._layer_light(c.cloud_altitude_m, elevation, sky)
            out = self.cumulus.render(rgb, t, drift, sun_dir, cos_gamma, cos_dazimuth, light)
            rgb, beam = out.rgb, beam * (1.0 - out.alpha)
            alpha_total = 1.0 - (1.0 - alpha_total) * (1.0 - out.alpha)
        image = np.zeros((c.resolution * c.resolution, 3), np.float32)
        image[self.inside] = rgb
        self._add_sun_disc(image, sun_dir, elevation, beam)
        np.clip(image, 0.0, ENCODING.x_max, out=image)
        meta = self._meta(k, t, sun_dir, alpha_total)
        return image.reshape(c.resolution, c.resolution, 3), meta

    def _add_sun_disc(
        self, image: np.ndarray, sun_dir: np.ndarray, elevation: float, beam: np.ndarray
    ) -> None:
        """Add the disc (area-integrated, dimmed by the clouds in front of it) to image (N*N, 3)."""
        if elevation < -SUN.angular_radius_deg:
            return
        idx, coverage = disc_coverage(self.config.resolution, sun_dir)
        position = np.searchsorted(self.inside, idx)
        ok = (position < len(self.inside)) & (self.inside[np.minimum(position, len(self.inside) - 1)] == idx)
        radiance = sun_radiance(elevation, self.config.turbidity).astype(np.float32)
        image[idx[ok]] += (coverage[ok] * beam[position[ok]])[:, None] * radiance

    def _meta(self, k: int, t: float, sun_dir: np.ndarray, cloud_alpha: np.ndarray) -> np.ndarray:
        meta = np.zeros((), FRAME_META_DTYPE)
        meta["t_seconds"] = t
        meta["unix_time"] = self.start_unix_time + t
        meta["sun_dir"] = sun_dir
        # Measured, not the knob: fraction of the sky's solid angle behind mostly opaque cloud.
        meta["cloud_cover"] = float(self.solid_angle @ (cloud_alpha > 0.5)) / float(self.solid_angle.sum())
        meta["wind"] = self.wind_mps
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
