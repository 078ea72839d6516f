"""SkyTimeline: sky time -> frames k and k + 1 and the blend, deterministic."""

import numpy as np
import pytest
import test_package_fixtures as fixtures

from skyviewer.runtime import SkyModel
from skyviewer.runtime.sun import SunClock
from skyviewer.runtime.timeline import SkyTimeline, step_position

snapshots, package_dir = fixtures.snapshots, fixtures.package_dir
NOON_QUEBEC = SunClock(latitude_deg=46.8, longitude_deg=-71.2, unix_time=1_718_985_600.0)  # 2024-06-21 16:00Z


def test_step_position():
    assert step_position(0.0, 60.0) == (0, 0.0)
    assert step_position(90.0, 60.0) == (1, 0.5)
    assert step_position(-5.0, 60.0) == (0, 0.0)


def test_frames_and_blend_follow_sky_time(package_dir):
    timeline = SkyTimeline(SkyModel(package_dir), NOON_QUEBEC, seed=3)
    sample = timeline.at(150.0)  # step_seconds = 60: between frames 2 and 3
    assert (sample.previous.index, sample.next.index) == (2, 3)
    assert sample.blend == pytest.approx(0.5)
    assert sample.next.unix_time - sample.previous.unix_time == pytest.approx(60.0)
    assert sample.unix_time == pytest.approx(NOON_QUEBEC.unix_time + 150.0)
    assert sample.previous.radiance.shape == (16, 16, 3) and sample.previous.radiance.dtype == np.float16
    with pytest.raises(ValueError, match="before frame 2"):
        timeline.at(30.0)


def test_same_seed_same_frames_however_time_is_sampled(package_dir):
    fine = SkyTimeline(SkyModel(package_dir), NOON_QUEBEC, seed=5)
    for t in np.arange(0.0, 301.0, 7.0):  # many display frames per step
        fine_sample = fine.at(t)
    coarse = SkyTimeline(SkyModel(package_dir), NOON_QUEBEC, seed=5).at(294.0)  # one jump
    assert fine_sample.previous.index == coarse.previous.index == 4
    np.testing.assert_array_equal(fine_sample.next.radiance, coarse.next.radiance)
    other = SkyTimeline(SkyModel(package_dir), NOON_QUEBEC, seed=6).at(294.0)
    assert not np.array_equal(other.next.radiance, coarse.next.radiance)


def test_sun_moves_with_sky_time(package_dir):
    timeline = SkyTimeline(SkyModel(package_dir), NOON_QUEBEC, seed=1)
    start = timeline.at(0.0).sun_dir
    later = timeline.at(3600.0).sun_dir  # an hour of sky time: the sun moves ~15 degrees
    angle = np.degrees(np.arccos(np.clip(np.dot(start, later), -1, 1)))
    assert 8 < angle < 16
    expected = SunClock(46.8, -71.2, NOON_QUEBEC.unix_time + 3600).direction()
    np.testing.assert_allclose(later, expected, atol=1e-5)
