"""Sliced Wasserstein distance between two sets of images on a Laplacian pyramid.

Karras et al. 2018, "Progressive Growing of GANs", sec. 5 / appendix D: build a Laplacian
pyramid of every image (Burt & Adelson 1983; 5-tap binomial filter), take 7x7 neighbourhoods
("descriptors") at random positions of each level, normalise them per channel, and measure
the sliced Wasserstein distance between the two descriptor sets: project onto random unit
directions, sort, and average |a_sorted - b_sorted| (the 1-D Wasserstein-1 distance of each
projection). Small levels compare colour layout, large levels texture and sharpness.

Differences from ProGAN, both deliberate:
  * descriptors are centred inside the horizon circle (the fisheye's corners are -1 in every
    image and would only dilute the distance);
  * both sets are normalised with the *reference* set's per-channel mean and std (ProGAN uses
    each set's own), so a global brightness or colour drift is measured, not normalised away.
Values are reported x 1e3, as ProGAN does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from skyviewer.sky.projection import fisheye_mask

BINOMIAL_5 = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
PATCH = 7
"""Descriptor side (pixels), as in ProGAN."""
MIN_LEVEL_PX = 16
"""The coarsest pyramid level is the first at or below this size (ProGAN stops at 16 px)."""
SCALE = 1e3
BATCH_VALUES = 12_000_000
"""Pyramids are built for this many image values at a time (~100 MB in float64)."""


@dataclass(frozen=True)
class SWDSettings:
    """How descriptors are drawn and projected."""

    descriptors_per_image: int = 128
    """Descriptors drawn per image and level (ProGAN: 128)."""
    min_descriptors: int = 4096
    """With few images, draw more per image so each level has at least this many."""
    projections: int = 512
    """Random unit directions (ProGAN: 4 repeats x 128)."""
    seed: int = 0
    """Seeds descriptor positions and projection directions."""


def blur(x: np.ndarray) -> np.ndarray:
    """Separable binomial blur of (B, C, H, W) with reflected borders."""
    pad = len(BINOMIAL_5) // 2
    for axis in (2, 3):
        widths = [(0, 0)] * 4
        widths[axis] = (pad, pad)
        p = np.pad(x, widths, mode="reflect")
        n = x.shape[axis]
        x = sum(w * np.take(p, np.arange(k, k + n), axis=axis) for k, w in enumerate(BINOMIAL_5))
    return x


def _expand(x: np.ndarray) -> np.ndarray:
    """Burt-Adelson expand: zero-insert to twice the size, blur, x4 to keep the mean."""
    b, c, h, w = x.shape
    up = np.zeros((b, c, 2 * h, 2 * w), dtype=x.dtype)
    up[:, :, ::2, ::2] = x
    return 4.0 * blur(up)


def pyramid_levels(height: int, width: int | None = None) -> int:
    """Number of levels for a height x width image (square if width is None): halve while both
    sides are even and the smaller stays >= MIN_LEVEL_PX (at least one level)."""
    h, w = height, height if width is None else width
    levels = 1
    while h % 2 == 0 and w % 2 == 0 and min(h, w) // 2 >= MIN_LEVEL_PX:
        h, w = h // 2, w // 2
        levels += 1
    return levels


def laplacian_pyramid(images: np.ndarray, levels: int) -> list[np.ndarray]:
    """(B, C, H, W) -> [band-pass levels, finest first ..., the low-pass residual last]."""
    out, g = [], np.asarray(images, dtype=np.float64)
    for _ in range(levels - 1):
        low = blur(g)[:, :, ::2, ::2]
        out.append(g - _expand(low))
        g = low
    out.append(g)
    return out


def reconstruct(pyramid: list[np.ndarray]) -> np.ndarray:
    """Inverse of laplacian_pyramid."""
    g = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        g = band + _expand(g)
    return g


def descriptors(
    level: np.ndarray, per_image: int, rng: np.random.Generator, centres: np.ndarray | None = None
) -> np.ndarray:
    """(B, C, H, W) -> (B * per_image, C * 49) 7x7 neighbourhoods at random allowed centres.

    centres: (B, H, W) where each image's descriptors may be centred (level_centres); None: the
    fisheye rule, centres inside the horizon circle whose neighbourhood lies inside the image."""
    b, c, h, w = level.shape
    r = PATCH // 2
    if centres is None:
        rows, cols = np.nonzero(fisheye_mask(h))
        inside = (rows >= r) & (rows < h - r) & (cols >= r) & (cols < w - r)
        rows, cols = rows[inside], cols[inside]
        pick = rng.integers(len(rows), size=(b, per_image))  # (B, P) positions, with replacement
        prow, pcol = rows[pick], cols[pick]
    else:
        prow, pcol = np.empty((b, per_image), int), np.empty((b, per_image), int)
        for i in range(b):
            rows, cols = np.nonzero(centres[i])
            if not len(rows):
                raise ValueError(f"image {i} has no descriptor centre at level {h}x{w}")
            pick = rng.integers(len(rows), size=per_image)
            prow[i], pcol[i] = rows[pick], cols[pick]
    offsets = np.arange(-r, r + 1)
    ri = prow[..., None, None] + offsets[:, None]  # (B, P, 7, 1)
    ci = pcol[..., None, None] + offsets[None, :]  # (B, P, 1, 7)
    patches = level[np.arange(b)[:, None, None, None], :, ri, ci]  # (B, P, 7, 7, C)
    return patches.transpose(0, 1, 4, 2, 3).reshape(b * per_image, c * PATCH * PATCH)


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    """(B, H, W) bool -> True where the whole (2r+1)^2 neighbourhood is True and inside the image."""
    out = mask.copy()
    for axis in (1, 2):
        pad = [(0, 0)] * 3
        pad[axis] = (r, r)
        p = np.pad(out, pad, constant_values=False)
        n = out.shape[axis]
        out = np.logical_and.reduce([np.take(p, np.arange(k, k + n), axis=axis) for k in range(2 * r + 1)])
    return out


def level_centres(valid: np.ndarray, levels: int) -> list[np.ndarray]:
    """(B, H, W) valid pixels at full resolution -> per pyramid level (finest first) the (B, h, w)
    centres whose whole 7x7 neighbourhood is valid (a coarse pixel is valid if its 2x2 block was)."""
    out, m = [_erode(np.asarray(valid, bool), PATCH // 2)], np.asarray(valid, bool)
    for _ in range(levels - 1):
        m = m[:, 0::2, 0::2] & m[:, 1::2, 1::2] & m[:, 0::2, 1::2] & m[:, 1::2, 0::2]
        out.append(_erode(m, PATCH // 2))
    return out


def _descriptor_sets(
    images: np.ndarray, valid: np.ndarray | None, levels: int, per_image: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Descriptors of every pyramid level of `images`, building the pyramids a batch at a time so
    large views (e.g. 48 x 3 x 360 x 640) need no more than ~100 MB at once."""
    batch = max(1, BATCH_VALUES // int(np.prod(images.shape[1:])))
    sets: list[list[np.ndarray]] = [[] for _ in range(levels)]
    for s in range(0, len(images), batch):
        pyramid = laplacian_pyramid(images[s : s + batch], levels)
        centres = level_centres(valid[s : s + batch], levels) if valid is not None else [None] * levels
        for out, level, c in zip(sets, pyramid, centres, strict=True):
            out.append(descriptors(level, per_image, rng, c))
    return [np.concatenate(d) for d in sets]


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, projections: int, rng: np.random.Generator) -> float:
    """Mean over random unit directions of the 1-D Wasserstein-1 distance of the projections.

    a, b: (n, D) descriptor sets of equal size (sorting pairs the quantiles)."""
    dirs = rng.standard_normal((a.shape[1], projections))
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
    return float(np.mean(np.abs(pa - pb)))


