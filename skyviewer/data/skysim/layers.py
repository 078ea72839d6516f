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
FIBRE_THRESHOLD, FIBRE_WIDTH = 0.3, 1.5  # fibres: the upper part of the streak noise, sparse wisps
FRAY = 0.6  # how far the fibres reach past (and eat into) the patch edges: frayed, hooked tails
SHADOW_SAMPLES = 3
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


class CumulusLayer:
    """Low cumulus: a thick layer whose local thickness follows an evolving noise field."""

    def __init__(
        self, config: SimConfig, seed: int, directions, shadow_directions, shadow_parent, pixel_angle
    ):
        c = config
        self.config = c
        rng = np.random.default_rng([seed, 1])
        size_m = c.cloud_size_m
        # Base shapes: features from 2x to 1/8x the cell size; detail erodes the edges.
        base = spectral_texture(rng, TEXTURE_SIZE, (64.0, 4.0), slope=3.0, n_levels=TEXTURE_LEVELS)
        detail = spectral_texture(rng, TEXTURE_SIZE, (64.0, 4.0), slope=2.6, n_levels=TEXTURE_LEVELS)
        self.base = EvolvingField(base, 8.0 * size_m, c.cloud_lifetime_s, seed, stream=1)
        self.detail = EvolvingField(detail, 2.0 * size_m, c.cloud_lifetime_s / 3.0, seed, stream=2)
        g = self.geometry = LayerGeometry.build(directions, c.cloud_altitude_m, pixel_angle)
        self.base_level, self.residual = self.base.level_of(g.footprint_m)
        self.detail_level, _ = self.detail.level_of(g.footprint_m)
        # Far away, the detail averages out within a pixel: fade it rather than alias it.
        self.detail_gain = DETAIL * g.lod(size_m / 8.0)
        self.haze = self.geometry.haze_transmittance(c.cloud_altitude_m, visibility_m(c.turbidity))
        std = math.hypot(1.0, DETAIL * math.sqrt(1.0 - 2.0 / math.pi))  # std of |N(0, 1)| is sqrt(1 - 2/pi)
        self.threshold = coverage_threshold(c.cloud_cover, std)
        # Thickness ramps from the edge to full at the same noise peak whatever the cover,
        # so an overcast layer keeps thick and thin patches.
        self.width = NOISE_PEAK_STD * std - self.threshold
        # Closed layers are optically thicker than fair-weather cumulus (stratus tau ~20-100).
        self.max_tau = CUMULUS_EXTINCTION_PER_M * c.cloud_thickness_m * (1.0 + 2.0 * c.cloud_cover**2)
        # Shadows are sampled at half resolution, at mid-layer, and gathered back per pixel.
        mid = c.cloud_altitude_m + 0.5 * c.cloud_thickness_m
        self.shadow_geometry = LayerGeometry.build(shadow_directions, mid, 2.0 * pixel_angle)
        self.shadow_level, self.shadow_residual = self.base.level_of(self.shadow_geometry.footprint_m)
        self.shadow_parent = shadow_parent
        self.side_fraction = 1.0 - 1.0 / np.minimum(self.geometry.slant, 6.0)  # (M,)

    def _sun_shadow(self, t: float, drift: np.ndarray, sun_dir: np.ndarray) -> np.ndarray:
        """Transmittance (M,) of the sunlight through neighbouring cloud towards the sun."""
        g = self.shadow_geometry
        horizontal = np.array([sun_dir[0], -sun_dir[2]])
        tan_zenith = np.linalg.norm(horizontal) / max(sun_dir[1], 1e-3)
        heading = horizontal / max(np.linalg.norm(horizontal), 1e-9)
        reach_m = self.config.cloud_thickness_m * min(max(tan_zenith, 0.3), 5.0)
        depth = 0.0
        for k in range(1, SHADOW_SAMPLES + 1):
            dx, dy = heading * reach_m * k / SHADOW_SAMPLES
            noise = self.base.sample(
                g.x_m + np.float32(dx), g.y_m + np.float32(dy), t, drift, self.shadow_level
            )
            depth = depth + soft_ramp(noise, self.threshold, self.width, self.shadow_residual)
        return np.exp(-3.0 * depth / SHADOW_SAMPLES)[self.shadow_parent]

    def _covered_thickness(self, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fraction (M,) of each pixel's footprint that is cloud, and the thickness (M,) of that cloud.

        A far pixel averages clouds and gaps. Averaging the optical depth would spread the clouds
        into a thin uniform sheet (a pale band above the horizon); averaging the opacity keeps them
        broken: the pixel is `covered` (the fraction of the residual detail's Gaussian above the
        threshold, linearised as in soft_ramp) of cloud as thick as the clouds it contains (the
        prefiltered level plus ~0.8 std of residual: the mean excess of a Gaussian's upper tail).
        """
        r = self.residual
        excess = noise - np.float32(self.threshold)
        covered = np.clip((excess + r) / (2.0 * r + np.float32(0.05)), 0.0, 1.0)
        thickness = np.clip((np.maximum(excess, 0.0) + 0.8 * r) / np.float32(self.width), 0.0, 1.0)
        return covered, thickness

    def render(self, behind, t, drift, sun_dir, cos_gamma, cos_dazimuth, light: LayerLight) -> LayerOutput:
        """cos_gamma, cos_dazimuth (M,): cos of the angle and of the azimuth difference to the sun."""
        g = self.geometry
        noise = self.base.sample(g.x_m, g.y_m, t, drift, self.base_level)
        # Billowed detail (|noise|, creased at its zeros) gives cumulus edges a cauliflower look.
        detail = np.abs(self.detail.sample(g.x_m, g.y_m, t, drift, self.detail_level)) - BILLOW_MEAN
        noise += detail * self.detail_gain
        # Domed thickness profile: cumulus thin out gradually towards their edges (ramp^2 for fair
        # weather), so the thin rims that transmit and forward-scatter sunlight are several pixels
        # wide - soft, bright edges around darker cores. A closing layer flattens into a sheet
        # (exponent -> 1 at full cover): stratus has no thin gaps for the sun to shine through.
        covered, thickness = self._covered_thickness(noise)
        tau = thickness ** np.float32(2.0 - self.config.cloud_cover) * self.max_tau
        shadow = self._sun_shadow(t, drift, sun_dir) if light.sun_irradiance.any() else 1.0
        phase = 0.8 * henyey_greenstein(cos_gamma, 0.85) + 0.2 * henyey_greenstein(cos_gamma, -0.3)
        # Towards the horizon we see cloud sides; those facing the sun (looking away from it) are lit.
        sun_side = math.hypot(sun_dir[0], sun_dir[2]) * np.clip(0.5 - 0.5 * cos_dazimuth, 0.0, 1.0)
        side_view = self.side_fraction * sun_side
        rgb, alpha = shade_layer(
            tau, np.minimum(g.slant, 6.0), shadow, phase, side_view, light, asymmetry=0.85
        )
        rgb *= covered[:, None]
        alpha *= covered
        return LayerOutput(composite(behind, rgb, alpha, self.haze, self.config.cloud_cover), alpha)


class CirrusLayer:
    """High, thin ice cloud: fibres (noise stretched along the wind, bent by a domain warp) that
    only show inside patches, strongly forward scattering."""

    def __init__(self, config: SimConfig, seed: int, directions, pixel_angle):
        c = config
        rng = np.random.default_rng([seed, 2])
        # Fibres 0.6-5 km across (the texel-space guard in spectral_texture keeps them above 4 texels).
        streaks = spectral_texture(
            rng, TEXTURE_SIZE, (128.0, 4.0), slope=1.6, stretch=CIRRUS_STRETCH, n_levels=TEXTURE_LEVELS
        )
        patches = spectral_texture(rng, TEXTURE_SIZE, (128.0, 8.0), slope=3.0, n_levels=TEXTURE_LEVELS)
        self.streaks = EvolvingField(streaks, 40_000.0, 2.0 * c.cloud_lifetime_s, seed, stream=3)
        self.patches = EvolvingField(patches, 120_000.0, 4.0 * c.cloud_lifetime_s, seed, stream=4)
        geometry = LayerGeometry.build(directions, c.cirrus_altitude_m, pixel_angle)
        self.streak_level, self.streak_residual = self.streaks.level_of(
            geometry.footprint_m * CIRRUS_WARP_SQUEEZE
        )
        self.patch_level, patch_residual = self.patches.level_of(geometry.footprint_m)
        self.edge_residual = np.hypot(patch_residual, FRAY * self.streak_residual).astype(np.float32)
        # Work in wind-aligned coordinates so the streaks (texture u axis) lie along the wind.
        a = math.radians(c.wind_towards_deg)
        self.along = np.array([math.sin(a), math.cos(a)])  # unit (east, north) of the wind
        self.x = geometry.x_m * np.float32(self.along[0]) + geometry.y_m * np.float32(self.along[1])
        self.y = -geometry.x_m * np.float32(self.along[1]) + geometry.y_m * np.float32(self.along[0])
        self.slant = np.minimum(geometry.slant, 10.0)
        self.haze = geometry.haze_transmittance(c.cirrus_altitude_m, visibility_m(c.turbidity))
        self.threshold = coverage_threshold(c.cirrus_cover, math.hypot(1.0, FRAY))
        self.speed_scale = c.cirrus_wind_scale
        self.cover = c.cirrus_cover

    def render(self, behind, t, drift, cos_gamma, light: LayerLight) -> LayerOutput:
        drift_along = np.array([self.speed_scale * float(drift @ self.along), 0.0])
        patch = self.patches.sample(self.x, self.y, t, drift_along, self.patch_level)
        # Domain warp: the patch field bends the fibres across the wind, as shear and fall streaks
        # curl real cirrus (mares' tails) instead of ruling straight lines.
        bent = self.y + np.float32(CIRRUS_WARP_M) * patch
        fibre = self.streaks.sample(self.x, bent, t, drift_along, self.streak_level)
        # Patches whose edges the fibres fray: wisps trail out of a patch and gaps open inside it.
        inside = soft_ramp(patch + FRAY * fibre, self.threshold, 1.5, self.edge_residual)
        # Inside a patch only the upper part of the streak noise is ice: sparse, separate wisps. The
        # ramp is averaged over the detail a far pixel's level smoothed away (soft_ramp), so far
        # fibres fade to their mean density, not to nothing or to aliased lines.
        wisps = soft_ramp(fibre, FIBRE_THRESHOLD, FIBRE_WIDTH, self.streak_residual)
        tau = inside * wisps * CIRRUS_MAX_TAU
        phase = henyey_greenstein(cos_gamma, 0.75)
        rgb, alpha = shade_layer(tau, self.slant, 1.0, phase, 0.0, light, asymmetry=0.75)
        return LayerOutput(composite(behind, rgb, alpha, self.haze, self.cover), alpha)
