"""The two cloud layers the simulator draws: cumulus (low, thick, self-shadowed) and cirrus
(high, thin, fibrous, stretched along the wind). Each renders itself over the sky behind it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from skyviewer.data.skysim.clouds import (
    LayerGeometry,
    LayerLight,
    Taps,
    composite,
    henyey_greenstein,
    shade_layer,
)
from skyviewer.data.skysim.config import SimConfig
from skyviewer.data.skysim.noise import EvolvingField, spectral_texture

TEXTURE_SIZE = 256
TEXTURE_LEVELS = 9  # prefiltered levels: footprints up to the whole 256-texel tile
CUMULUS_EXTINCTION_PER_M = 0.03  # ~130 m visibility inside a cumulus
NOISE_PEAK_STD = 2.5  # noise level (in std) where a cloud reaches its full thickness
CIRRUS_MAX_TAU = 0.5  # thin, translucent ice (cirrus fibratus: tau ~0.1-1)
CIRRUS_STRETCH = 4.0  # fibres ~4-16x longer (along the wind) than wide, broken along their length
CIRRUS_WARP_M = 600.0  # how far the patch field bends the fibres sideways
# The warp squeezes fibres by up to 1 + |d warp / d y| (~0.35 at 2 sigma for 600 m): their footprint
# level must allow for it, or the squeezed fibres alias into ring-like contours.
CIRRUS_WARP_SQUEEZE = 1.35
# Cirrus ramps are wide (soft wisps), so fewer taps keep them from aliasing.
CIRRUS_MAX_TAPS = 2
FIBRE_THRESHOLD, FIBRE_WIDTH = 0.3, 1.5  # fibres: the upper part of the streak noise, sparse wisps
FRAY = 0.6  # how far the fibres reach past (and eat into) the patch edges: frayed, hooked tails
SHADOW_SAMPLES = 3
EDGE_WIDTH = 0.01  # narrowest cloud edge, in noise std (the footprint's own spread adds to it)
DETAIL = 0.5  # amplitude of the edge-eroding detail noise relative to the base shapes
BILLOW_MEAN = math.sqrt(2.0 / math.pi)  # mean of |N(0, 1)|: keeps the billowed detail zero-mean


def coverage_threshold(cover: float, std: float) -> float:
    """Noise level above which a Gaussian field of this std covers `cover` of the plane."""
    return std * NormalDist().inv_cdf(1.0 - min(max(cover, 0.005), 0.995))


def soft_ramp(noise: np.ndarray, threshold: float, width: float, residual: np.ndarray) -> np.ndarray:
    """clip((noise - threshold) / width, 0, 1), averaged over the residual detail (std, (M,)) a
    prefiltered level smoothed away: the ramp widens so far pixels get partial cover, not aliasing."""
    return np.clip((noise - threshold + residual) / (width + 2.0 * residual), 0.0, 1.0)


def visibility_m(turbidity: float) -> float:
    """Meteorological visibility at the ground for a Preetham turbidity (rough fit: T=2 -> 80 km)."""
    return 80_000.0 / (turbidity - 1.0)


@dataclass
class LayerOutput:
    rgb: np.ndarray
    """(M, 3) radiance with the layer composited over what lay behind it."""
    alpha: np.ndarray
    """(M,) opacity of the layer (before haze): 1 - transmittance of the direct sunbeam."""


@dataclass
class CumulusRays:
    """What the cumulus layer precomputes for one set of view rays."""

    geometry: LayerGeometry
    taps: Taps
    base_level: np.ndarray
    """(T,) texture level offsets of the base shapes, per tap."""
    residual: np.ndarray
    """(T,) std of the base detail each tap's level averaged away."""
    detail_level: np.ndarray
    detail_gain: np.ndarray
    """(T,) amplitude of the billowed detail (fades where a tap averages it out)."""
    haze: np.ndarray
    side_fraction: np.ndarray
    shadow: LayerGeometry
    """The rays at mid-layer, where the sunlight's path is sampled."""
    shadow_level: np.ndarray
    shadow_residual: np.ndarray


