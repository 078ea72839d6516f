"""The solar disc at its true angular size, integrated over pixel areas.

At 256 x 256 a pixel spans ~0.7 deg and the sun 0.53 deg, so the disc covers part of a
pixel or straddles a few: each pixel near the sun is supersampled and gets the mean
limb-darkened disc radiance over its area. The caller clamps to ENCODING.x_max (the
renderer draws the real disc; the image keeps where it is).
"""

from __future__ import annotations

import math

import numpy as np

from skyviewer.sky.projection import direction_to_fisheye_uv, fisheye_uv_to_direction
from skyviewer.sky.radiance import SUN


def disc_profile(cos_angle: np.ndarray) -> np.ndarray:
    """Limb-darkened disc intensity relative to the disc mean, 0 outside the disc."""
    radius = math.radians(SUN.angular_radius_deg)
    rho = np.arccos(np.clip(cos_angle, -1.0, 1.0)) / radius  # 0 at the centre, 1 at the limb
    mu = np.sqrt(np.clip(1.0 - rho * rho, 0.0, 1.0))
    u = SUN.limb_darkening_u
    return np.where(rho < 1.0, (1.0 - u * (1.0 - mu)) / (1.0 - u / 3.0), 0.0)


def disc_coverage(n: int, sun_dir: np.ndarray, supersample: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Flat pixel indices (K,) into an n x n image and their mean relative disc intensity (K,)."""
    u, v, _ = direction_to_fisheye_uv(np.asarray(sun_dir, dtype=np.float64))
    radius_px = math.radians(SUN.angular_radius_deg) / (math.pi / 2) * (n / 2)
    # Near the horizon the fisheye stretches azimuthally (up to pi/2 x): widen the window.
    half = math.ceil(radius_px * math.pi / 2) + 1
    ci, cj = int(v * n), int(u * n)
    rows = np.arange(max(ci - half, 0), min(ci + half + 1, n))
    cols = np.arange(max(cj - half, 0), min(cj + half + 1, n))
    sub = (np.arange(supersample) + 0.5) / supersample
    su = ((cols[:, None] + sub) / n)[None, :, None, :]  # (1, C, 1, s)
    sv = ((rows[:, None] + sub) / n)[:, None, :, None]  # (R, 1, s, 1)
    directions, _ = fisheye_uv_to_direction(*np.broadcast_arrays(su, sv))  # (R, C, s, s, 3)
    coverage = disc_profile(directions @ sun_dir).mean(axis=(2, 3))  # (rows, cols)
    idx = (rows[:, None] * n + cols[None, :]).ravel()
    keep = coverage.ravel() > 0.0
    return idx[keep], coverage.ravel()[keep]
