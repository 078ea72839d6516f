"""Per-frame statistics along a rollout and their spread in the data.

All on encoded frames (log radiance, docs/conventions.md; 0.068 per stop) inside the horizon:
  change      mean |e_t - e_(t-1)| over pixels and channels: motion energy (0 for a frozen sky)
  brightness  Rec.709-weighted mean of the per-channel means: log-luminance proxy
  blue_red    mean e_B - mean e_R: colour (log blue/red ratio; grows as a sky turns blue)
  nonfinite   count of NaN/Inf values in the frame
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skyviewer.sky.radiance import REC709_LUMA

BAND_PERCENTILES = (10.0, 90.0)


def channel_means(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(T, 3, N, N) encoded -> (T, 3) mean of each channel inside the mask."""
    return frames[:, :, mask].mean(axis=-1)


def changes(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(T, 3, N, N) -> (T - 1,) mean |frame_t - frame_(t-1)| inside the mask."""
    return np.abs(np.diff(frames[:, :, mask], axis=0)).mean(axis=(1, 2))


def brightness(means: np.ndarray) -> np.ndarray:
    """(..., 3) channel means -> (...,) luminance-weighted mean."""
    return means @ np.asarray(REC709_LUMA)


def blue_red(means: np.ndarray) -> np.ndarray:
    """(..., 3) channel means -> (...,) blue minus red."""
    return means[..., 2] - means[..., 0]


def nonfinite(frames: np.ndarray) -> np.ndarray:
    """(T, 3, N, N) -> (T,) number of NaN/Inf values per frame."""
    return (~np.isfinite(frames)).reshape(len(frames), -1).sum(axis=1)


@dataclass(frozen=True)
class Band:
    """The spread of one statistic over data frames: mean and a percentile band."""

    mean: float
    lo: float
    """10th percentile."""
    hi: float
    """90th percentile."""

    @classmethod
    def of(cls, values: np.ndarray) -> Band:
        lo, hi = np.percentile(values, BAND_PERCENTILES)
        return cls(float(np.mean(values)), float(lo), float(hi))


def data_bands(sequences: list[np.ndarray], mask: np.ndarray) -> dict[str, Band]:
    """Bands of change, brightness and blue_red over encoded held-out sequences [(T, 3, N, N)]."""
    means = np.concatenate([channel_means(s, mask) for s in sequences])
    deltas = np.concatenate([changes(s, mask) for s in sequences] + [np.empty(0)])
    deltas = deltas if deltas.size else np.array([np.nan])  # single-frame sequences: no motion known
    return {
        "change": Band.of(deltas),
        "brightness": Band.of(brightness(means)),
        "blue_red": Band.of(blue_red(means)),
    }
