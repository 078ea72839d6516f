"""Solar position from place and UTC time: the NOAA solar calculator algorithm.

Source: NOAA Global Monitoring Laboratory, "Solar Calculation Details" and its
spreadsheet (gml.noaa.gov/grad/solcalc/calcdetails.html), which implement the
low-precision solar coordinates of Jean Meeus, *Astronomical Algorithms* (1991),
ch. 25: about 0.01 deg for years 1800-2100. Atmospheric refraction uses NOAA's
piecewise approximation, so the result is the *apparent* sun, as a camera sees it.

Vectorised over time: every function takes scalar or array POSIX times.
"""

from __future__ import annotations

import numpy as np

from skyviewer.sky.projection import direction_from_angles

ASTRONOMICAL_NIGHT_DEG = -18.0
"""Sun elevation where astronomical twilight ends: deeper suns no longer light the sky (SkySim's
twilight model ends there too, leaving airglow and starlight)."""
UNIX_EPOCH_JULIAN_DAY = 2440587.5
J2000_JULIAN_DAY = 2451545.0


def _sun_declination_and_equation_of_time(jc):
    """Declination (deg) and equation of time (minutes) at Julian century jc since J2000."""
    mean_long = np.deg2rad((280.46646 + jc * (36000.76983 + jc * 0.0003032)) % 360.0)
    mean_anom = np.deg2rad(357.52911 + jc * (35999.05029 - 0.0001537 * jc))
    ecc = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    centre = (
        np.sin(mean_anom) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + np.sin(2 * mean_anom) * (0.019993 - 0.000101 * jc)
        + np.sin(3 * mean_anom) * 0.000289
    )
    omega = np.deg2rad(125.04 - 1934.136 * jc)  # longitude of the Moon's ascending node: nutation
    apparent_long = np.deg2rad(np.rad2deg(mean_long) + centre - 0.00569 - 0.00478 * np.sin(omega))
    mean_obliquity = 23.0 + (26.0 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60.0) / 60.0
    obliquity = np.deg2rad(mean_obliquity + 0.00256 * np.cos(omega))
    declination = np.rad2deg(np.arcsin(np.sin(obliquity) * np.sin(apparent_long)))
    y = np.tan(obliquity / 2) ** 2
    eot_rad = (
        y * np.sin(2 * mean_long)
        - 2 * ecc * np.sin(mean_anom)
        + 4 * ecc * y * np.sin(mean_anom) * np.cos(2 * mean_long)
        - 0.5 * y * y * np.sin(4 * mean_long)
        - 1.25 * ecc * ecc * np.sin(2 * mean_anom)
    )
    return declination, 4.0 * np.rad2deg(eot_rad)


def refraction_deg(elevation_deg):
    """NOAA's atmospheric refraction correction (deg) to add to a geometric elevation (deg)."""
    e = np.asarray(elevation_deg, dtype=np.float64)
    t = np.tan(np.deg2rad(np.where(np.abs(e) < 1e-6, 1e-6, e)))
    arcsec = np.select(
        [e > 85.0, e > 5.0, e > -0.575],
        [
            0.0,
            58.1 / t - 0.07 / t**3 + 0.000086 / t**5,
            1735.0 + e * (-518.2 + e * (103.4 + e * (-12.79 + e * 0.711))),
        ],
        -20.772 / t,
    )
    return arcsec / 3600.0


def solar_position(latitude_deg: float, longitude_deg: float, unix_time, refraction: bool = True):
    """(elevation, azimuth) of the sun in degrees; azimuth from north towards east in [0, 360).

    unix_time: POSIX seconds (UTC), scalar or array. refraction=True gives the apparent
    elevation; False the geometric (airless) one.
    """
    t = np.asarray(unix_time, dtype=np.float64)
    jc = (t / 86400.0 + UNIX_EPOCH_JULIAN_DAY - J2000_JULIAN_DAY) / 36525.0
    declination, eot_min = _sun_declination_and_equation_of_time(jc)
    utc_minutes = (t % 86400.0) / 60.0
    true_solar_min = (utc_minutes + eot_min + 4.0 * longitude_deg) % 1440.0
    hour_angle = np.deg2rad(true_solar_min / 4.0 - 180.0)
    lat, dec = np.deg2rad(latitude_deg), np.deg2rad(declination)
    cos_zenith = np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.cos(hour_angle)
    elevation = 90.0 - np.rad2deg(np.arccos(np.clip(cos_zenith, -1.0, 1.0)))
    # Azimuth from north, clockwise: atan2 of the east and north components of the sun vector.
    azimuth = np.rad2deg(
        np.arctan2(np.sin(hour_angle), np.cos(hour_angle) * np.sin(lat) - np.tan(dec) * np.cos(lat))
    )
    azimuth = (azimuth + 180.0) % 360.0
    if refraction:
        elevation = elevation + refraction_deg(elevation)
    return elevation, azimuth


def sun_direction(latitude_deg: float, longitude_deg: float, unix_time) -> np.ndarray:
    """Unit world direction(s) (..., 3) to the apparent sun (+Y up, -Z north, +X east)."""
    elevation, azimuth = solar_position(latitude_deg, longitude_deg, unix_time)
    return direction_from_angles(np.deg2rad(90.0 - elevation), np.deg2rad(azimuth))
