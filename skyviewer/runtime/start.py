"""Where and when a sky starts: one default for the viewer and the recorder, and the command-line
options both use to change it (--lat, --lon, --date, --time, --now).

The default is a fixed daytime moment, not the wall clock, so that a first `skyviewer view` or
`skyviewer record` shows what the models do in daylight, whatever the hour; `--now` asks for the
sky of the present moment instead.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone

from skyviewer.errors import UserError


@dataclass(frozen=True)
class SkyStart:
    """A place on Earth and the moment of the first frame, in local mean solar time."""

    latitude_deg: float
    """Observer latitude, degrees north."""
    longitude_deg: float
    """Observer longitude, degrees east."""
    date: str
    """Date of the first frame, YYYY-MM-DD."""
    local_solar_time: str
    """Local mean solar time of the first frame, HH:MM (UTC + longitude / 15 h): noon is noon
    wherever the observer stands."""

    def unix_time(self) -> float:
        """POSIX seconds (UTC) of the first frame."""
        return start_time(self.date, self.local_solar_time, self.longitude_deg)


DEFAULT_START = SkyStart(latitude_deg=47.37, longitude_deg=8.54, date="2024-06-21", local_solar_time="10:00")
"""The viewer's and the recorder's default: Zurich (SkySim's default place) on the June solstice
at 10:00 local solar time, the sun 56 deg up in the south-east: a bright mid-morning sky."""


def start_time(day: str, local_solar_time: str, longitude_deg: float) -> float:
    """POSIX seconds of a date and a local mean solar time 'HH:MM' (UTC + longitude / 15 hours)."""
    try:
        midnight = datetime.combine(date.fromisoformat(day), datetime.min.time(), timezone.utc)
        hours, minutes = (int(v) for v in local_solar_time.split(":"))
    except ValueError:
        raise UserError(
            f"--date {day!r} / --time {local_solar_time!r}: expected YYYY-MM-DD and HH:MM"
        ) from None
    return midnight.timestamp() + (hours * 60 + minutes) * 60.0 - longitude_deg / 15.0 * 3600.0


def add_start_arguments(group) -> None:
    """--lat, --lon, --date, --time and --now on an argparse parser or group, defaults from
    DEFAULT_START."""
    d = DEFAULT_START
    options = [
        ("--lat", float, d.latitude_deg, "observer latitude, deg north"),
        ("--lon", float, d.longitude_deg, "observer longitude, deg east"),
        ("--date", str, d.date, "date of the first frame, YYYY-MM-DD"),
        ("--time", str, d.local_solar_time, "local mean solar time of the first frame, HH:MM"),
    ]
    for flag, kind, default, text in options:
        group.add_argument(flag, type=kind, default=default, help=f"{text} (default %(default)s)")
    group.add_argument(
        "--now", action="store_true", help="start at the present moment instead of --date and --time"
    )


def start_from_args(args: argparse.Namespace) -> float:
    """POSIX seconds of the first frame the options ask for."""
    return time.time() if args.now else start_time(args.date, args.time, args.lon)
