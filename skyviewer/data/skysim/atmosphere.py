"""Clear-sky radiance: Preetham 1999 by day, an empirical twilight model at dusk and night,
plus the sun's colour and brightness after the atmosphere.

Sources:
  * A. J. Preetham, P. Shirley, B. Smits, "A Practical Analytic Model for Daylight",
    SIGGRAPH 1999: the Perez-form luminance/chromaticity distributions, zenith
    luminance and chromaticity as functions of turbidity (appendix A.2), and the
    Angstrom turbidity coefficient beta = 0.04608 T - 0.04586.
  * F. Kasten, A. T. Young, "Revised optical air mass tables and approximation formula",
    Applied Optics 28 (1989): relative air mass.
  * Rayleigh optical depth: Hansen & Travis, Space Sci. Rev. 16 (1974), eq. 2.29.
  * Twilight luminance levels: order-of-magnitude fit to measured zenith luminance /
    illuminance over civil, nautical and astronomical twilight (e.g. Rozenberg,
    "Twilight", 1966); hand-tuned, see docs/skysim.md.

All radiance is linear Rec.709 RGB with luminance in nits (skyviewer.sky.radiance).
Arrays are flat over the pixels inside the horizon circle: (M,) or (M, 3).
"""

from __future__ import annotations

import math

import numpy as np

from skyviewer.data.skysim.scattering import (
    AEROSOL_SCALE_HEIGHT_M,
    OZONE_DEPTH,
    RAYLEIGH_SCALE_HEIGHT_M,
    aerosol_depth,
    rayleigh_depth,
)
from skyviewer.sky.radiance import REC709_LUMA, SUN

XYZ_TO_REC709 = np.array(
    [[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]], dtype=np.float32
)
LUMA = np.array(REC709_LUMA, dtype=np.float32)

# Perez coefficients (A..E) = slope * T + offset, for Y, x, y (Preetham 1999, appendix A.2).
_PEREZ_SLOPE = np.array(
    [
        [0.1787, -0.3554, -0.0227, 0.1206, -0.0670],
        [-0.0193, -0.0665, -0.0004, -0.0641, -0.0033],
        [-0.0167, -0.0950, -0.0079, -0.0441, -0.0109],
    ]
)
_PEREZ_OFFSET = np.array(
    [
        [-1.4630, 0.4275, 5.3251, -2.5771, 0.3703],
        [-0.2592, 0.0008, 0.2125, -0.8989, 0.0452],
        [-0.2608, 0.0092, 0.2102, -1.6537, 0.0529],
    ]
)
# Zenith chromaticity: [T^2, T, 1] @ M @ [theta_s^3, theta_s^2, theta_s, 1].
_ZENITH_X = np.array(
    [
        [0.00166, -0.00375, 0.00209, 0.0],
        [-0.02903, 0.06377, -0.03202, 0.00394],
        [0.11693, -0.21196, 0.06052, 0.25886],
    ]
)
_ZENITH_Y = np.array(
    [
        [0.00275, -0.00610, 0.00317, 0.0],
        [-0.04214, 0.08970, -0.04153, 0.00516],
        [0.15346, -0.26756, 0.06670, 0.26688],
    ]
)

# Twilight: log10 of zenith luminance relative to Preetham's zenith with the sun on the horizon.
_TWILIGHT_ELEV_DEG = np.array([-18.0, -15.0, -12.0, -9.0, -6.0, -4.0, -2.0, 0.0])
_TWILIGHT_LOG_DROP = np.array([-6.4, -5.7, -4.9, -3.8, -2.6, -1.7, -0.8, 0.0])
NIGHT_RGB_NITS = np.array([0.6e-3, 0.9e-3, 1.6e-3], dtype=np.float32)  # airglow + starlight, ~1e-3 nits
# Daylight Preetham below DAY_START_DEG is blended into the twilight model (Preetham needs the sun up).
TWILIGHT_END_DEG, DAY_START_DEG = -2.0, 4.0


