"""A folder of sky images (PNG/JPEG/... sRGB, EXR and Radiance .hdr linear), ordered by capture time.

The time comes from the file name (20240501_123000, 2024-05-01T12-30-00,
IMG_20240501_123000, ...) or else EXIF DateTimeOriginal; files with neither are
reported and left out. Only the folder itself is read, not its sub-folders.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from skyviewer.data.importers.decode import IMAGE_SUFFIXES, read_image
from skyviewer.data.importers.pipeline import Candidate, ImportOptions, Source
from skyviewer.data.importers.report import NO_TIMESTAMP, ImportReport, Skip
from skyviewer.data.importers.timestamps import time_from_exif, time_from_name


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def capture_time(path: Path, utc_offset_hours: float) -> float | None:
    """POSIX time from the file name, else from EXIF, else None; raises Skip (decompression bomb)."""
    t = time_from_name(path.name, utc_offset_hours)
    return t if t is not None else time_from_exif(path, utc_offset_hours)


def find_images(folder: Path, options: ImportOptions, report: ImportReport) -> Source:
    """The folder's images in capture-time order (ties keep name order: the later one is a duplicate)."""
    timed = []
    for path in image_files(folder):
        try:
            t = capture_time(path, options.utc_offset_hours)
        except Skip as e:
            report.skip(str(path), e.code, e.message)
            continue
        if t is None:
            reason = "no date-time in the file name (like 20240501_123000) and no EXIF DateTimeOriginal"
            report.skip(str(path), NO_TIMESTAMP, reason)
            continue
        timed.append((t, path))
    timed.sort(key=lambda tp: tp[0])  # stable: equal times stay in name order
    candidates = [
        Candidate(str(p), t, t, partial(read_image, p, options.scale_nits, options.hdr_scale))
        for t, p in timed
    ]
    attributes = {
        "kind": "images",
        "projection": options.projection,
        "square": options.square,
        "scale_nits": options.scale_nits,
        "hdr_scale": options.hdr_scale,
    }
    return Source(str(folder), "images", candidates, len(candidates), options, attributes)
