"""The Laval HDR sky database layout: ROOT/YYYYMMDD/HHMMSS/envmap.exr.

Each envmap is a lat-long HDR panorama (2:1 full sphere or 4:1 upper hemisphere),
reprojected to the canonical fisheye; its capture time is the folder pair's name.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import partial
from pathlib import Path

from skyviewer.data.importers.decode import read_image
from skyviewer.data.importers.pipeline import Candidate, ImportOptions, Source
from skyviewer.data.importers.report import MISSING_FILE, ImportReport
from skyviewer.data.importers.timestamps import time_from_folders

ENVMAP = "envmap.exr"


def _subdirs(path: Path, digits: int) -> list[Path]:
    """Sub-folders of path named by exactly `digits` digits, sorted by name (= by time)."""
    pattern = re.compile(rf"\d{{{digits}}}")
    return sorted(p for p in path.iterdir() if p.is_dir() and pattern.fullmatch(p.name))


def is_laval(path: Path) -> bool:
    """Whether path looks like a Laval root: some YYYYMMDD/HHMMSS/ folder inside."""
    return path.is_dir() and any(_subdirs(day, 6) for day in _subdirs(path, 8))


def find_laval(root: Path, options: ImportOptions, report: ImportReport) -> Source:
    """Every capture under root, in time order; capture folders without an envmap are reported."""
    candidates = []
    for day in _subdirs(root, 8):
        for clock in _subdirs(day, 6):
            t = time_from_folders(day.name, clock.name, options.utc_offset_hours)
            envmap = clock / ENVMAP
            if t is None:  # digits that are no date, e.g. 20241399
                continue
            if not envmap.is_file():
                report.skip(str(clock), MISSING_FILE, f"capture folder without {ENVMAP}")
                continue
            decode = partial(read_image, envmap, options.scale_nits, options.hdr_scale)
            candidates.append(Candidate(str(envmap), t, t, decode))
    return Source(
        path=str(root),
        kind="laval",
        candidates=candidates,
        total=len(candidates),
        options=replace(options, projection="equirect"),
        attributes={
            "kind": "laval",
            "hdr_scale": options.hdr_scale,
            "azimuth_offset_deg": options.azimuth_offset_deg,
        },
    )
