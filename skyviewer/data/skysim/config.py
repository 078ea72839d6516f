"""SimConfig: every knob of the sky simulator, with units in the names."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class SimConfig:
    """Settings of one simulated sky. Together with the seed they fix every frame."""

    resolution: int = 256
    """Side N of the N x N canonical fisheye image (pixels)."""
    latitude_deg: float = 47.37
    """Observer latitude, degrees north (negative = south)."""
    longitude_deg: float = 8.54
    """Observer longitude, degrees east (negative = west)."""
    start_utc: str = "2024-06-21T10:00:00Z"
    """UTC date and time of frame 0, ISO 8601; a time without an offset is read as UTC."""
    step_seconds: float = 10.0
    """Sky time between consecutive frames."""
    turbidity: float = 3.0
    """Preetham turbidity: 2 = very clear, 3 = clear, 6 = hazy, 10 = very hazy (valid 1.7-10)."""
    cloud_cover: float = 0.4
    """Fraction of the cumulus layer covered by cloud: 0 = clear, 1 = overcast."""
    cirrus_cover: float = 0.2
    """Fraction of the high cirrus layer covered by cloud, 0..1."""
    wind_speed_mps: float = 8.0
    """Wind speed at the cumulus layer (m/s)."""
    wind_towards_deg: float = 90.0
    """Azimuth (from north towards east) the clouds move towards: 90 = they drift east."""
    cloud_altitude_m: float = 1500.0
    """Height of the cumulus base above the observer (m)."""
    cloud_thickness_m: float = 1000.0
    """Vertical extent of the thickest cumulus (m); thicker clouds have darker bases."""
    cloud_size_m: float = 2500.0
    """Typical size of a cumulus cell (m): wavelength of the strongest noise octave."""
    cirrus_altitude_m: float = 9000.0
    """Height of the cirrus layer above the observer (m)."""
    cirrus_wind_scale: float = 2.0
    """Cirrus wind speed as a multiple of wind_speed_mps (winds grow with height)."""
    cloud_lifetime_s: float = 900.0
    """Time over which cloud shapes renew (one cycle of the evolving noise); smaller = faster boiling."""

    def __post_init__(self) -> None:
        checks = [
            (self.resolution >= 8, "resolution must be >= 8"),
            (-90.0 <= self.latitude_deg <= 90.0, "latitude_deg must be in [-90, 90]"),
            (-180.0 <= self.longitude_deg <= 360.0, "longitude_deg must be in [-180, 360]"),
            (self.step_seconds > 0.0, "step_seconds must be > 0"),
            (1.7 <= self.turbidity <= 10.0, "turbidity must be in [1.7, 10] (Preetham's fitted range)"),
            (0.0 <= self.cloud_cover <= 1.0, "cloud_cover must be in [0, 1]"),
            (0.0 <= self.cirrus_cover <= 1.0, "cirrus_cover must be in [0, 1]"),
            (self.wind_speed_mps >= 0.0, "wind_speed_mps must be >= 0"),
            (
                0.0 < self.cloud_altitude_m < self.cirrus_altitude_m,
                "need 0 < cloud_altitude_m < cirrus_altitude_m",
            ),
            (
                self.cloud_thickness_m > 0.0 and self.cloud_size_m > 0.0,
                "cloud thickness and size must be > 0",
            ),
            (self.cirrus_wind_scale >= 0.0, "cirrus_wind_scale must be >= 0"),
            (self.cloud_lifetime_s > 0.0, "cloud_lifetime_s must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"SimConfig: {message}")
        _ = self.start_unix_time  # parse now so a bad string fails at construction

    @property
    def start_unix_time(self) -> float:
        """start_utc as POSIX seconds."""
        try:
            t = datetime.fromisoformat(self.start_utc.replace("Z", "+00:00"))
        except ValueError as e:
            raise ValueError(f"SimConfig: start_utc {self.start_utc!r} is not an ISO 8601 date-time") from e
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        return t.timestamp()

    def describe(self, seed: int) -> str:
        """One line naming the sky, for SkySequence.source."""
        return (
            f"skysim seed={seed} lat={self.latitude_deg} lon={self.longitude_deg} start={self.start_utc} "
            f"cover={self.cloud_cover} cirrus={self.cirrus_cover} T={self.turbidity}"
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)
