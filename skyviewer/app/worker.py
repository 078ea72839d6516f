"""SkyWorker: model steps on a thread, so inference never blocks a displayed frame.

The worker owns the SkyTimeline (and through it the SkyModel). The render thread tells it how
far the display has got (`show(index)`); the worker keeps `lookahead` frames stepped beyond
that and publishes each new frame, stamped with its generation, into a queue the render thread
drains without waiting. Reseeds and time-of-day jumps are requests: they start a new timeline
(time only runs forward) under a new generation, so frames still in the queue from the old one
are recognised as stale and dropped. The timeline runs a Weather (runtime/weather.py); pinning or
freeing a condition reaches it before the next step, and the weather approaches the new value
from there: frames already stepped stay valid (the model's state continues from them). Pins
carry over to new timelines, whose free weather starts afresh from their seed.

An exception in a model step is caught and published (`stats().error`); the render thread keeps
showing its last good frames, and the worker retries after `retry_seconds`.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, replace

from skyviewer.runtime.model import SkyModel
from skyviewer.runtime.sun import SunClock
from skyviewer.runtime.timeline import SkyFrame, SkyTimeline
from skyviewer.runtime.weather import Weather

RATE_WINDOW_S = 3.0
"""steps/s counts the steps of the last few seconds: at slow sky rates a step is ~1 s apart."""


@dataclass(frozen=True)
class StampedFrame:
    """A frame on its way to the render thread."""

    generation: int
    """The timeline it belongs to; a reseed or time jump starts a new generation."""
    frame: SkyFrame
    """The model frame (index = frame number within its timeline)."""


@dataclass(frozen=True)
class WorkerStats:
    """What the HUD shows about inference."""

    step_ms: float
    """Recent model step time (exponential average), milliseconds."""
    steps_per_s: float
    """Model steps completed per wall second over the last RATE_WINDOW_S seconds."""
    error: str | None
    """The last model error (type and message), until a step succeeds again."""
    provider: str
    """ONNX Runtime execution provider the step model runs on."""


@dataclass(frozen=True)
class _Start:
    """A request for a new timeline."""

    generation: int
    clock: SunClock
    seed: int


class SkyWorker:
    """Steps a SkyTimeline ahead of the display on its own thread; see the module docstring."""

    def __init__(
        self,
        model: SkyModel,
        clock: SunClock,
        seed: int,
        pins: dict[str, float] | None = None,
        lookahead: int = 2,
        retry_seconds: float = 1.0,
    ) -> None:
        """pins: the weather's pinned conditions (e.g. {"cloud_cover": 0.4}; {}: all drift); None
        runs without weather (the package's conditions held at their defaults).
        lookahead: frames kept stepped beyond the newest one the display uses."""
        self._thread = threading.Thread(target=self._run, name="sky-worker", daemon=True)
        self.model = model
        self.lookahead = lookahead
        self.retry_seconds = retry_seconds
        self.frames: queue.SimpleQueue[StampedFrame] = queue.SimpleQueue()
        self._wake = threading.Condition()
        self._stopping = False
        self._pins = None if pins is None else dict(pins)
        self._pending_pins: dict = {}
        self._request: _Start | None = _Start(0, clock, seed)
        self._generation = 0
        self._shown = 0  # newest frame index the display uses, in the current generation
        self._timeline: SkyTimeline | None = None
        self._timeline_generation = 0
        self._published = -1  # newest frame index published in the current generation
        self._step_ms = 0.0
        self._step_times: list[float] = []
        self._error: str | None = None
        self._started = time.perf_counter()

    # ------------------------------------------------------------ render-thread side

    @property
    def generation(self) -> int:
        """The generation whose frames are current (the latest requested)."""
        return self._generation

    def restart(self, clock: SunClock, seed: int) -> int:
        """Start a new timeline at `clock` with `seed`; returns its generation."""
        with self._wake:
            self._generation += 1
            self._request = _Start(self._generation, replace(clock), seed)
            self._shown = 0
            self._wake.notify()
            return self._generation

    def pin_weather(self, **values: float | None) -> None:
        """Pin weather conditions (None frees one) for every frame stepped from now on, in any
        timeline; approached smoothly (Weather.pin)."""
        if self._pins is None:
            raise RuntimeError("this worker runs without weather")
        with self._wake:
            self._pending_pins.update(values)
            self._wake.notify()

    def show(self, generation: int, index: int) -> None:
        """The display now uses frame `index` of `generation`: keep `lookahead` frames beyond it."""
        with self._wake:
            if generation == self._generation and index > self._shown:
                self._shown = index
                self._wake.notify()

    def stats(self) -> WorkerStats:
        now = time.perf_counter()
        recent = [t for t in self._step_times if now - t <= RATE_WINDOW_S]
        span = min(RATE_WINDOW_S, max(now - self._started, 1e-3))
        return WorkerStats(self._step_ms, len(recent) / span, self._error, self.model.provider)

    def start(self) -> None:
        self._started = time.perf_counter()
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout)

    # ------------------------------------------------------------ worker-thread side

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and not self._has_work():
                    self._wake.wait(0.1)
                if self._stopping:
                    return
                start, self._request = self._request, None
                pins, self._pending_pins = self._pending_pins, {}
                if pins:
                    self._pins = {**self._pins, **pins}
                    self._pins = {k: v for k, v in self._pins.items() if v is not None}
            try:
                self._work(start, pins)
                self._error = None
            except Exception as exc:  # any model failure: show it, keep the last good sky
                self._error = f"{type(exc).__name__}: {exc}"
                with self._wake:
                    if start is not None and self._request is None:
                        self._request = start  # retry the start too
                    self._wake.wait(self.retry_seconds)

    def _has_work(self) -> bool:
        if self._request is not None or self._pending_pins:
            return True
        return self._timeline is not None and self._published < self._shown + 1 + self.lookahead

    def _work(self, start: _Start | None, pins: dict) -> None:
        """Apply a request, or step once and publish the new frame."""
        if start is not None:
            self._timed(lambda: self._new_timeline(start))
            return
        if pins and self._timeline is not None:
            self._timeline.weather.pin(**pins)
        if self._timeline is not None and self._published < self._shown + 1 + self.lookahead:
            sample = self._timed(lambda: self._timeline.at(self._published * self._timeline.step_seconds))
            self._publish(self._timeline_generation, sample.next)

    def _new_timeline(self, start: _Start):
        self._timeline = None
        weather = None if self._pins is None else Weather.for_model(self.model, start.seed, self._pins)
        timeline = SkyTimeline(self.model, start.clock, start.seed, weather)
        sample = timeline.at(0.0)
        self._timeline, self._timeline_generation = timeline, start.generation
        self._published = -1
        self._publish(start.generation, sample.previous)
        self._publish(start.generation, sample.next)

    def _publish(self, generation: int, frame: SkyFrame) -> None:
        self._published = frame.index
        self.frames.put(StampedFrame(generation, frame))

    def _timed(self, work):
        t0 = time.perf_counter()
        result = work()
        t1 = time.perf_counter()
        self._step_ms = 1000 * (t1 - t0) if not self._step_ms else 0.8 * self._step_ms + 200 * (t1 - t0)
        self._step_times = [t for t in self._step_times if t1 - t <= RATE_WINDOW_S] + [t1]
        return result
