"""Sky time -> model frames: the one place that decides which frame is shown when.

Frame k of a sky is the model's output for sky time k * step_seconds (frame 0 is the
start sky). Any host — the viewer's worker thread, the recorder's loop, a test — asks a
SkyTimeline for the sky at time t and gets frames k and k + 1 around it plus the blend
fraction, so motion is smooth at any display rate. Deterministic: the same package, seed,
start time and conditions give the same frames for the same t, whatever the wall clock.

    timeline = SkyTimeline(SkyModel("default"), SunClock(46.8, -71.2, 1.7e9), seed=1)
    sky = timeline.at(12.5)        # sky seconds since the start
    renderer.push(sky.previous, sky.next); blend = sky.blend

With a Weather (runtime/weather.py), each step's cloud, cirrus and wind conditions are the
weather's at that step's sky time, so they drift (or approach a pin) as sky time runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from skyviewer.runtime.model import SkyModel
from skyviewer.runtime.sun import SunClock
from skyviewer.runtime.weather import Weather


@dataclass(frozen=True)
class SkyFrame:
    """One model frame with the sky time it shows."""

    index: int
    """Frame number since the start sky (frame 0)."""
    radiance: np.ndarray
    """(N, N, 3) float16 linear radiance in nits, canonical fisheye."""
    sun_dir: np.ndarray
    """(3,) unit world direction to the sun at this frame."""
    unix_time: float
    """UTC time of the frame (POSIX seconds)."""
    conditions: dict[str, float] = field(default_factory=dict)
    """The model's one-value conditions (cloud_cover, wind_speed, ...) this frame was made under."""


@dataclass(frozen=True)
class SkySample:
    """The sky at one instant: the two frames around it and how far between them it lies."""

    previous: SkyFrame
    next: SkyFrame
    blend: float
    """Fraction of the step elapsed, in [0, 1): 0 shows `previous`, 1 would show `next`."""
    sky_seconds: float
    """Sky time since the start sky."""

    @property
    def sun_dir(self) -> np.ndarray:
        """Sun direction at this instant (interpolated along the arc between the two frames)."""
        d = (1 - self.blend) * self.previous.sun_dir + self.blend * self.next.sun_dir
        return (d / max(float(np.linalg.norm(d)), 1e-12)).astype(np.float32)

    @property
    def unix_time(self) -> float:
        return self.previous.unix_time + self.blend * (self.next.unix_time - self.previous.unix_time)


def step_position(sky_seconds: float, step_seconds: float) -> tuple[int, float]:
    """(k, fraction): sky time lies `fraction` of the way from frame k to frame k + 1."""
    position = max(sky_seconds, 0.0) / step_seconds
    k = math.floor(position)
    return k, position - k


class SkyTimeline:
    """Steps a SkyModel forward on demand so that frames k and k + 1 of any asked time exist.

    Time only runs forward (a model step cannot be undone): asking for a time before the
    current previous frame raises ValueError; start a new timeline (reseed) instead.
    """

    def __init__(
        self, model: SkyModel, clock: SunClock, seed: int, weather: Weather | None = None, **conditions
    ) -> None:
        """weather: sets its conditions at every step's sky time (it must be fresh: at time 0).
        conditions: other package conditions (e.g. cloud_cover=0.4), held until changed."""
        self.model = model
        self.seed = seed
        self.weather = weather
        self._clock = replace(clock)  # our own copy: the timeline advances it
        self._start_unix_time = clock.unix_time
        model.set_conditions(sun_dir=self._clock.direction(), **{**conditions, **self._weather_at(0)})
        model.reset(seed)
        self._frames = [self._frame(0, model.frame())]
        self._frames.append(self._step())

    @property
    def step_seconds(self) -> float:
        return self.model.step_seconds

    @property
    def newest_index(self) -> int:
        return self._frames[-1].index

    def set_conditions(self, **conditions) -> None:
        """Conditions (not the sun: it follows the clock) for frames stepped from now on."""
        self.model.set_conditions(**conditions)

    def at(self, sky_seconds: float) -> SkySample:
        """The sky at `sky_seconds` since the start, stepping the model as far as needed."""
        k, blend = step_position(sky_seconds, self.step_seconds)
        if k < self._frames[0].index:
            raise ValueError(f"sky time {sky_seconds:.3f} s is before frame {self._frames[0].index}")
        while self.newest_index < k + 1:
            self._frames = [self._frames[-1], self._step()]
        return SkySample(self._frames[0], self._frames[1], blend, sky_seconds)

    def _step(self) -> SkyFrame:
        """Produce the next frame with the sun where it will be at that frame's time."""
        index = self._frames[-1].index + 1
        self._clock.unix_time = self._start_unix_time + index * self.step_seconds
        self.model.set_conditions(sun_dir=self._clock.direction(), **self._weather_at(index))
        return self._frame(index, self.model.step())

    def _weather_at(self, index: int) -> dict[str, float]:
        return {} if self.weather is None else self.weather.at(index * self.step_seconds)

    def _frame(self, index: int, radiance: np.ndarray) -> SkyFrame:
        now = self.model.conditions()
        scalars = {k: float(v[0]) for k, v in now.items() if k != "sun_dir" and v.size == 1}
        return SkyFrame(index, radiance, now["sun_dir"].copy(), self._clock.unix_time, scalars)
