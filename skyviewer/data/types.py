"""What flows from sky sources (simulator, importers) into the dataset store.

A source yields `SkySequence`s: consecutive frames of one sky, in the canonical
fisheye projection (skyviewer.sky.projection), linear radiance in nits
(skyviewer.sky.radiance), a fixed interval of sky time between frames.
Per-frame metadata is a numpy structured array (FRAME_META_DTYPE) so the store can
memory-map it; unknown values are NaN (e.g. cloud cover of a real capture).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FRAME_META_DTYPE = np.dtype(
    [
        ("t_seconds", "f8"),  # sky time since the first frame of the sequence
        ("unix_time", "f8"),  # absolute UTC time of the frame (POSIX seconds), NaN if unknown
        ("sun_dir", "f4", (3,)),  # unit world direction to the sun (+Y up, -Z north, +X east)
        ("cloud_cover", "f4"),  # fraction of the sky covered by cloud, [0, 1]
        ("wind", "f4", (2,)),  # cloud-level wind (east, north) in m/s
        ("wind_speed_mps", "f4"),  # cumulus-level wind speed, m/s (NaN if unknown)
        ("wind_towards_deg", "f4"),  # azimuth the low clouds move towards, deg from north to east
        ("cirrus_cover", "f4"),  # fraction of the cirrus layer covered, [0, 1] (NaN if unknown)
        ("cirrus_wind_speed_mps", "f4"),  # cirrus-level wind speed (same direction), m/s
    ]
)
"""Datasets written before 2026-11-30 lack the last four fields: the store reads them as NaN."""


def empty_meta(n: int) -> np.ndarray:
    """n metadata records with every field unknown (NaN)."""
    meta = np.zeros(n, dtype=FRAME_META_DTYPE)
    for name in FRAME_META_DTYPE.names:
        meta[name] = np.nan
    return meta


@dataclass
class SkySequence:
    """Consecutive frames of one sky, ready for the dataset store."""

    frames: np.ndarray
    """(T, N, N, 3) linear radiance in nits, canonical fisheye; float16 or float32."""
    meta: np.ndarray
    """(T,) FRAME_META_DTYPE records, one per frame."""
    step_seconds: float
    """Sky time between consecutive frames."""
    source: str
    """Where it came from: 'skysim seed=3 lat=47.0 ...', a folder path, a video path."""
    attributes: dict = field(default_factory=dict)
    """JSON-able extras kept in the dataset manifest (simulator settings, camera, ...)."""
    patches: np.ndarray | None = None
    """(T, K, P, P, 3) optional: K square patches per frame of the same sky at a higher resolution."""
    patch_positions: np.ndarray | None = None
    """(T, K, 2) integer top-left (row, col) of each patch in the higher-resolution frame."""

    def __post_init__(self) -> None:
        t, n, m, c = self.frames.shape
        if n != m or c != 3:
            raise ValueError(f"frames must be (T, N, N, 3), got {self.frames.shape}")
        if self.meta.shape != (t,) or self.meta.dtype != FRAME_META_DTYPE:
            raise ValueError(f"meta must be ({t},) FRAME_META_DTYPE, got {self.meta.shape} {self.meta.dtype}")
        if (self.patches is None) != (self.patch_positions is None):
            raise ValueError("patches and patch_positions come together")
        if self.patches is not None:
            shape = self.patches.shape
            if len(shape) != 5 or shape[0] != t or shape[2] != shape[3] or shape[4] != 3:
                raise ValueError(f"patches must be ({t}, K, P, P, 3), got {shape}")
            if self.patch_positions.shape != (t, shape[1], 2):
                raise ValueError(
                    f"patch_positions must be ({t}, {shape[1]}, 2), got {self.patch_positions.shape}"
                )
