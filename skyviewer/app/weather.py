"""The viewer's weather controls: which conditions are pinned, what the keys do, the HUD line.

The worker's timeline runs the Weather (runtime/weather.py); this is the render thread's side.
Pins go to the worker, which applies them before its next step; the values shown come from the
frames on screen, so the HUD shows the weather the sky was made under.
"""

from __future__ import annotations

from skyviewer.app.worker import SkyWorker
from skyviewer.runtime.weather import NAMES, PRESETS, WeatherSetting, compass


class WeatherControl:
    """Pins of the package's weather conditions, changed by keys and sent to a SkyWorker."""

    def __init__(self, conditions: list[dict], setting: WeatherSetting) -> None:
        """conditions: the package's condition specs; setting: the command line's choice."""
        self.ranges = {c["name"]: tuple(c["range"]) for c in conditions if c["name"] in NAMES}
        """Range of each weather condition the package has (only these are pinned or shown)."""
        self.pins = {k: v for k, v in setting.pins().items() if k in self.ranges}
        """Pinned conditions (as the worker has them); the others drift."""
        self.worker: SkyWorker | None = None
        """Where pins go; set once the worker exists."""

    def label(self) -> str:
        """auto (nothing pinned), the preset whose values are pinned, or pinned."""
        if not self.pins:
            return "auto"
        for name, values in PRESETS.items():
            preset = {k: v for k, v in values.items() if k in self.ranges}
            same = all(self.pins.get(k) == v for k, v in preset.items())
            if same and set(self.pins) - set(preset) <= {"wind_towards"}:
                return name
        return "pinned"

    def nudge(self, name: str, delta: float, shown: dict[str, float]) -> None:
        """Pin `name` at its pin (or its value on screen) + delta, within the package's range."""
        value = self.pins.get(name, shown.get(name))
        if name not in self.ranges or value is None:  # not in this package, or no sky yet
            return
        if name == "wind_towards":
            self.pin(**{name: round((value + delta) % 360.0, 3)})
        else:
            lo, hi = self.ranges[name]
            self.pin(**{name: round(min(max(value + delta, lo), hi), 3)})

    def next_preset(self) -> None:
        """Pin the preset after the current one (the first if none is)."""
        names = list(PRESETS)
        current = self.label()
        preset = names[(names.index(current) + 1) % len(names)] if current in names else names[0]
        self.pin(**{k: v for k, v in PRESETS[preset].items() if k in self.ranges})

    def toggle(self, shown: dict[str, float]) -> None:
        """Free every pinned condition, or, when none is pinned, pin all at their values on screen."""
        if self.pins:
            self.pin(**dict.fromkeys(self.pins))
        else:
            self.pin(**{k: v for k, v in shown.items() if k in self.ranges})

    def pin(self, **values: float | None) -> None:
        """Pin (None: free) conditions, here and in the worker."""
        self.pins = {k: v for k, v in {**self.pins, **values}.items() if v is not None}
        if self.worker is not None:
            self.worker.pin_weather(**values)

    def hud_line(self, shown: dict[str, float]) -> str:
        """The weather state and the values on screen; a ~ marks a condition that drifts."""
        parts = [f"weather {self.label()}"]
        texts = {
            "cloud_cover": lambda v: f"cloud {v:.2f}",
            "cirrus_cover": lambda v: f"cirrus {v:.2f}",
            "wind_speed": lambda v: f"wind {v:.1f} m/s",
            "wind_towards": lambda v: f"to {compass(v)} ({v:.0f} deg)",
        }
        for name, text in texts.items():
            if name in shown and name in self.ranges:
                parts.append(text(shown[name]) + ("" if name in self.pins else "~"))
        return "   ".join(parts)
