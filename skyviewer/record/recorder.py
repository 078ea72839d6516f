"""The recording loop: sky time per frame from the frame index alone, never the wall clock.

Frame i shows the sky at i * sky_seconds_per_frame after the start (SkyTimeline: model frames
k, k + 1 and the blend); exposure adapts with the fixed video frame interval; the dither is
seeded by the frame index; the weather is seeded by the seed and evaluated at each model step's
sky time. So the same package, seed and options give the same frames.
SIGINT and SIGTERM stop the loop at a frame boundary and the output is closed playable.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from skyviewer.record.config import RecordConfig
from skyviewer.record.views import ViewRenderer
from skyviewer.record.writers import open_writer
from skyviewer.render.camera import Camera
from skyviewer.render.context import create_offscreen_context, release_context
from skyviewer.render.dome import DomeView
from skyviewer.render.exposure import AutoExposure, AutoExposureConfig
from skyviewer.render.files import write_json
from skyviewer.runtime.model import SkyModel
from skyviewer.runtime.sun import SunClock
from skyviewer.runtime.timeline import SkySample, SkyTimeline
from skyviewer.runtime.weather import Weather


@dataclass(frozen=True)
class RecordResult:
    path: Path
    """Where the output is: the asked name, or its .partial name when interrupted."""
    frames: int
    """Frames written."""
    complete: bool
    """False when the recording was stopped early (the output keeps its .partial name)."""
    seconds: float
    """Wall-clock time of the recording loop."""


class _Stop:
    """SIGINT / SIGTERM set a flag the loop checks between frames (a frame is never cut in half)."""

    requested = False

    def __call__(self, signum, frame) -> None:
        self.requested = True


@contextmanager
def _stop_on_signals():
    stop = _Stop()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def show(view: ViewRenderer, sample: SkySample, shown: tuple[int, int] | None) -> tuple[int, int]:
    """Make the dome hold the sample's two model frames (uploading only what changed)."""
    wanted = (sample.previous.index, sample.next.index)
    if shown != wanted:
        if shown is None or shown[1] != wanted[0]:
            view.push_frame(sample.previous)  # a jump of several steps: both are new
        view.push_frame(sample.next)
    return wanted


def record(
    config: RecordConfig, model: SkyModel, progress: Callable[[int], None] | None = None
) -> RecordResult:
    """Record config.frames frames of `model`'s sky. progress(frames written) after each frame."""
    config.check()
    clock = SunClock(config.latitude_deg, config.longitude_deg, config.start_unix_time)
    weather = Weather.for_model(model, config.seed, config.weather.pins())
    timeline = SkyTimeline(model, clock, config.seed, weather)
    writer = open_writer(config)
    ctx = create_offscreen_context()
    view = ViewRenderer(ctx, config, model.resolution)
    tau = config.exposure_seconds
    exposure, shown, complete = AutoExposure(AutoExposureConfig(tau, tau)), None, False
    start = time.perf_counter()
    try:
        with _stop_on_signals() as stop:
            for i in range(config.frames):
                if stop.requested:
                    break
                sample = timeline.at(i * config.sky_seconds_per_frame)
                shown = show(view, sample, shown)
                key = exposure.update(view.dome.scene_key_nits(sample.blend), 1.0 / config.fps)
                dome_view = DomeView(Camera(), key, tuple(sample.sun_dir), blend=sample.blend, frame_index=i)
                writer.write(view.render(i, dome_view, writer.hdr))
                if config.view == "cube" and config.format == "exr":  # lighting beside the faces
                    light = view.lighting.at(sample.blend).to_dict() | {"sky_seconds": sample.sky_seconds}
                    write_json(writer.partial / f"frame_{i:06d}_light.json", light)
                if progress is not None:
                    progress(writer.frames)
            complete = writer.frames == config.frames
    finally:
        path = writer.close(complete)
        view.release()
        release_context(ctx)
    return RecordResult(path, writer.frames, complete, time.perf_counter() - start)
