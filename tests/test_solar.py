"""Solar position (NOAA algorithm) against pysolar, an independent implementation."""

from __future__ import annotations

import warnings
from datetime import datetime, timezone

import numpy as np
import pytest

from skyviewer.sky.projection import angles_from_direction
from skyviewer.sky.solar import refraction_deg, solar_position, sun_direction

pysolar_solar = pytest.importorskip("pysolar.solar")

# (latitude, longitude, UTC time): both hemispheres, polar, equatorial, date-line, solstices.
CASES = [
    (47.37, 8.54, datetime(2024, 6, 21, 12, 0)),
    (47.37, 8.54, datetime(2024, 12, 21, 9, 30)),
    (-33.87, 151.21, datetime(2023, 1, 5, 23, 30)),
    (64.13, -21.90, datetime(2025, 3, 20, 9, 15)),
    (0.0, -78.0, datetime(2022, 9, 23, 17, 40)),
    (40.0, -105.0, datetime(2024, 12, 21, 23, 50)),
    (-54.8, -68.3, datetime(2021, 11, 2, 15, 5)),
    (35.68, 139.69, datetime(2030, 7, 14, 2, 45)),
    (78.2, 15.6, datetime(2024, 6, 21, 22, 0)),  # midnight sun
]


def _pysolar(lat, lon, when):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pysolar warns about numpy datetime64 time zones
        apparent = pysolar_solar.get_altitude(lat, lon, when)
        geometric = pysolar_solar.get_altitude(lat, lon, when, pressure=0.0)
        return apparent, geometric, pysolar_solar.get_azimuth(lat, lon, when)


@pytest.mark.parametrize("lat, lon, when", CASES)
def test_matches_pysolar(lat, lon, when):
    when = when.replace(tzinfo=timezone.utc)
    apparent, geometric, azimuth = _pysolar(lat, lon, when)
    ours_geometric, ours_azimuth = solar_position(lat, lon, when.timestamp(), refraction=False)
    ours_apparent, _ = solar_position(lat, lon, when.timestamp())
    assert float(ours_geometric) == pytest.approx(geometric, abs=0.05)
    if geometric > 3.0:  # refraction models differ near the horizon; pysolar skips it below
        assert float(ours_apparent) == pytest.approx(apparent, abs=0.1)
    assert (float(ours_azimuth) - azimuth + 180.0) % 360.0 - 180.0 == pytest.approx(0.0, abs=0.1)


def test_vectorised_over_time_equals_scalar():
    t0 = datetime(2024, 3, 1, tzinfo=timezone.utc).timestamp()
    times = t0 + np.arange(0, 86400, 3600.0)
    elevations, azimuths = solar_position(10.0, 20.0, times)
    for t, e, a in zip(times, elevations, azimuths, strict=True):
        assert solar_position(10.0, 20.0, t) == (pytest.approx(e), pytest.approx(a))


def test_direction_matches_angles_and_axes():
    t = datetime(2024, 6, 21, 11, 0, tzinfo=timezone.utc).timestamp()  # morning-noon, sun to the south-east
    d = sun_direction(47.37, 8.54, t)
    elevation, azimuth = solar_position(47.37, 8.54, t)
    zenith, az = angles_from_direction(d)
    assert np.linalg.norm(d) == pytest.approx(1.0)
    assert np.degrees(zenith) == pytest.approx(90.0 - elevation, abs=1e-6)
    assert np.degrees(az) % 360.0 == pytest.approx(azimuth, abs=1e-6)
    assert d[1] > 0 and d[2] > 0  # up, and south is +Z


def test_refraction_lifts_the_sun_about_half_a_degree_at_the_horizon():
    assert float(refraction_deg(0.0)) == pytest.approx(0.48, abs=0.03)
    assert float(refraction_deg(45.0)) == pytest.approx(0.016, abs=0.003)
    assert float(refraction_deg(89.0)) == 0.0