def smoothstep(e0: float, e1: float, x):
    t = np.clip((np.asarray(x, dtype=np.float32) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def unit_luminance(rgb) -> np.ndarray:
    """A colour scaled to luminance 1 (so a colour times nits is a radiance)."""
    rgb = np.asarray(rgb, dtype=np.float32)
    return rgb / float(rgb @ LUMA)


def relative_air_mass(elevation_deg: float) -> float:
    """Kasten & Young (1989); the horizon value (~38) for a sun below the horizon."""
    zenith = 90.0 - max(elevation_deg, 0.0)
    return 1.0 / (math.cos(math.radians(zenith)) + 0.50572 * (96.07995 - zenith) ** -1.6364)


def sun_transmittance(elevation_deg: float, turbidity: float, altitude_m: float = 0.0) -> np.ndarray:
    """RGB transmittance (3,) of the direct sunbeam reaching altitude_m: Rayleigh + aerosol
    (Angstrom) + ozone. A cloud above the hazy boundary layer sees a much brighter sunset."""
    depth = (
        rayleigh_depth() * math.exp(-altitude_m / RAYLEIGH_SCALE_HEIGHT_M)
        + aerosol_depth(turbidity) * math.exp(-altitude_m / AEROSOL_SCALE_HEIGHT_M)
        + OZONE_DEPTH
    )
    return np.exp(-depth * relative_air_mass(elevation_deg))


def sun_radiance(elevation_deg: float, turbidity: float, altitude_m: float = 0.0) -> np.ndarray:
    """Mean RGB radiance (3,) of the solar disc seen from altitude_m: SUN.luminance_nits at the
    zenith from the ground for T = 3."""
    return (
        SUN.luminance_nits
        * sun_transmittance(elevation_deg, turbidity, altitude_m)
        / float(sun_transmittance(90.0, 3.0) @ LUMA)
    )


class PreethamSky:
    """Preetham's clear sky for one turbidity; the theta-only factors precomputed per pixel."""

    def __init__(self, turbidity: float, cos_theta: np.ndarray):
        self.turbidity = turbidity
        coef = _PEREZ_SLOPE * turbidity + _PEREZ_OFFSET  # (3 [Y, x, y], 5 [A..E])
        self.coef = coef.astype(np.float32)
        cos_theta = np.maximum(cos_theta, 0.01).astype(np.float32)
        # (1 + A exp(B / cos theta)) for Y, x, y: fixed per pixel.  (3, M)
        self.theta_term = 1.0 + self.coef[:, 0:1] * np.exp(self.coef[:, 1:2] / cos_theta[None, :])

    def zenith(self, theta_s: float) -> tuple[float, float, float]:
        """Zenith luminance (nits) and chromaticity x, y for sun zenith angle theta_s (rad)."""
        t = self.turbidity
        chi = (4.0 / 9.0 - t / 120.0) * (math.pi - 2.0 * theta_s)
        y_lum = ((4.0453 * t - 4.9710) * math.tan(chi) - 0.2155 * t + 2.4192) * 1000.0
        tv = np.array([t * t, t, 1.0])
        sv = np.array([theta_s**3, theta_s**2, theta_s, 1.0])
        return y_lum, float(tv @ _ZENITH_X @ sv), float(tv @ _ZENITH_Y @ sv)

    def _perez(self, gamma, cos_gamma, theta_term):
        c = self.coef
        return theta_term * (1.0 + c[:, 2:3] * np.exp(c[:, 3:4] * gamma) + c[:, 4:5] * cos_gamma**2)

    def radiance(self, cos_gamma: np.ndarray, theta_s: float) -> np.ndarray:
        """RGB radiance (M, 3) in nits; cos_gamma (M,) = cos of the angle to the sun."""
        theta_s = min(theta_s, math.radians(89.9))  # the fit is defined for the sun above the horizon
        gamma = np.arccos(np.clip(cos_gamma, -1.0, 1.0))[None, :]
        ratio = self._perez(gamma, cos_gamma[None, :], self.theta_term)  # (3, M)
        # Normalisation F(0, theta_s): the same distribution evaluated at the zenith.
        zenith_term = 1.0 + self.coef[:, 0:1] * np.exp(self.coef[:, 1:2])
        ratio /= self._perez(np.float32(theta_s), np.float32(math.cos(theta_s)), zenith_term)
        y_z, x_z, yc_z = self.zenith(theta_s)
        big_y, x, y = y_z * ratio[0], x_z * ratio[1], yc_z * ratio[2]
        xyz = np.stack([x / y * big_y, big_y, (1.0 - x - y) / y * big_y], axis=-1)  # (M, 3)
        return np.maximum(xyz @ XYZ_TO_REC709.T, 0.0)


class TwilightSky:
    """The multiply scattered part of the sky after sunset: zenith luminance falling over ~6
    decades (a hand fit to measured twilight), blue (ozone absorption dominates twilight
    colour), brighter towards the horizon, over a night floor. The sunlit glow, the Earth's
    shadow and the antitwilight arch come from the single-scattering model (scattering.py)."""

    ZENITH_COLOUR = unit_luminance([0.45, 0.68, 1.0])

    def __init__(self, preetham: PreethamSky, cos_theta: np.ndarray):
        self.anchor_nits = preetham.zenith(math.radians(89.9))[0]  # continuous with the day model
        elevation = np.pi / 2 - np.arccos(np.clip(cos_theta, 0.0, 1.0))
        self.horizon_haze = 1.0 + 0.8 * np.exp(-elevation / math.radians(25.0)).astype(np.float32)  # (M,)

    def zenith_nits(self, elevation_deg: float) -> float:
        drop = np.interp(elevation_deg, _TWILIGHT_ELEV_DEG, _TWILIGHT_LOG_DROP)
        return self.anchor_nits * 10.0**drop

    def radiance(self, elevation_deg: float) -> np.ndarray:
        """RGB radiance (M, 3)."""
        zenith = self.ZENITH_COLOUR * self.zenith_nits(elevation_deg)
        return self.horizon_haze[:, None] * zenith + NIGHT_RGB_NITS
