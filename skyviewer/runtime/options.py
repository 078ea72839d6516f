"""The options `skyviewer view` and `skyviewer record` share, registered in one place so both
commands spell, default and read them alike: where and when the sky starts (runtime/start.py,
DEFAULT_START) and its weather (runtime/weather.py)."""

from __future__ import annotations

import argparse

from skyviewer.runtime.start import add_start_arguments, start_from_args
from skyviewer.runtime.weather import add_weather_options, weather_from_args


def add_sky_options(parser: argparse.ArgumentParser):
    """--lat --lon --date --time --now and --weather --cloud-cover --cirrus-cover --wind-speed
    --wind-towards, in two groups; returns the place-and-time group (the viewer adds --start-utc)."""
    place = parser.add_argument_group("place and start time")
    add_start_arguments(place)
    add_weather_options(parser.add_argument_group("weather (docs/weather.md)"))
    return place


def sky_from_args(args: argparse.Namespace) -> dict:
    """The fields ViewerConfig and RecordConfig both take from those options."""
    return {
        "latitude_deg": args.lat,
        "longitude_deg": args.lon,
        "start_unix_time": start_from_args(args),
        "weather": weather_from_args(args),
    }
