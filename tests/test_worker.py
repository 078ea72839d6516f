"""SkyWorker and SkyFeed without GL: frames in order, stamps, stale frames dropped, errors kept."""

import time

import numpy as np
import pytest
import test_package_fixtures as fixtures

from skyviewer.app.feed import SkyFeed
from skyviewer.app.worker import SkyWorker
from skyviewer.runtime import SkyModel
from skyviewer.runtime.sun import SunClock
from skyviewer.runtime.timeline import SkyTimeline

snapshots, package_dir = fixtures.snapshots, fixtures.package_dir
CLOCK = SunClock(latitude_deg=46.8, longitude_deg=-71.2, unix_time=1_718_985_600.0)


def wait_for(condition, timeout=20.0):
    deadline = time.perf_counter() + timeout
    while not condition():
        assert time.perf_counter() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture
def worker(package_dir):
    w = SkyWorker(SkyModel(package_dir), CLOCK, seed=2, lookahead=2, retry_seconds=0.05)
    yield w
    w.stop()


def test_frames_arrive_in_order_and_equal_the_timeline(package_dir):
    worker = SkyWorker(SkyModel(package_dir), CLOCK, seed=2, lookahead=10)
    uploaded = []
    feed = SkyFeed(worker, uploaded.append)
    worker.start()
    try:
        wait_for(lambda: worker.frames.qsize() >= 10)  # frames 0..9 stepped ahead
        samples = [feed.update(15.0) for _ in range(21)]  # 0 .. 300 s of sky time, 60 s per step
    finally:
        worker.stop()
    assert [s.previous.index for s in samples[1:]] == [k // 4 for k in range(1, 21)]
    assert [f.index for f in uploaded] == list(range(7))  # frames 0..6, each uploaded once
    reference = SkyTimeline(SkyModel(package_dir), CLOCK, seed=2).at(samples[-1].sky_seconds)
    assert samples[-1].previous.index == reference.previous.index == 5
    np.testing.assert_array_equal(samples[-1].next.radiance, reference.next.radiance)
    assert samples[-2].blend == pytest.approx(0.75)


def test_a_starved_display_holds_the_newest_frame_instead_of_waiting(worker):
    feed = SkyFeed(worker, lambda frame: None)
    worker.start()
    wait_for(lambda: feed.update(0.0) is not None)
    t0 = time.perf_counter()
    sample = feed.update(1e6)  # far beyond anything stepped
    assert time.perf_counter() - t0 < 0.05
    assert sample.blend == 1.0 and feed.sky_seconds == sample.next.index * feed.step_seconds


def test_stale_frames_after_a_restart_are_dropped(worker):
    uploaded = []
    feed = SkyFeed(worker, uploaded.append)
    worker.start()
    wait_for(lambda: worker.frames.qsize() >= 4)  # frames 0..3 of generation 0 queued, not taken
    generation = worker.restart(CLOCK, seed=9)
    wait_for(lambda: feed.update(0.0) is not None and feed.generation == generation)
    assert feed.dropped >= 4
    assert [f.index for f in uploaded] == [0, 1]  # only the new timeline reached the GPU
    assert worker.generation == generation == 1


def test_a_failing_step_is_reported_and_the_worker_recovers(worker):
    feed = SkyFeed(worker, lambda frame: None)
    worker.start()
    wait_for(lambda: feed.update(0.0) is not None)
    real_step = worker.model.step
    worker.model.step = lambda: (_ for _ in ()).throw(RuntimeError("CUDA out of memory (simulated)"))
    feed.update(500.0)  # ask for frames the worker has not stepped yet
    wait_for(lambda: worker.stats().error is not None)
    assert worker.stats().error == "RuntimeError: CUDA out of memory (simulated)"
    held = feed.update(0.0)
    assert held is not None  # the last good frames stay
    worker.model.step = real_step
    wait_for(lambda: worker.stats().error is None)
    assert worker.is_alive()


def test_pins_reach_the_running_timeline_smoothly_and_carry_over_a_restart(package_dir):
    worker = SkyWorker(SkyModel(package_dir), CLOCK, seed=2, pins={"cloud_cover": 0.0}, lookahead=1)
    feed = SkyFeed(worker, lambda frame: None)
    worker.start()
    try:
        wait_for(lambda: feed.update(0.0) is not None)
        worker.pin_weather(cloud_cover=1.0)
        covers = {}
        while len(covers) < 20:
            sample = feed.update(60.0)  # one step per update, as fast as the worker goes
            covers[sample.next.index] = sample.next.conditions["cloud_cover"]
            time.sleep(0.005)
        generation = worker.restart(CLOCK, seed=3)
        wait_for(lambda: feed.update(0.0) is not None and feed.generation == generation)
        restarted = feed.pair[0].conditions["cloud_cover"]
    finally:
        worker.stop()
    indices = np.array(sorted(covers))
    path = np.array([covers[k] for k in indices])
    assert path[0] == 0.0 and path[-1] > 0.9  # frames stepped before the pin keep their cover
    # 60 s steps, 5 min approach; the feed may pass over a frame when the worker runs behind it
    rise, bound = np.diff(path), 1 - np.exp(-60.0 * np.diff(indices) / 300.0)
    assert rise.min() >= 0 and np.all(rise <= bound + 1e-6), (indices, path)
    assert restarted == 1.0  # the pin holds in the new timeline from its first frame
