"""Weather (runtime/weather.py): deterministic per seed, in range, the documented time constants
(measured), pins approached smoothly, only the package's conditions; and in SkyTimeline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import test_package_fixtures as fixtures

from skyviewer.runtime import SkyModel
from skyviewer.runtime.sun import SunClock
from skyviewer.runtime.timeline import SkyTimeline
from skyviewer.runtime.weather import NAMES, PRESETS, Weather, WeatherConfig, WeatherSetting, compass

snapshots, package_dir, layered_dir = fixtures.snapshots, fixtures.package_dir, fixtures.layered_dir
FORMAT_3 = [
    {"name": "sun_dir", "range": [-1.0, 1.0]},
    {"name": "cloud_cover", "range": [0.0, 1.0]},
    {"name": "cirrus_cover", "range": [0.0, 1.0]},
    {"name": "wind_speed", "range": [0.0, 40.0]},
    {"name": "wind_towards", "range": [-360.0, 720.0]},
]
FORMAT_2 = FORMAT_3[:2]
HOUR = 3600.0


def path(weather: Weather, times) -> np.ndarray:
    """(T, 4) values in NAMES order at the given sky times."""
    return np.array([[weather.at(t)[n] for n in NAMES] for t in times])


def test_same_seed_same_weather_however_often_it_is_asked():
    coarse = Weather(FORMAT_3, seed=4)
    fine = Weather(FORMAT_3, seed=4)
    times = np.arange(0.0, 6 * HOUR, 420.0)
    expected = path(coarse, times)
    got = []
    for t in np.arange(0.0, 6 * HOUR, 20.0):  # a step every 20 s: 21 asks per coarse one
        values = fine.at(t)
        if t % 420.0 == 0:
            got.append([values[n] for n in NAMES])
    np.testing.assert_allclose(np.array(got), expected, rtol=0, atol=1e-9)
    other = path(Weather(FORMAT_3, seed=5), times)
    assert np.abs(other - expected).max() > 0.1
    with pytest.raises(ValueError, match="runs forward"):
        fine.at(10.0)


def test_free_weather_stays_in_range_and_covers_it():
    values = path(Weather(FORMAT_3, seed=1), np.arange(0.0, 400 * HOUR, 900.0))
    cover, cirrus, speed, towards = values.T
    for v in (cover, cirrus):
        assert 0.0 <= v.min() < 0.1 and 0.9 < v.max() <= 1.0
    assert 0.0 <= speed.min() < 2.0 and 18.0 < speed.max() <= 20.0  # SkySim's 0..20 m/s
    assert 0.0 <= towards.min() and towards.max() < 360.0
    assert np.abs(np.diff(cover)).max() < 0.3 and np.abs(np.diff(cover)).mean() < 0.05  # drifts


def e_folding_hours(x: np.ndarray, dt_hours: float) -> float:
    """Lag (hours, interpolated) at which the autocorrelation of x first falls below 1/e."""
    x = x - x.mean()
    acf = [1.0]
    while acf[-1] >= 1 / math.e:
        lag = len(acf)
        acf.append(float(np.dot(x[:-lag], x[lag:]) / np.dot(x, x)))
    a, b = acf[-2], acf[-1]
    return dt_hours * (len(acf) - 2 + (a - 1 / math.e) / (a - b))


def test_autocorrelation_times_are_as_documented():
    """The covers' and wind's autocorrelation falls to 1/e after their documented time
    (docs/weather.md); the direction turns ~25 deg per sqrt(hour). 8 seeds x 800 h each, drawn
    every 5 minutes instead of every minute (the updates are exact: the same processes, faster)."""
    cfg = WeatherConfig(grid_seconds=300.0)
    dt = 0.25  # hours between samples
    runs = [
        path(Weather(FORMAT_3, seed, config=cfg), np.arange(0.0, 800 * HOUR, dt * HOUR)) for seed in range(8)
    ]
    for i, hours in enumerate(cfg.hours):
        measured = np.mean([e_folding_hours(run[:, i], dt) for run in runs])
        assert 0.8 < measured / hours < 1.2, (NAMES[i], measured)
    turns = np.concatenate([np.diff(np.unwrap(np.radians(run[:, 3]))[:: int(1 / dt)]) for run in runs])
    rms = np.degrees(np.sqrt(np.mean(turns**2)))
    assert 0.85 < rms / cfg.wind_turn_deg_per_sqrt_hour < 1.15


def test_a_pin_is_approached_smoothly_and_freeing_it_too():
    cfg = WeatherConfig()
    weather = Weather(FORMAT_3, seed=2, pins={"cloud_cover": 0.0, "wind_towards": 350.0})
    step = 20.0
    before = weather.at(HOUR)
    assert before["cloud_cover"] == 0.0 and before["wind_towards"] == pytest.approx(350.0)
    weather.pin(cloud_cover=1.0, wind_towards=10.0)  # across north: the short way, through 0
    assert weather.values() == before  # pinning changes nothing yet
    times = np.arange(HOUR, HOUR + 30 * 60.0 + 1, step)
    values = path(weather, times)
    cover, towards = values[:, 0], values[:, 3]
    most = 1 - math.exp(-step / cfg.approach_seconds)  # a first-order approach: the first step
    assert np.diff(cover).max() <= most + 1e-9 and np.diff(cover).min() >= 0
    assert cover[int(cfg.approach_seconds / step)] == pytest.approx(1 - 1 / math.e, abs=1e-6)
    assert cover[-1] > 0.99
    turned = (towards - 350.0 + 180.0) % 360.0 - 180.0
    assert np.all(np.diff(turned) >= 0) and turned[-1] == pytest.approx(20.0, abs=0.1)
    assert np.all((towards > 349.0) | (towards < 11.0))  # never the long way round
    weather.pin(cloud_cover=None, wind_towards=None)  # free again: it drifts away, smoothly
    free = path(weather, np.arange(times[-1], times[-1] + 2 * HOUR, step))
    assert np.abs(np.diff(free[:, 0])).max() <= most + 0.01  # at most the same first-order approach
    assert np.abs((np.diff(free[:, 3]) + 180.0) % 360.0 - 180.0).max() <= 180.0 * most + 1.0


def test_only_the_packages_conditions_and_checked_pins():
    weather = Weather(FORMAT_2, seed=0, pins={"wind_speed": 30.0})  # no wind here: ignored
    assert set(weather.at(600.0)) == {"cloud_cover"}
    with pytest.raises(ValueError, match=r"wind_speed 50 is outside this package's range \[0, 40\]"):
        Weather(FORMAT_3, seed=0, pins={"wind_speed": 50.0})
    with pytest.raises(KeyError, match="not a weather condition"):
        weather.pin(sun_dir=1.0)
    assert Weather(FORMAT_3, seed=0, pins={"wind_towards": -90.0}).values()["wind_towards"] == 270.0


def test_presets_and_settings():
    assert WeatherSetting().pins() == {}
    assert WeatherSetting("overcast", wind_speed=2.0).pins() == {**PRESETS["overcast"], "wind_speed": 2.0}
    with pytest.raises(ValueError, match="weather preset 'stormy'"):
        WeatherSetting("stormy").pins()
    with pytest.raises(ValueError, match=r"wind_speed -3 is outside \[0, inf\]"):
        WeatherSetting(wind_speed=-3.0).pins()
    for values in PRESETS.values():  # within SkySim's ranges
        assert 0 <= values["cloud_cover"] <= 1 and 0 <= values["cirrus_cover"] <= 1
        assert 0 <= values["wind_speed"] <= 20
    weather = Weather(FORMAT_3, seed=0, pins=PRESETS["windy"])
    assert weather.at(0.0) == pytest.approx(
        {**PRESETS["windy"], "wind_towards": weather.values()["wind_towards"]}
    )
    assert [compass(a) for a in (0, 90, 100, 180, 292.5, 359)] == ["N", "E", "E", "S", "WNW", "N"]


NOON = SunClock(latitude_deg=46.8, longitude_deg=-71.2, unix_time=1_718_985_600.0)


def test_the_timeline_asks_the_weather_at_each_steps_sky_time(package_dir):
    model = SkyModel(package_dir, providers="cpu")
    timeline = SkyTimeline(model, NOON, seed=3, weather=Weather.for_model(model, 3))
    sample = timeline.at(10 * model.step_seconds)
    reference = Weather(model.manifest["conditions"], 3)
    expected = [reference.at(k * model.step_seconds)["cloud_cover"] for k in range(12)]
    assert sample.next.index == 11
    assert sample.next.conditions["cloud_cover"] == pytest.approx(expected[11], abs=1e-6)
    assert sample.previous.conditions["cloud_cover"] == pytest.approx(expected[10], abs=1e-6)
    assert model.conditions()["cloud_cover"][0] == pytest.approx(expected[11], abs=1e-6)


def test_weather_drives_a_format_3_package(layered_dir):
    """Wind and cirrus reach the model; a pin changes the frames only from the step it is made."""
    model = SkyModel(layered_dir, providers="cpu")
    pins = {"wind_speed": 12.0, "wind_towards": 270.0, "cirrus_cover": 0.6, "cloud_cover": 0.5}
    timeline = SkyTimeline(model, NOON, seed=1, weather=Weather.for_model(model, 1, pins))
    first = timeline.at(0.0)
    assert first.previous.conditions == pytest.approx(pins)
    timeline.weather.pin(wind_speed=30.0)
    later = timeline.at(2 * model.step_seconds)
    conditions = later.next.conditions
    assert 12.0 < conditions["wind_speed"] < 30.0 and conditions["wind_towards"] == pytest.approx(270.0)
    assert np.isfinite(later.next.radiance.astype(np.float32)).all()
