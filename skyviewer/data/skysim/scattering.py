"""Single scattering in a spherical atmosphere: the colour of low-sun and twilight skies.

Preetham's fit is calibrated for the sun well up; at sunset its chromaticity stays pale
because it does not know that the sunlight reaching the air has crossed ~40 air masses.
This module integrates the single-scattering equation numerically (Nishita et al. 1993;
Bruneton & Neyret 2008 without their precomputed multiple scattering):

    L(v) = E_sun sum_species beta_s P_s(gamma) int n_s(h(t)) T_view(t) T_sun(t) dt

over an exponential Rayleigh atmosphere (scale height 8 km), aerosol (1.2 km) and an
ozone layer (absorbs only, centred at 25 km), on a spherical Earth whose shadow cuts the
sun path: that gives the red horizon towards the sun, the Earth's shadow and the pink
antitwilight arch (Belt of Venus) opposite it, and a blue zenith in twilight (Chappuis
absorption) without any painted tint.

The phase-free integrals depend on the sun elevation, the view elevation and the azimuth
difference only, and vary smoothly: they are computed per frame on a small table
(VIEW_ROWS x AZIMUTH_COLUMNS) and interpolated per pixel, where the exact phase functions
(the sharp aerosol forward peak included) are applied.
"""

from __future__ import annotations

import math

import numpy as np

from skyviewer.sky.radiance import SUN

EARTH_RADIUS_M = 6.371e6
ATMOSPHERE_TOP_M = 60_000.0
RAYLEIGH_SCALE_HEIGHT_M = 8000.0
AEROSOL_SCALE_HEIGHT_M = 1200.0
OZONE_CENTRE_M, OZONE_HALF_WIDTH_M = 25_000.0, 15_000.0
AEROSOL_SINGLE_SCATTERING_ALBEDO = 0.9
AEROSOL_G = 0.75
# Effective wavelengths (um) of the Rec.709 R, G, B channels.
WAVELENGTH_UM = np.array([0.610, 0.550, 0.465])
OZONE_DEPTH = np.array([0.028, 0.022, 0.004])  # Chappuis band, 0.3 atm-cm column, vertical
VIEW_ROWS, AZIMUTH_COLUMNS = 24, 25
VIEW_SAMPLES = 20
TABLE_CHANNELS = 9  # Rayleigh, aerosol in-scattering, white-sun in-scattering (RGB each)
HEIGHT_ROWS, ZENITH_COLUMNS, TABLE_SAMPLES = 32, 64, 64
SUN_SOLID_ANGLE_SR = 2.0 * math.pi * (1.0 - math.cos(math.radians(SUN.angular_radius_deg)))


def rayleigh_depth() -> np.ndarray:
    """Vertical Rayleigh optical depth (3,) at sea level: Hansen & Travis (1974), eq. 2.29."""
    lam = WAVELENGTH_UM
    return 0.008569 * lam**-4 * (1.0 + 0.0113 * lam**-2 + 0.00013 * lam**-4)


def aerosol_depth(turbidity: float) -> np.ndarray:
    """Vertical aerosol optical depth (3,): Angstrom's law, exponent 1.3, with Preetham's
    turbidity coefficient beta = 0.04608 T - 0.04586."""
    return (0.04608 * turbidity - 0.04586) * WAVELENGTH_UM**-1.3


def rayleigh_phase(cos_angle):
    return np.float32(3.0 / (16.0 * math.pi)) * (1.0 + cos_angle * cos_angle)


def henyey_greenstein(cos_angle, g: float):
    """Henyey-Greenstein phase function (1/sr); float32 in, float32 out."""
    denominator = np.float32(1.0 + g * g) - np.float32(2.0 * g) * cos_angle
    return np.float32((1.0 - g * g) / (4.0 * math.pi)) / (denominator * np.sqrt(denominator))


