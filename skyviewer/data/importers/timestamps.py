"""Capture times from file names and EXIF, as POSIX seconds (UTC).

Times without a zone (folder and file names, EXIF without OffsetTimeOriginal) are
camera-local: `utc_offset_hours` says how far that clock is ahead of UTC.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from skyviewer.data.importers.decode import open_pillow

# YYYYMMDD?hhmmss with optional separators: 20240501_123000, IMG_20240501_123000,
# 2024-05-01T12-30-00, 2024-05-01 12:30:00, 20240501123000. Digits may not touch it
# on either side, so frame numbers are not read as dates.
_FILENAME_TIME = re.compile(
    r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})[T_ \-]?(\d{2})[-:.]?(\d{2})[-:.]?(\d{2})(?!\d)"
)
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011


def _to_unix(fields: tuple[int, ...], utc_offset_hours: float) -> float | None:
    try:
        local = datetime(*fields, tzinfo=timezone(timedelta(hours=utc_offset_hours)))
    except ValueError:  # month 13, hour 25: digits that are not a date
        return None
    return local.timestamp()


def time_from_name(name: str, utc_offset_hours: float = 0.0) -> float | None:
    """POSIX time of the first date-time in a file name, or None."""
    for match in _FILENAME_TIME.finditer(name):
        t = _to_unix(tuple(int(g) for g in match.groups()), utc_offset_hours)
        if t is not None:
            return t
    return None


def time_from_folders(day: str, clock: str, utc_offset_hours: float = 0.0) -> float | None:
    """POSIX time of a Laval capture folder pair YYYYMMDD/HHMMSS, or None."""
    if not (re.fullmatch(r"\d{8}", day) and re.fullmatch(r"\d{6}", clock)):
        return None
    return time_from_name(f"{day}_{clock}", utc_offset_hours)


def time_from_exif(path: Path, utc_offset_hours: float = 0.0) -> float | None:
    """POSIX time of EXIF DateTimeOriginal (with OffsetTimeOriginal if present), or None.

    Raises report.Skip for a decompression bomb (decode.open_pillow): that, unlike a
    missing time, is a reason of its own.
    """
    try:
        with open_pillow(path) as im:
            exif = im.getexif().get_ifd(_EXIF_IFD)
    except (OSError, ValueError, SyntaxError):  # unreadable: the decode step reports it
        return None
    stamp = exif.get(_DATETIME_ORIGINAL)
    match = re.fullmatch(r"(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})", str(stamp or "").strip())
    if not match:
        return None
    offset = _parse_offset(exif.get(_OFFSET_TIME_ORIGINAL))
    return _to_unix(tuple(int(g) for g in match.groups()), utc_offset_hours if offset is None else offset)


def _parse_offset(text) -> float | None:
    """Hours of an EXIF offset like '+02:00', or None."""
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", str(text or "").strip())
    if not match:
        return None
    hours = int(match[2]) + int(match[3]) / 60
    return hours if match[1] == "+" else -hours


def format_time(t: float) -> str:
    """ISO 8601 UTC of POSIX seconds, for messages."""
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat().replace("+00:00", "Z")
