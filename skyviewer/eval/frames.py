"""Frames as the metrics see them: area-resampled in linear radiance, encoded, reduced to a luma signal.

Every metric takes linear-radiance frames (N, N, 3) at any resolution (a model's or the data's)
and brings both sides to one resolution here, so model and data are always measured alike.
"""

from __future__ import annotations

import numpy as np

from skyviewer.sky.projection import fisheye_mask
from skyviewer.sky.radiance import ENCODING, REC709_LUMA


def area_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) weights of area (box) resampling: each output pixel averages the input it covers."""
    edges = np.linspace(0, src, dst + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    px = np.arange(src)[None, :]
    overlap = np.clip(np.minimum(hi, px + 1) - np.maximum(lo, px), 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def to_resolution(frames: np.ndarray, n: int) -> np.ndarray:
    """(T, R, R, 3) nits -> (T, N, N, 3) nits, area-averaged in linear radiance (as training does)."""
    x = np.asarray(frames, dtype=np.float32)
    if x.shape[1] == n:
        return x
    a = area_matrix(x.shape[1], n).astype(np.float32)
    # Two matrix products (optimize): the naive three-operand loop costs R^2 N^2 per frame (minutes
    # for a 48-frame 256 px sequence at 128 px).
    return np.einsum("ir,trsc,js->tijc", a, x, a, optimize=True)


def encode(radiance: np.ndarray) -> np.ndarray:
    """(T, N, N, 3) nits -> (T, 3, N, N) encoded, -1 below the horizon."""
    mask = fisheye_mask(radiance.shape[1])
    e = ENCODING.encode(np.asarray(radiance, np.float32)).transpose(0, 3, 1, 2)
    return np.where(mask, e, -1.0).astype(np.float32)


def luma(encoded: np.ndarray) -> np.ndarray:
    """(..., 3, H, W) encoded -> (..., H, W) Rec.709-weighted mean of the channels (log luminance proxy)."""
    return np.einsum("...chw,c->...hw", encoded, np.asarray(REC709_LUMA, np.float32))
