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


# Anisotropic filtering: a footprint longer than TAP_ANISOTROPY x its width is split into taps
# along its long axis, at most MAX_TAPS (beyond that the taps themselves stretch and their level
# blurs across-view detail: the far band is mostly haze by then).
TAP_ANISOTROPY = 2.0
MAX_TAPS = 4


@dataclass
class LayerGeometry:
    """Per-ray intersections of the view rays with one layer; flat arrays (M,).

    A pixel's footprint on the layer is a rectangle: radial_m along the horizontal direction of
    the ray (the zenith-angle step times the distance times the slant: it stretches towards the
    horizon) by across_m (the azimuthal step times the distance)."""

    x_m: np.ndarray
    """East coordinate of the hit point (m)."""
    y_m: np.ndarray
    """North coordinate of the hit point (m)."""
    distance_m: np.ndarray
    """Distance along the view ray to the layer (m)."""
    slant: np.ndarray
    """1 / cos of the local zenith angle at the hit point: path length through the layer per thickness."""
    radial_x: np.ndarray
    """East component of the unit horizontal direction of the ray (the footprint's long axis)."""
    radial_y: np.ndarray
    """North component of that direction."""
    radial_m: np.ndarray
    """Footprint length along the ray's horizontal direction (m)."""
    across_m: np.ndarray
    """Footprint length across it (m)."""

    @classmethod
    def build(
        cls, directions: np.ndarray, altitude_m: float, zenith_step_rad, azimuth_step_rad
    ) -> LayerGeometry:
        """directions (M, 3) unit view rays (rays below the horizon are clamped to it); zenith_step_rad,
        azimuth_step_rad (M,) or scalars: the pixel's angular size along the zenith angle and across
        it (an equidistant fisheye pixel of angle a: a and a sin(theta)/theta)."""
        r, h = EARTH_RADIUS_M, altitude_m
        mu = np.clip(directions[:, 1].astype(np.float64), 0.0, 1.0)
        t = -r * mu + np.sqrt(r * r * mu * mu + 2.0 * r * h + h * h)
        mu_local = (r * mu + t) / (r + h)
        slant = 1.0 / np.maximum(mu_local, 0.02)
        horizontal = np.sqrt(np.maximum(1.0 - mu * mu, 1e-12))
        norm = np.maximum(np.hypot(directions[:, 0], directions[:, 2]), 1e-12)
        scale = t * horizontal / norm
        f32 = np.float32
        return cls(
            x_m=(directions[:, 0] * scale).astype(f32),
            y_m=(-directions[:, 2] * scale).astype(f32),
            distance_m=t.astype(f32),
            slant=slant.astype(f32),
            radial_x=(directions[:, 0] / norm).astype(f32),
            radial_y=(-directions[:, 2] / norm).astype(f32),
            radial_m=(t * zenith_step_rad * slant).astype(f32),
            across_m=(t * azimuth_step_rad * np.ones_like(t)).astype(f32),
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

    def taps(self, max_taps: int = MAX_TAPS) -> Taps:
        """The rays' footprints split into taps along their long axis (anisotropic filtering)."""
        count = np.clip(np.rint(self.radial_m / (TAP_ANISOTROPY * self.across_m)), 1, max_taps)
        count = count.astype(np.int64)
        starts = np.cumsum(count) - count
        ray = np.repeat(np.arange(len(count)), count)
        along = ((np.arange(len(ray)) - starts[ray] + 0.5) / count[ray] - 0.5).astype(np.float32)
        radial = self.radial_m[ray] / count[ray].astype(np.float32)  # each tap's radial length
        offset = along * self.radial_m[ray]
        rx, ry = self.radial_x[ray], self.radial_y[ray]
        return Taps(
            x_m=self.x_m[ray] + offset * rx,
            y_m=self.y_m[ray] + offset * ry,
            radial_x=rx,
            radial_y=ry,
            radial_m=radial,
            across_m=self.across_m[ray],
            starts=starts,
            count=count.astype(np.float32),
        )


@dataclass
class Taps:
    """Points on a layer that sample each ray's footprint: n taps spread along its long (radial)
    axis, each covering radial_m x across_m and reading the texture level of its longer side. So a
    far, radially stretched footprint keeps its across-view detail (the broken look of far clouds)
    without the radial aliasing (comb-like edges) of one lookup at a level finer than the footprint.
    Flat arrays (T,), taps of a ray contiguous."""

    x_m: np.ndarray
    y_m: np.ndarray
    radial_x: np.ndarray
    radial_y: np.ndarray
    radial_m: np.ndarray
    across_m: np.ndarray
    starts: np.ndarray
    """(M,) index of each ray's first tap."""
    count: np.ndarray
    """(M,) number of taps of each ray (float32, for means)."""

    @property
    def footprint_m(self) -> np.ndarray:
        """(T,) the longer side of each tap's footprint: what picks its prefiltered level."""
        return np.maximum(self.radial_m, self.across_m)

    def mean(self, values: np.ndarray) -> np.ndarray:
        """(M,) mean over each ray's taps of values (T,)."""
        return np.add.reduceat(values, self.starts) / self.count

    def spread(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """(T,) how much a field with gradient (dx, dy) per metre changes across each tap's footprint."""
        along = (dx * self.radial_x + dy * self.radial_y) * self.radial_m
        across = (dy * self.radial_x - dx * self.radial_y) * self.across_m
        return np.sqrt(along * along + across * across)

    def lod(self, feature_m: float) -> np.ndarray:
        """Contrast (T,) left of noise with features of size feature_m when averaged over a tap."""
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
