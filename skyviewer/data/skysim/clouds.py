"""Cloud layers: where each pixel's view ray meets a layer, the layer's density, and its light.

Geometry: a layer is a spherical shell at altitude h over a spherical Earth (R = 6371 km),
so a view ray always meets it, at distance t = -R mu + sqrt(R^2 mu^2 + 2 R h + h^2)
(mu = cos of the view zenith angle). Clouds therefore shrink towards the horizon, their
slant path through the layer grows (they thicken into a band), and haze swallows them.

Light (seen from below), per layer, premultiplied by coverage:
  * single scattering of the sun through the optical depth tau_v along the view ray,
    with a Henyey-Greenstein phase function: P(gamma) tau_v exp(-tau_v). Strong only
    where the cloud is thin and near the sun: the silver lining;
  * multiple scattering: the diffuse transmission of a slab, 1 / (1 + 3/4 (1 - g) tau)
    (two-stream / Eddington), lit by the sun and by the clear sky above; thick clouds
    have dark bases;
  * self-shadowing: a few samples of the density field towards the sun attenuate the
    sunlight reaching a point (neighbouring towers shadow it at low sun);
  * ground bounce: light reflected by the ground onto the base;
  * aerial perspective: the layer fades into the sky behind with the haze optical depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from skyviewer.data.skysim.scattering import (  # noqa: F401 (henyey_greenstein re-exported)
    AEROSOL_SCALE_HEIGHT_M,
    RAYLEIGH_SCALE_HEIGHT_M,
    henyey_greenstein,
    rayleigh_depth,
)

EARTH_RADIUS_M = 6.371e6
GROUND_ALBEDO = 0.2


@dataclass
class LayerGeometry:
    """Per-pixel intersections of the view rays with one layer; flat arrays (M,)."""

    x_m: np.ndarray
    """East coordinate of the hit point (m)."""
    y_m: np.ndarray
    """North coordinate of the hit point (m)."""
    distance_m: np.ndarray
    """Distance along the view ray to the layer (m)."""
    slant: np.ndarray
    """1 / cos of the local zenith angle at the hit point: path length through the layer per thickness."""
    footprint_m: np.ndarray
    """Length (m) of a pixel's footprint on the layer that picks its level of detail. Towards the
    horizon the footprint is long radially (x slant) and short across: radial^3/4 x across^1/4
    keeps the across-view detail (the broken look of far clouds, compressed by perspective) instead
    of blurring everything to the long side, while leaving little radial detail to alias."""

    @classmethod
    def build(cls, directions: np.ndarray, altitude_m: float, pixel_angle_rad: float) -> LayerGeometry:
        """directions (M, 3) unit view rays; rays below the horizon are clamped to it."""
        r, h = EARTH_RADIUS_M, altitude_m
        mu = np.clip(directions[:, 1].astype(np.float64), 0.0, 1.0)
        t = -r * mu + np.sqrt(r * r * mu * mu + 2.0 * r * h + h * h)
        mu_local = (r * mu + t) / (r + h)
        slant = 1.0 / np.maximum(mu_local, 0.02)
        horizontal = np.sqrt(np.maximum(1.0 - mu * mu, 1e-12))
        scale = t * horizontal / np.maximum(np.hypot(directions[:, 0], directions[:, 2]), 1e-12)
        # Radial side t * da * slant; azimuthal side t * da * sin(theta)/theta (equidistant fisheye).
        theta = np.arccos(mu)
        footprint = t * pixel_angle_rad * slant**0.75 * np.sinc(theta / math.pi) ** 0.25
        f32 = np.float32
        return cls(
            x_m=(directions[:, 0] * scale).astype(f32),
            y_m=(-directions[:, 2] * scale).astype(f32),
            distance_m=t.astype(f32),
            slant=slant.astype(f32),
            footprint_m=footprint.astype(f32),
        )

    def haze_transmittance(self, altitude_m: float, visibility_m: float) -> np.ndarray:
        """Transmittance (M,) of the air between the observer and the layer: aerosol (Koschmieder
        extinction at the ground, thinning with its scale height) and Rayleigh (green channel).
        Clouds near the horizon lie 100-300 km away: the air's own optical depth (~1-3) fades them
        into the horizon sky, the aerial perspective that turns a far cloud field into haze."""

        def mean_density(scale_height_m: float) -> float:
            return scale_height_m / altitude_m * (1.0 - math.exp(-altitude_m / scale_height_m))

        beta = 3.912 / visibility_m * mean_density(AEROSOL_SCALE_HEIGHT_M) + float(
            rayleigh_depth()[1]
        ) / RAYLEIGH_SCALE_HEIGHT_M * mean_density(RAYLEIGH_SCALE_HEIGHT_M)
        return np.exp(-beta * self.distance_m).astype(np.float32)

    def lod(self, feature_m: float) -> np.ndarray:
        """Contrast (M,) left of noise with features of size feature_m when averaged over a pixel."""
        return (1.0 / np.sqrt(1.0 + (self.footprint_m / feature_m) ** 2)).astype(np.float32)


@dataclass
class LayerLight:
    """The light falling on a cloud layer this frame (RGB irradiances, lux-like units)."""

    sun_irradiance: np.ndarray
    """(3,) normal irradiance of the sun at the layer (0 when the sun is set for it)."""
    sun_cos_zenith: float
    """cos of the sun zenith angle (clamped at 0)."""
    sun_from_below: float
    """0..1: how much the sun shines up onto the cloud bases (sun below the layer's horizontal)."""
    sky_irradiance: np.ndarray
    """(3,) horizontal irradiance from the clear sky above."""
    ground_irradiance: np.ndarray
    """(3,) irradiance reaching the ground (lights the cloud base from below)."""


def multiple_scattering_octaves(tau: np.ndarray, asymmetry: float, octaves: int = 3) -> np.ndarray:
    """Diffuse transmission (M,) of a slab with Wrenninge's multiple-scattering octaves (Wrenninge,
    "Oz: The Great and Volumetric", SIGGRAPH 2013 talk): octave i sees the optical depth scaled by
    a^i and weighs b^i (a = b = 1/2), standing in for the light that scattered many times and went
    deep. Each octave is the two-stream slab 1 / (1 + 3/4 (1 - g) a^i tau); normalised to 1 for a
    thin cloud, it keeps thick cloud brighter than one two-stream term (bright bulk, grey base)."""
    total, weight = 0.0, 0.0
    for i in range(octaves):
        total = total + 0.5**i / (1.0 + 0.75 * (1.0 - asymmetry) * 0.5**i * tau)
        weight += 0.5**i
    return total / weight


def shade_layer(
    tau: np.ndarray,
    slant: np.ndarray,
    sun_shadow: np.ndarray | float,
    phase: np.ndarray,
    side_view: np.ndarray | float,
    light: LayerLight,
    asymmetry: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied radiance (M, 3) and opacity (M,) of a layer with vertical optical depth tau (M,).

    phase: (M,) phase function towards the viewer; sun_shadow: (M,) or scalar transmittance
    of the sunlight before it reaches the point; side_view: (M,) or scalar fraction of what
    the pixel sees that is a sunlit cloud side rather than the base (grows towards the
    horizon, away from the sun).
    """
    tau_view = tau * slant
    transmitted = np.exp(-tau_view)
    alpha = 1.0 - transmitted
    single = phase * tau_view * transmitted  # (M,)
    diffuse_transmission = 1.0 / (1.0 + 0.75 * (1.0 - asymmetry) * tau)
    multiple = (alpha - tau_view * transmitted) * multiple_scattering_octaves(tau, asymmetry) / math.pi
    # Sunlit sides, and bases lit from below around sunset, reflect with albedo 1 - T_d.
    reflected = (side_view + light.sun_from_below) * alpha * (1.0 - diffuse_transmission) / math.pi
    # Low sun lights the clouds' sides too, not only their tops: soften the cos factor.
    sun_incidence = 0.3 + 0.7 * light.sun_cos_zenith
    # Neighbouring cloud blocks the direct beam; the diffuse light inside a layer is only dimmed.
    direct = sun_shadow * (single + reflected) + (0.5 + 0.5 * sun_shadow) * multiple * sun_incidence
    sun = direct[:, None] * light.sun_irradiance
    sky = multiple[:, None] * light.sky_irradiance
    bounce = (alpha * (1.0 - diffuse_transmission) * GROUND_ALBEDO / math.pi)[
        :, None
    ] * light.ground_irradiance
    return sun + sky + bounce, alpha


def composite(
    behind: np.ndarray, premultiplied: np.ndarray, alpha: np.ndarray, haze: np.ndarray, cover: float
) -> np.ndarray:
    """Layer over what lies behind it, seen through haze of transmittance haze (M,).

    The haze between us and the layer adds airlight: sky-like where the layer is open,
    cloud-like under a closed layer (the haze is then lit by the cloud, not the sun).
    """
    cloud_colour = premultiplied / np.maximum(alpha, 1e-6)[:, None]
    airlight = (1.0 - cover) * behind + cover * cloud_colour
    return (
        premultiplied * haze[:, None]
        + behind * (1.0 - alpha)[:, None]
        + airlight * (alpha * (1.0 - haze))[:, None]
    )