class CumulusLayer:
    """Low cumulus: a thick layer whose local thickness follows an evolving noise field."""

    def __init__(self, config: SimConfig, seed: int):
        c = config
        self.config = c
        rng = np.random.default_rng([seed, 1])
        size_m = c.cloud_size_m
        # Base shapes: features from 2x to 1/8x the cell size; detail erodes the edges.
        base = spectral_texture(rng, TEXTURE_SIZE, (64.0, 4.0), slope=3.0, n_levels=TEXTURE_LEVELS)
        detail = spectral_texture(rng, TEXTURE_SIZE, (64.0, 4.0), slope=2.6, n_levels=TEXTURE_LEVELS)
        self.base = EvolvingField(base, 8.0 * size_m, c.cloud_lifetime_s, seed, stream=1)
        self.detail = EvolvingField(detail, 2.0 * size_m, c.cloud_lifetime_s / 3.0, seed, stream=2)
        std = math.hypot(1.0, DETAIL * math.sqrt(1.0 - 2.0 / math.pi))  # std of |N(0, 1)| is sqrt(1 - 2/pi)
        self.threshold = coverage_threshold(c.cloud_cover, std)
        # Thickness ramps from the edge to full at the same noise peak whatever the cover,
        # so an overcast layer keeps thick and thin patches.
        self.width = NOISE_PEAK_STD * std - self.threshold
        # Closed layers are optically thicker than fair-weather cumulus (stratus tau ~20-100).
        self.max_tau = CUMULUS_EXTINCTION_PER_M * c.cloud_thickness_m * (1.0 + 2.0 * c.cloud_cover**2)

    def rays(self, directions: np.ndarray, zenith_step, azimuth_step) -> CumulusRays:
        """Per-ray geometry, taps and texture levels for view rays (M, 3) of the given angular size."""
        c = self.config
        g = LayerGeometry.build(directions, c.cloud_altitude_m, zenith_step, azimuth_step)
        taps = g.taps()
        base_level, residual = self.base.level_of(taps.footprint_m)
        detail_level, _ = self.detail.level_of(taps.footprint_m)
        # Shadows are smooth: sampled once per ray, at mid-layer, at the level of its longest side.
        mid = c.cloud_altitude_m + 0.5 * c.cloud_thickness_m
        shadow = LayerGeometry.build(directions, mid, zenith_step, azimuth_step)
        shadow_level, shadow_residual = self.base.level_of(2.0 * np.maximum(shadow.radial_m, shadow.across_m))
        return CumulusRays(
            geometry=g,
            taps=taps,
            base_level=base_level,
            residual=residual,
            detail_level=detail_level,
            # Far away, the detail averages out within a tap: fade it rather than alias it.
            detail_gain=DETAIL * taps.lod(c.cloud_size_m / 8.0),
            haze=g.haze_transmittance(c.cloud_altitude_m, visibility_m(c.turbidity)),
            side_fraction=1.0 - 1.0 / np.minimum(g.slant, 6.0),
            shadow=shadow,
            shadow_level=shadow_level,
            shadow_residual=shadow_residual,
        )

    def _sun_shadow(self, rays: CumulusRays, where: np.ndarray, t: float, drift, sun_dir) -> np.ndarray:
        """Transmittance (len(where),) of the sunlight through neighbouring cloud towards the sun,
        for the rays `where` (the covered ones: elsewhere it multiplies nothing)."""
        g = rays.shadow
        horizontal = np.array([sun_dir[0], -sun_dir[2]])
        tan_zenith = np.linalg.norm(horizontal) / max(sun_dir[1], 1e-3)
        heading = horizontal / max(np.linalg.norm(horizontal), 1e-9)
        reach_m = self.config.cloud_thickness_m * min(max(tan_zenith, 0.3), 5.0)
        x, y, level, residual = (
            g.x_m[where],
            g.y_m[where],
            rays.shadow_level[where],
            rays.shadow_residual[where],
        )
        depth = 0.0
        for k in range(1, SHADOW_SAMPLES + 1):
            dx, dy = heading * reach_m * k / SHADOW_SAMPLES
            noise = self.base.sample(x + np.float32(dx), y + np.float32(dy), t, drift, level)
            depth = depth + soft_ramp(noise, self.threshold, self.width, residual)
        return np.exp(-3.0 * depth / SHADOW_SAMPLES)

    def _covered_thickness(self, rays: CumulusRays, t: float, drift) -> tuple[np.ndarray, np.ndarray]:
        """Fraction (M,) of each ray's footprint that is cloud, and the thickness (M,) of that cloud.

        Per tap: the edge is a ramp as wide as the field changes across the tap (its gradient times
        the footprint: analytic anti-aliasing, so edges stay one pixel wide at any resolution) and
        the detail its level averaged away (residual). A far ray averages clouds and gaps over its
        taps. Averaging the optical depth would spread the clouds into a thin uniform sheet (a pale
        band above the horizon); averaging coverage keeps them broken: the ray is `covered` of cloud
        as thick as the clouds it contains (the level plus ~0.8 std of residual: the mean excess of
        a Gaussian's upper tail).
        """
        taps, r = rays.taps, rays.residual
        noise, gx, gy = self.base.sample(taps.x_m, taps.y_m, t, drift, rays.base_level, gradient=True)
        # Billowed detail (|noise|, creased at its zeros) gives cumulus edges a cauliflower look.
        detail, dx, dy = self.detail.sample(taps.x_m, taps.y_m, t, drift, rays.detail_level, gradient=True)
        sign = np.sign(detail) * rays.detail_gain
        noise += (np.abs(detail) - np.float32(BILLOW_MEAN)) * rays.detail_gain
        excess = noise - np.float32(self.threshold)
        edge = np.hypot(taps.spread(gx + sign * dx, gy + sign * dy), 2.0 * r) + np.float32(EDGE_WIDTH)
        covered = np.clip(0.5 + excess / edge, 0.0, 1.0)
        thickness = np.clip((np.maximum(excess, 0.0) + 0.8 * r) / np.float32(self.width), 0.0, 1.0)
        covered_mean = taps.mean(covered)
        thickness_mean = taps.mean(covered * thickness) / np.maximum(covered_mean, np.float32(1e-6))
        return covered_mean, thickness_mean

    def render(
        self, rays: CumulusRays, behind, t, drift, sun_dir, cos_gamma, cos_dazimuth, light: LayerLight
    ) -> LayerOutput:
        """cos_gamma, cos_dazimuth (M,): cos of the angle and of the azimuth difference to the sun."""
        g = rays.geometry
        # Domed thickness profile: cumulus thin out gradually towards their edges (ramp^2 for fair
        # weather), so the thin rims that transmit and forward-scatter sunlight are several pixels
        # wide - soft, bright edges around darker cores. A closing layer flattens into a sheet
        # (exponent -> 1 at full cover): stratus has no thin gaps for the sun to shine through.
        covered, thickness = self._covered_thickness(rays, t, drift)
        tau = thickness ** np.float32(2.0 - self.config.cloud_cover) * self.max_tau
        shadow = np.ones_like(covered)
        if light.sun_irradiance.any():
            where = np.flatnonzero(covered > 0.0)
            shadow[where] = self._sun_shadow(rays, where, t, drift, sun_dir)
        phase = 0.8 * henyey_greenstein(cos_gamma, 0.85) + 0.2 * henyey_greenstein(cos_gamma, -0.3)
        # Towards the horizon we see cloud sides; those facing the sun (looking away from it) are lit.
        sun_side = math.hypot(sun_dir[0], sun_dir[2]) * np.clip(0.5 - 0.5 * cos_dazimuth, 0.0, 1.0)
        side_view = rays.side_fraction * sun_side
        rgb, alpha = shade_layer(
            tau, np.minimum(g.slant, 6.0), shadow, phase, side_view, light, asymmetry=0.85
        )
        rgb *= covered[:, None]
        alpha *= covered
        return LayerOutput(composite(behind, rgb, alpha, rays.haze, self.config.cloud_cover), alpha)


