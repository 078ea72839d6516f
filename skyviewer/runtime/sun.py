"""Moving the sun along its day arc for a host that has no sun of its own (no torch).

SkyModel wants the sun direction of the frame each step() produces. A host with a game
clock passes its own; others can keep a SunClock at a place and time, advanced by the
package's step_seconds:

    clock = SunClock(latitude_deg=46.8, longitude_deg=-71.2, unix_time=1_700_000_000.0)
    sky.set_conditions(sun_dir=clock.direction()); sky.reset(seed)
    while True:
        sky.set_conditions(sun_dir=clock.advance(sky.step_seconds)); frame = sky.step()
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skyviewer.sky.solar import sun_direction


@dataclass
class SunClock:
    """A place and a UTC time; directions come from the NOAA solar position (pure numpy)."""

    latitude_deg: float
    """Geographic latitude, north positive."""
    longitude_deg: float
    """Geographic longitude, east positive."""
    unix_time: float
    """POSIX seconds (UTC) of the current frame."""

    def direction(self) -> np.ndarray:
        """Unit world vector (+Y up, -Z north, +X east) to the apparent sun now, float32 (3,)."""
        return sun_direction(self.latitude_deg, self.longitude_deg, self.unix_time).astype(np.float32)

    def advance(self, seconds: float) -> np.ndarray:
        """Move the clock on by `seconds` of sky time; the sun direction then."""
        self.unix_time += seconds
        return self.direction()