class ScatteringTable:
    """Per-frame single-scattering integrals, looked up per view ray (rows() once per ray set)."""

    def __init__(self, turbidity: float):
        # Extinction coefficients at sea level (1/m, (3,)) of each species.
        self.rayleigh = rayleigh_depth() / RAYLEIGH_SCALE_HEIGHT_M
        self.aerosol = aerosol_depth(turbidity) / AEROSOL_SCALE_HEIGHT_M
        self.ozone = OZONE_DEPTH / (OZONE_HALF_WIDTH_M)  # tent profile of unit peak
        # Rows are spaced as the square root of elevation: the horizon changes fastest.
        rows = np.linspace(0.0, 1.0, VIEW_ROWS)
        self.elevations = 0.5 * math.pi * rows**2
        self._cache: tuple[float, np.ndarray] | None = None
        self._transmittance = self._transmittance_table()

    @staticmethod
    def rows(view_elevation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Table row (int32) and fraction (float32) of view rays at elevations (M,) (rad)."""
        row = np.sqrt(np.clip(view_elevation / (0.5 * math.pi), 0.0, 1.0)) * (VIEW_ROWS - 1)
        row0 = np.minimum(row.astype(np.int32), VIEW_ROWS - 2)
        return row0, (row - row0).astype(np.float32)

    def _transmittance_table(self) -> np.ndarray:
        """Optical depth (HEIGHT_ROWS, ZENITH_COLUMNS, 3) from a height to the top of the atmosphere
        towards a zenith angle (Bruneton's transmittance table): it does not depend on time, so it is
        integrated once. Rows: sqrt spacing in height; columns: cos zenith from the local horizon
        (sqrt spacing, grazing rays change fastest) to 1."""
        r, top = EARTH_RADIUS_M, EARTH_RADIUS_M + ATMOSPHERE_TOP_M
        h = ATMOSPHERE_TOP_M * np.linspace(0.0, 1.0, HEIGHT_ROWS)[:, None] ** 2
        mu = self._column_cos(h, np.linspace(0.0, 1.0, ZENITH_COLUMNS)[None, :])  # (H, Z)
        rad = r + h
        length = -rad * mu + np.sqrt(np.maximum(rad * rad * (mu * mu - 1.0) + top * top, 0.0))
        u = (np.arange(TABLE_SAMPLES) + 0.5) / TABLE_SAMPLES
        s = length[..., None] * u**2  # (H, Z, K)
        heights = np.sqrt(rad[..., None] ** 2 + s * s + 2.0 * s * (rad * mu)[..., None]) - r
        _, _, ext = self._extinction(heights)
        return (ext * (length[..., None] * 2.0 * u / TABLE_SAMPLES)[..., None]).sum(axis=2)

    @staticmethod
    def _column_cos(height_m, x):
        """cos zenith for table column coordinate x in [0, 1]: x = 0 grazes the Earth's horizon."""
        horizon = -np.sqrt(1.0 - (EARTH_RADIUS_M / (EARTH_RADIUS_M + height_m)) ** 2)
        return horizon + (1.0 - horizon) * x**2

    def _sun_transmittance(self, height_m: np.ndarray, cos_chi: np.ndarray) -> np.ndarray:
        """Transmittance (..., 3) of sunlight reaching points at height_m with sun zenith cos_chi:
        bilinear in the transmittance table, 0 in the Earth's shadow."""
        h = np.clip(height_m, 0.0, ATMOSPHERE_TOP_M)
        row = np.sqrt(h / ATMOSPHERE_TOP_M) * (HEIGHT_ROWS - 1)
        horizon = -np.sqrt(1.0 - (EARTH_RADIUS_M / (EARTH_RADIUS_M + h)) ** 2)
        x = (cos_chi - horizon) / (1.0 - horizon)
        lit = x > 0.0
        col = np.sqrt(np.clip(x, 0.0, 1.0)) * (ZENITH_COLUMNS - 1)
        r0 = np.minimum(row.astype(np.int32), HEIGHT_ROWS - 2)
        c0 = np.minimum(col.astype(np.int32), ZENITH_COLUMNS - 2)
        fr, fc = (row - r0)[..., None], (col - c0)[..., None]
        t = self._transmittance
        depth = (t[r0, c0] * (1 - fc) + t[r0, c0 + 1] * fc) * (1 - fr) + (
            t[r0 + 1, c0] * (1 - fc) + t[r0 + 1, c0 + 1] * fc
        ) * fr
        return np.exp(-depth) * lit[..., None]

    def _extinction(self, height_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rayleigh and aerosol density (relative to sea level) and extinction (..., 3) at heights."""
        h = np.maximum(height_m, 0.0)
        n_r = np.exp(-h / RAYLEIGH_SCALE_HEIGHT_M)
        n_m = np.exp(-h / AEROSOL_SCALE_HEIGHT_M)
        n_o = np.maximum(1.0 - np.abs(h - OZONE_CENTRE_M) / OZONE_HALF_WIDTH_M, 0.0)
        ext = (
            n_r[..., None] * self.rayleigh
            + n_m[..., None] * (self.aerosol / AEROSOL_SINGLE_SCATTERING_ALBEDO)
            + n_o[..., None] * self.ozone
        )
        return n_r, n_m, ext

    def _integrals(self, sun_elevation_rad: float) -> np.ndarray:
        """(VIEW_ROWS, AZIMUTH_COLUMNS, 6): Rayleigh and aerosol in-scattering (RGB each), per unit
        sun irradiance and unit phase function."""
        r, top = EARTH_RADIUS_M, EARTH_RADIUS_M + ATMOSPHERE_TOP_M
        sin_e = np.sin(self.elevations)[:, None]  # (E, 1)
        cos_e = np.cos(self.elevations)[:, None]
        length = -r * sin_e + np.sqrt(r * r * sin_e * sin_e + top * top - r * r)  # (E, 1) to the top
        x = (np.arange(VIEW_SAMPLES) + 0.5) / VIEW_SAMPLES
        t = length * x**2  # (E, S): dense near the observer, where the air is
        dt = length * 2.0 * x / VIEW_SAMPLES
        radius = np.sqrt(r * r + t * t + 2.0 * r * t * sin_e)  # (E, S)
        n_r, n_m, ext = self._extinction(radius - r)
        depth = np.cumsum(ext * dt[..., None], axis=1) - 0.5 * ext * dt[..., None]
        view_t = np.exp(-depth)  # (E, S, 3) transmittance back to the observer
        # Point positions in a frame where the sun lies in the x-y plane: (E, A, S).
        dphi = np.linspace(0.0, math.pi, AZIMUTH_COLUMNS)[None, :, None]
        px = (t * cos_e)[:, None, :] * np.cos(dphi)
        py = (r + t * sin_e)[:, None, :] * np.ones_like(dphi)
        sun = np.array([math.cos(sun_elevation_rad), math.sin(sun_elevation_rad)])
        radius = radius[:, None, :] * np.ones_like(dphi)
        cos_chi = (px * sun[0] + py * sun[1]) / radius  # cos of the sun zenith angle at each point
        sun_t = self._sun_transmittance(radius - r, cos_chi)  # (E, A, S, 3)
        view_dt = view_t * dt[..., None]  # (E, S, 3)
        weight = sun_t * view_dt[:, None]  # (E, A, S, 3)
        inscatter_r = np.einsum("eask,es->eak", weight, n_r) * self.rayleigh
        inscatter_m = np.einsum("eask,es->eak", weight, n_m) * self.aerosol
        # The same for a white sun (no extinction on its way in): the ratio is the colour the
        # sunlight had where the light we see was scattered.
        white = (
            np.einsum("esk,es->ek", view_dt, n_r) * self.rayleigh
            + np.einsum("esk,es->ek", view_dt, n_m) * self.aerosol
        )
        white = np.broadcast_to(white[:, None], inscatter_r.shape)
        table = np.concatenate([inscatter_r, inscatter_m, white], axis=-1)  # (E, A, 9)
        return np.ascontiguousarray(table.reshape(-1, TABLE_CHANNELS).T, dtype=np.float32)

    def radiance(
        self,
        rows: tuple[np.ndarray, np.ndarray],
        sun_elevation_deg: float,
        cos_dazimuth: np.ndarray,
        cos_gamma: np.ndarray,
        sun_rgb: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Single-scattered radiance (M, 3) for a sun of top-of-atmosphere irradiance sun_rgb (3,),
        and the reddening (M, 3): the mean transmittance of the sunlight to where that light was
        scattered (phase-free). rows: from rows() for the rays."""
        if self._cache is None or self._cache[0] != sun_elevation_deg:
            self._cache = (sun_elevation_deg, self._integrals(math.radians(sun_elevation_deg)))
        table = self._cache[1]  # (9, rows * columns): channels first, so the lerps run on rows of M
        col = np.arccos(np.clip(cos_dazimuth, -1.0, 1.0)) * np.float32((AZIMUTH_COLUMNS - 1) / math.pi)
        col0 = np.minimum(col.astype(np.int32), AZIMUTH_COLUMNS - 2)
        fc = col - col0.astype(np.float32)
        row0, row_frac = rows
        i00 = row0 * AZIMUTH_COLUMNS + col0
        top = np.take(table, i00, axis=1)
        top += (np.take(table, i00 + 1, axis=1) - top) * fc
        i00 += AZIMUTH_COLUMNS
        bottom = np.take(table, i00, axis=1)
        bottom += (np.take(table, i00 + 1, axis=1) - bottom) * fc
        top += (bottom - top) * row_frac
        ray, mie, white = top[:3], top[3:6], top[6:]
        reddening = (ray + mie) / np.maximum(white, 1e-30)
        phased = ray * rayleigh_phase(cos_gamma) + mie * henyey_greenstein(cos_gamma, AEROSOL_G)
        phased *= np.asarray(sun_rgb, np.float32)[:, None]
        return np.ascontiguousarray(phased.T), np.ascontiguousarray(reddening.T)