@dataclass
class CirrusRays:
    """What the cirrus layer precomputes for one set of view rays."""

    taps: Taps
    x: np.ndarray
    """(T,) tap positions along the wind (m)."""
    y: np.ndarray
    """(T,) tap positions across the wind (m)."""
    streak_level: np.ndarray
    streak_residual: np.ndarray
    patch_level: np.ndarray
    edge_residual: np.ndarray
    slant: np.ndarray
    haze: np.ndarray


class CirrusLayer:
    """High, thin ice cloud: fibres (noise stretched along the wind, bent by a domain warp) that
    only show inside patches, strongly forward scattering."""

    def __init__(self, config: SimConfig, seed: int):
        c = config
        self.config = c
        rng = np.random.default_rng([seed, 2])
        # Fibres 0.6-5 km across (the texel-space guard in spectral_texture keeps them above 4 texels).
        streaks = spectral_texture(
            rng, TEXTURE_SIZE, (128.0, 4.0), slope=1.6, stretch=CIRRUS_STRETCH, n_levels=TEXTURE_LEVELS
        )
        patches = spectral_texture(rng, TEXTURE_SIZE, (128.0, 8.0), slope=3.0, n_levels=TEXTURE_LEVELS)
        self.streaks = EvolvingField(streaks, 40_000.0, 2.0 * c.cloud_lifetime_s, seed, stream=3)
        self.patches = EvolvingField(patches, 120_000.0, 4.0 * c.cloud_lifetime_s, seed, stream=4)
        # Work in wind-aligned coordinates so the streaks (texture u axis) lie along the wind.
        a = math.radians(c.wind_towards_deg)
        self.along = np.array([math.sin(a), math.cos(a)])  # unit (east, north) of the wind
        self.threshold = coverage_threshold(c.cirrus_cover, math.hypot(1.0, FRAY))
        self.speed_scale = c.cirrus_wind_scale
        self.cover = c.cirrus_cover

    def rays(self, directions: np.ndarray, zenith_step, azimuth_step) -> CirrusRays:
        c = self.config
        geometry = LayerGeometry.build(directions, c.cirrus_altitude_m, zenith_step, azimuth_step)
        taps = geometry.taps(CIRRUS_MAX_TAPS)
        streak_level, streak_residual = self.streaks.level_of(taps.footprint_m * CIRRUS_WARP_SQUEEZE)
        patch_level, patch_residual = self.patches.level_of(taps.footprint_m)
        ax, ay = np.float32(self.along[0]), np.float32(self.along[1])
        return CirrusRays(
            taps=taps,
            x=taps.x_m * ax + taps.y_m * ay,
            y=-taps.x_m * ay + taps.y_m * ax,
            streak_level=streak_level,
            streak_residual=streak_residual,
            patch_level=patch_level,
            edge_residual=np.hypot(patch_residual, FRAY * streak_residual).astype(np.float32),
            slant=np.minimum(geometry.slant, 10.0),
            haze=geometry.haze_transmittance(c.cirrus_altitude_m, visibility_m(c.turbidity)),
        )

    def render(self, rays: CirrusRays, behind, t, drift, cos_gamma, light: LayerLight) -> LayerOutput:
        drift_along = np.array([self.speed_scale * float(drift @ self.along), 0.0])
        patch = self.patches.sample(rays.x, rays.y, t, drift_along, rays.patch_level)
        # Domain warp: the patch field bends the fibres across the wind, as shear and fall streaks
        # curl real cirrus (mares' tails) instead of ruling straight lines.
        bent = rays.y + np.float32(CIRRUS_WARP_M) * patch
        fibre = self.streaks.sample(rays.x, bent, t, drift_along, rays.streak_level)
        # Patches whose edges the fibres fray: wisps trail out of a patch and gaps open inside it.
        inside = soft_ramp(patch + FRAY * fibre, self.threshold, 1.5, rays.edge_residual)
        # Inside a patch only the upper part of the streak noise is ice: sparse, separate wisps. The
        # ramp is averaged over the detail a far tap's level smoothed away (soft_ramp), so far
        # fibres fade to their mean density, not to nothing or to aliased lines.
        wisps = soft_ramp(fibre, FIBRE_THRESHOLD, FIBRE_WIDTH, rays.streak_residual)
        tau = rays.taps.mean(inside * wisps) * np.float32(CIRRUS_MAX_TAU)
        phase = henyey_greenstein(cos_gamma, 0.75)
        rgb, alpha = shade_layer(tau, rays.slant, 1.0, phase, 0.0, light, asymmetry=0.75)
        return LayerOutput(composite(behind, rgb, alpha, rays.haze, self.cover), alpha)