def _normalise(desc: np.ndarray, mean: np.ndarray, std: np.ndarray, channels: int) -> np.ndarray:
    d = desc.reshape(len(desc), channels, -1)
    return ((d - mean[:, None]) / std[:, None]).reshape(len(desc), -1)


def swd(
    images: np.ndarray,
    reference: np.ndarray,
    settings: SWDSettings = SWDSettings(),
    valid: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[float]:
    """SWD (x 1e3) between (B, C, H, W) images and (B', C, H, W) reference images, per pyramid
    level (finest first). Use equal image counts on both sides when comparing to a floor: the
    distance of finite samples grows as the sample shrinks.

    valid: (B, H, W) and (B', H, W) pixels that may enter a descriptor (e.g. the sky part of a
    perspective view); None: square fisheye frames, descriptors centred inside the horizon."""
    if images.shape[1:] != reference.shape[1:]:
        raise ValueError(f"image shapes differ: {images.shape[1:]} vs {reference.shape[1:]}")
    rng = np.random.default_rng(settings.seed)
    levels = pyramid_levels(*images.shape[-2:])
    count = min(len(images), len(reference))
    per_image = max(settings.descriptors_per_image, math.ceil(settings.min_descriptors / count))
    channels = images.shape[1]
    gen_valid, ref_valid = valid if valid is not None else (None, None)
    # Both sides are cut to count * per_image descriptors below: a side with more images draws
    # fewer from each (one rollout frame against 576 held-out ones drew 4,096 from every one of
    # them, 17 GB).
    wanted = count * per_image
    gen_sets = _descriptor_sets(images, gen_valid, levels, math.ceil(wanted / len(images)), rng)
    ref_sets = _descriptor_sets(reference, ref_valid, levels, math.ceil(wanted / len(reference)), rng)
    out = []
    for da, db in zip(gen_sets, ref_sets, strict=True):
        n = min(len(da), len(db))  # sorting pairs quantiles, so the sets must be the same size
        da, db = da[rng.permutation(len(da))[:n]], db[rng.permutation(len(db))[:n]]
        per_channel = db.reshape(n, channels, -1).transpose(1, 0, 2).reshape(channels, -1)
        mean, std = per_channel.mean(axis=1), per_channel.std(axis=1) + 1e-8
        da, db = (_normalise(d, mean, std, channels) for d in (da, db))
        out.append(SCALE * sliced_wasserstein(da, db, settings.projections, rng))
    return out


def ratio_entry(levels: list[float], floor_levels: list[float]) -> dict:
    """A report's SWD figure: the mean over levels, the floor's, their ratio, and both per level."""
    value, noise = float(np.mean(levels)), float(np.mean(floor_levels))
    return {
        "swd": value,
        "floor": noise,
        "ratio": value / noise,
        "levels": levels,
        "floor_levels": floor_levels,
    }
