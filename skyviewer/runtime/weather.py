"""Weather that changes by itself: cloud cover, cirrus and wind drifting over sky hours (no torch).

A free condition follows a seeded stochastic process in sky time (docs/weather.md):

* cloud_cover, cirrus_cover, wind_speed: second-order (critically damped) Ornstein-Uhlenbeck
  processes x, mean 0 and variance 1, mapped through the normal CDF onto the condition's free
  range: in the long run each is uniform over the range SkySim's datasets draw from, and its
  autocorrelation falls to 1/e after the documented time (hours). Second order because a
  first-order OU path is rough at every scale (a 3 h one moves cover by ~0.16 in 15 minutes);
  this one has a velocity, so it drifts;
* wind_towards: a random walk on the circle (degrees from north towards east).

The processes are drawn on a fixed grid of sky time (`grid_seconds`) from one generator seeded
by the sky's seed, and joined linearly between grid points. What the model gets is a *follower*:
each condition approaches its target (the process, or the user's pin) with a first-order time
constant of `approach_seconds`. Pinning, re-pinning or freeing a condition only changes the
target, so no condition ever jumps. The follower is integrated exactly over each linear piece,
so a value depends on the sky time alone, not on how often it was asked.

    weather = Weather.for_model(sky_model, seed=3, pins={"wind_speed": 12.0})
    weather.at(600.0)            # {"cloud_cover": ..., "wind_speed": ..., ...} at 10 sky minutes
    weather.pin(cloud_cover=0.9) # from the newest time asked on, approached over minutes
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

NAMES = ("cloud_cover", "cirrus_cover", "wind_speed", "wind_towards")
"""The conditions weather drives (the sun follows the clock, not the weather)."""
DIRECTION = NAMES.index("wind_towards")
STREAM = 0x57EA7
"""Mixed into the seed so the weather's draws are independent of the model's noise."""
E_FOLD = 2.0874
"""A condition's autocorrelation falls to 1/e at lag E_FOLD * l, where l is the scale of its
process: x's correlation (1 + r/l) exp(-r/l) is then 2 sin(pi / 6e) = 0.383, the correlation
of x that the normal CDF maps to 1/e (the Spearman-Pearson relation of a Gaussian pair)."""

PRESETS: dict[str, dict[str, float]] = {
    "clear": {"cloud_cover": 0.0, "cirrus_cover": 0.0, "wind_speed": 3.0},
    "fair": {"cloud_cover": 0.25, "cirrus_cover": 0.2, "wind_speed": 6.0},
    "cloudy": {"cloud_cover": 0.6, "cirrus_cover": 0.3, "wind_speed": 9.0},
    "overcast": {"cloud_cover": 0.95, "cirrus_cover": 0.5, "wind_speed": 8.0},
    "windy": {"cloud_cover": 0.4, "cirrus_cover": 0.3, "wind_speed": 18.0},
}
"""Named weathers: the conditions each pins (the wind direction stays as it is). Within SkySim's
ranges: covers 0..1, wind 0..20 m/s at the cumulus layer."""
UNIVERSAL = {"cloud_cover": (0.0, 1.0), "cirrus_cover": (0.0, 1.0), "wind_speed": (0.0, math.inf)}
"""Ranges a pin must be in whatever the package (a cover is a fraction, a speed not negative)."""
AUTO = "auto"
"""The weather choice that pins nothing: every condition drifts."""


@dataclass(frozen=True)
class WeatherConfig:
    """Time constants and ranges of the free weather."""

    cloud_hours: float = 3.0
    """Sky hours after which the autocorrelation of free cloud cover has fallen to 1/e."""
    cirrus_hours: float = 6.0
    """The same for cirrus cover."""
    wind_hours: float = 4.0
    """The same for wind speed."""
    wind_turn_deg_per_sqrt_hour: float = 25.0
    """Wind direction random walk: RMS turn over one sky hour (over h hours: this x sqrt(h))."""
    wind_speed_range_mps: tuple[float, float] = (0.0, 20.0)
    """Range free wind speed spans (SkySim's datasets), within the package's range."""
    approach_seconds: float = 300.0
    """First-order time constant (sky seconds) with which every condition approaches its target:
    a pin, a preset, or the drifting process; 95 % of a change is done after 3x this."""
    grid_seconds: float = 60.0
    """Spacing (sky seconds) of the processes' random draws; they are linear in between."""

    @property
    def hours(self) -> np.ndarray:
        """The 1/e times of cloud_cover, cirrus_cover and wind_speed (NAMES order), hours."""
        return np.array([self.cloud_hours, self.cirrus_hours, self.wind_hours])


@dataclass(frozen=True)
class WeatherSetting:
    """What a user asked for (viewer and recorder options): a preset or auto, and pins on top."""

    preset: str = AUTO
    """AUTO or a PRESETS name."""
    cloud_cover: float | None = None
    cirrus_cover: float | None = None
    wind_speed: float | None = None
    """m/s at the cumulus layer."""
    wind_towards: float | None = None
    """Degrees from north towards east the clouds drift to."""

    def pins(self) -> dict[str, float]:
        """The pinned conditions: the preset's, then the explicit values over them."""
        if self.preset != AUTO and self.preset not in PRESETS:
            raise ValueError(
                f"weather preset {self.preset!r}: expected {AUTO} or one of {', '.join(PRESETS)}"
            )
        explicit = {f.name: getattr(self, f.name) for f in fields(self) if f.name in NAMES}
        pins = {**PRESETS.get(self.preset, {}), **{k: v for k, v in explicit.items() if v is not None}}
        for name, value in pins.items():  # what holds for any package; its own ranges come later
            lo, hi = UNIVERSAL.get(name, (-math.inf, math.inf))
            if not (math.isfinite(value) and lo <= value <= hi):
                raise ValueError(f"{name} {value:g} is outside [{lo:g}, {hi:g}]")
        return pins


def compass(degrees: float) -> str:
    """The 16-point compass name of an azimuth (0 N, 90 E)."""
    points = "N NNE NE ENE E ESE SE SSE S SSW SW WSW W WNW NW NNW".split()
    return points[round(degrees % 360 / 22.5) % 16]


def _wrap180(degrees: np.ndarray | float):
    return (np.asarray(degrees) + 180.0) % 360.0 - 180.0


class Weather:
    """The weather of one sky: at(t) for non-decreasing sky times; see the module docstring."""

    def __init__(
        self,
        conditions: list[dict],
        seed: int,
        pins: Mapping[str, float] | None = None,
        config: WeatherConfig | None = None,
    ) -> None:
        """conditions: the package's condition specs (manifest "conditions"); only those among
        NAMES are set. pins: conditions held at a value from the start (see pin())."""
        self.config = config or WeatherConfig()
        self.ranges = {c["name"]: tuple(c["range"]) for c in conditions if c["name"] in NAMES}
        """Range of each weather condition the package has."""
        cfg = self.config
        free = {"cloud_cover": (0.0, 1.0), "cirrus_cover": (0.0, 1.0), "wind_speed": cfg.wind_speed_range_mps}
        self._span = np.array([_overlap(free[n], self.ranges.get(n, free[n])) for n in NAMES[:DIRECTION]])
        self._transition, self._kick = _second_order(3600.0 * cfg.hours / E_FOLD, cfg.grid_seconds)
        self._turn = cfg.wind_turn_deg_per_sqrt_hour * math.sqrt(cfg.grid_seconds / 3600.0)
        self._rng = np.random.default_rng([seed, STREAM])
        rate = E_FOLD / (3600.0 * cfg.hours)  # stationary: x ~ N(0, 1), its velocity ~ N(0, rate^2)
        self._state = self._rng.standard_normal((DIRECTION, 2)) * np.stack([np.ones(DIRECTION), rate], 1)
        self._direction = self._rng.uniform(0.0, 360.0)
        self._grid = 0  # index of the grid point at or before `now`
        self._targets = (self._target(), self._draw())  # free targets at grid points _grid, _grid + 1
        self._turns = 0.0  # whole turns added to the free direction so it stays near the follower
        self.now = 0.0
        """The newest sky time asked (pins act from here on)."""
        self.pins: dict[str, float] = {}
        """Pinned conditions (direction unwrapped near the follower) -- the rest drift."""
        self._y = self._targets[0].copy()  # the follower: what the model gets
        self.pin(**(pins or {}))
        self._y = self._goal(0)

    @classmethod
    def for_model(cls, model, seed: int, pins=None, config=None) -> Weather:
        """The weather of a SkyModel (a model without a manifest, such as SkySim, gets none)."""
        return cls(getattr(model, "manifest", {}).get("conditions", []), seed, pins, config)

    def pin(self, **values: float | None) -> None:
        """Hold conditions at values (None frees one) from `now` on, approached smoothly."""
        for name, value in values.items():
            if name not in NAMES:
                raise KeyError(f"{name!r} is not a weather condition ({', '.join(NAMES)})")
            if value is None:
                self.pins.pop(name, None)
                continue
            value = float(value)
            lo, hi = self.ranges.get(name, UNIVERSAL.get(name, (-math.inf, math.inf)))
            if name == "wind_towards":  # an angle: any value, wrapped
                lo, hi = -math.inf, math.inf
            if not (math.isfinite(value) and lo <= value <= hi):
                raise ValueError(f"{name} {value:g} is outside this package's range [{lo:g}, {hi:g}]")
            if name == "wind_towards":  # the short way round from where the wind points now
                value = float(self._y[DIRECTION] + _wrap180(value - self._y[DIRECTION]))
            self.pins[name] = value
        if "wind_towards" not in self.pins:  # the free walk resumes within half a turn
            self._turns += 360.0 * round((self._y[DIRECTION] - self._free(0)[DIRECTION]) / 360.0)

    def values(self) -> dict[str, float]:
        """The conditions at `now`, for the package's conditions only (direction in [0, 360))."""
        out = {}
        for i, name in enumerate(NAMES):
            if name in self.ranges:
                lo, hi = self.ranges[name]
                v = self._y[i] % 360.0 if i == DIRECTION else min(max(self._y[i], lo), hi)
                out[name] = float(v)
        return out

    def at(self, sky_seconds: float) -> dict[str, float]:
        """Advance to `sky_seconds` (not before `now`) and return values() there."""
        if sky_seconds < self.now:
            raise ValueError(f"weather runs forward: {sky_seconds:.3f} s is before {self.now:.3f} s")
        grid = self.config.grid_seconds
        while self.now < sky_seconds:
            end = min(sky_seconds, (self._grid + 1) * grid)
            self._follow(end)
            if end >= (self._grid + 1) * grid:
                self._grid += 1
                self._targets = (self._targets[1], self._draw())
        return self.values()

    # ------------------------------------------------------------ the processes

    def _target(self) -> np.ndarray:
        """Value-space target of the current process state: CDF-mapped covers and speed, degrees."""
        lo, hi = self._span[:, 0], self._span[:, 1]
        cdf = np.array([0.5 * (1.0 + math.erf(x / math.sqrt(2.0))) for x in self._state[:, 0]])
        return np.append(lo + (hi - lo) * cdf, self._direction)

    def _draw(self) -> np.ndarray:
        """Step the processes one grid interval (exact updates); the new target."""
        n = self._rng.standard_normal(2 * DIRECTION + 1)
        kicks = np.einsum("pij,pj->pi", self._kick, n[:-1].reshape(DIRECTION, 2))
        self._state = np.einsum("pij,pj->pi", self._transition, self._state) + kicks
        self._direction += self._turn * n[-1]
        return self._target()

    def _free(self, k: int) -> np.ndarray:
        """Free target at grid point _grid + k (direction moved by the whole turns added)."""
        t = self._targets[k].copy()
        t[DIRECTION] += self._turns
        return t

    def _goal(self, k: int) -> np.ndarray:
        """Target at grid point _grid + k: the pins where set, else the free process."""
        goal = self._free(k)
        for name, value in self.pins.items():
            goal[NAMES.index(name)] = value
        return goal

    def _follow(self, end: float) -> None:
        """Integrate the follower exactly from now to `end` (within one grid interval): the goal
        is linear there, g(s) = a + b (s - now), and y' = (g - y) / tau has a closed form."""
        grid, tau = self.config.grid_seconds, self.config.approach_seconds
        t0, t1 = self._grid * grid, (self._grid + 1) * grid
        g0, g1 = self._goal(0), self._goal(1)
        slope = (g1 - g0) / grid
        a = g0 + slope * (self.now - t0)
        h = end - self.now
        self._y = a + slope * h - slope * tau + (self._y - a + slope * tau) * math.exp(-h / tau)
        self.now = end if end < t1 else t1


def _second_order(scale_s: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact one-step update of critically damped OU processes (x, x') with x ~ N(0, 1) and
    correlation (1 + r/l) exp(-r/l) at lag r, for scales l: (transitions, Cholesky factors of
    the step's noise covariance), each (P, 2, 2)."""
    rate = 1.0 / scale_s
    u = rate * dt
    e = np.exp(-u)
    transition = e[:, None, None] * np.stack(
        [np.stack([1 + u, np.full_like(u, dt)], -1), np.stack([-rate * u, 1 - u], -1)], -2
    )
    stationary = np.stack([np.diag([1.0, r * r]) for r in rate])
    noise = stationary - transition @ stationary @ transition.transpose(0, 2, 1)
    return transition, np.linalg.cholesky(noise)


def _overlap(free: tuple[float, float], package: tuple[float, float]) -> tuple[float, float]:
    return max(free[0], package[0]), min(free[1], package[1])


# ------------------------------------------------------------ viewer and recorder options


def add_weather_options(group) -> None:
    """The weather options `skyviewer view` and `skyviewer record` share (an argparse group)."""
    group.add_argument(
        "--weather",
        default=AUTO,
        choices=(AUTO, *PRESETS),
        help="auto: cloud, cirrus and wind drift over sky hours; a preset pins them (default: auto)",
    )
    group.add_argument("--cloud-cover", type=float, help="pin cloud cover, 0 clear .. 1 overcast")
    group.add_argument("--cirrus-cover", type=float, help="pin cirrus cover, 0 .. 1")
    group.add_argument("--wind-speed", type=float, help="pin the wind at the cloud layer, m/s")
    group.add_argument(
        "--wind-towards", type=float, help="pin the direction clouds drift to, deg from north to east"
    )


def weather_from_args(args) -> WeatherSetting:
    return WeatherSetting(
        args.weather, args.cloud_cover, args.cirrus_cover, args.wind_speed, args.wind_towards
    )


def checked_pins(model, setting: WeatherSetting) -> tuple[dict[str, float], list[str]]:
    """(pins, notes): the setting's pins, checked against the model's condition ranges (ValueError
    naming the condition), and a note for each explicit value the package has no condition for."""
    pins = setting.pins()
    weather = Weather.for_model(model, 0, pins)
    notes = [
        f"this package has no {name} condition: --{name.replace('_', '-')} is ignored"
        for name in NAMES
        if getattr(setting, name) is not None and name not in weather.ranges
    ]
    return pins, notes
