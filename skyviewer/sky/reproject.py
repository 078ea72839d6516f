"""Resample sky images between the canonical fisheye, equirectangular and cube-map layouts.

Filtering: when the source is much finer than the destination it is first box-reduced
by an integer factor (a mip level), then each destination pixel averages a k x k grid
of bilinear samples, k chosen from the remaining ratio of the layouts' angular pixel
sizes. So shrinking a 4K panorama to a 256 fisheye integrates over the footprint
instead of aliasing (box filtering; good enough for smooth sky radiance).

Images are float arrays (H, W, C) in linear radiance; numpy only (data pipeline side).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from skyviewer.sky import projection as proj

Layout = Literal["fisheye", "equirect", "cube"]
MAX_SUPERSAMPLE = 8


def bilinear(image: np.ndarray, u: np.ndarray, v: np.ndarray, wrap_u: bool) -> np.ndarray:
    """Bilinear lookup of image (H, W, C) at continuous coordinates u, v in [0, 1]; clamp or wrap in u."""
    h, w = image.shape[:2]
    x = u * w - 0.5
    y = np.clip(v * h - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x1, y1 = x0 + 1, np.minimum(y0 + 1, h - 1)
    if wrap_u:
        x0, x1 = x0 % w, x1 % w
    else:
        x0, x1 = np.clip(x0, 0, w - 1), np.clip(x1, 0, w - 1)
        fx = np.clip(fx, 0, 1)
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _box_reduce(image: np.ndarray, factor: int) -> np.ndarray:
    """Average non-overlapping factor x factor blocks of (..., H, W, C); edges are cropped to fit."""
    if factor <= 1:
        return image
    h, w = (image.shape[-3] // factor) * factor, (image.shape[-2] // factor) * factor
    image = image[..., :h, :w, :]
    lead = image.shape[:-3]
    blocks = image.reshape(*lead, h // factor, factor, w // factor, factor, image.shape[-1])
    return blocks.mean(axis=(-4, -2))


def _pixel_angle(layout: Layout, shape: tuple[int, ...]) -> float:
    """Angular size (radians) of one pixel near the horizon, for choosing the supersampling."""
    if layout == "fisheye":
        return math.pi / shape[0]  # 90 degrees over n/2 pixels
    if layout == "equirect":
        return math.pi / shape[0]
    return (math.pi / 2) / shape[-2]  # cube: 90 degrees over n pixels


def _grid(h: int, w: int, ox: float, oy: float) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) of an h x w grid of pixel centres shifted by (ox, oy) pixels."""
    cols = (np.arange(w) + 0.5 + ox) / w
    rows = (np.arange(h) + 0.5 + oy) / h
    return np.meshgrid(cols, rows, indexing="xy")


def _destination_directions(layout: Layout, size: int, ox: float, oy: float) -> np.ndarray:
    """Directions (..., 3) of the sub-sample at offset (ox, oy) pixels of every destination pixel."""
    if layout == "fisheye":
        u, v = _grid(size, size, ox, oy)
        # Keep horizon-straddling sub-samples on the horizon, not on the ground.
        cu, cv = 2 * u - 1, 2 * v - 1
        scale = np.minimum(1.0, 1.0 / np.maximum(np.hypot(cu, cv), 1e-12))
        return proj.fisheye_uv_to_direction(0.5 + 0.5 * cu * scale, 0.5 + 0.5 * cv * scale)[0]
    if layout == "equirect":
        return proj.equirect_uv_to_direction(*_grid(size, 2 * size, ox, oy))
    u, v = _grid(size, size, ox, oy)
    return np.stack([proj.cube_face_direction(u, v, f) for f in range(6)])


def _sample(image: np.ndarray, layout: Layout, d: np.ndarray) -> np.ndarray:
    """Bilinear samples (..., C) of a source image in `layout` along directions d (..., 3)."""
    if layout == "fisheye":
        u, v, above = proj.direction_to_fisheye_uv(d)
        return bilinear(image, u, v, wrap_u=False) * above[..., None]
    if layout == "equirect":
        u, v = proj.direction_to_equirect_uv(d)
        return bilinear(image, u, v, wrap_u=True)
    face, u, v = proj.direction_to_cube(d)
    out = np.zeros(d.shape[:-1] + image.shape[-1:], dtype=np.float64)
    for f in range(6):
        sel = face == f
        out[sel] = bilinear(image[f], u[sel], v[sel], wrap_u=False)
    return out


def reproject(
    image: np.ndarray,
    src: Layout,
    dst: Layout,
    size: int,
    supersample: int | None = None,
) -> np.ndarray:
    """Resample `image` from layout `src` to layout `dst`.

    size: fisheye -> N (output N x N); equirect -> H (output H x 2H); cube -> face edge n
    (output (6, n, n, C), faces in CUBE_FACES order).
    image: (H, W, C) or, for cube, (6, n, n, C). Returns float32.
    Fisheye outputs are zero outside the horizon circle.
    """
    src_img = image.astype(np.float64, copy=False)
    if supersample is None:
        dst_shape = (size, size) if dst != "equirect" else (size, 2 * size)
        ratio = _pixel_angle(dst, dst_shape) / _pixel_angle(src, image.shape[:-1])
        reduce = max(1, int(ratio // 2))  # keep >= 2 source pixels per destination pixel
        src_img = _box_reduce(src_img, reduce)
        supersample = int(np.clip(math.ceil(ratio / reduce - 1e-9), 1, MAX_SUPERSAMPLE))
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    out = 0.0
    for oy in offsets:  # one sub-sample grid at a time bounds memory
        for ox in offsets:
            out = out + _sample(src_img, src, _destination_directions(dst, size, ox, oy))
    out = out / supersample**2
    if dst == "fisheye":
        out *= proj.fisheye_mask(size)[..., None]
    return out.astype(np.float32)
