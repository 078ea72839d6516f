"""Sky projections: the canonical fisheye, equirectangular (lat-long) and cube maps.

Conventions (docs/conventions.md is the long form; tests/test_projection.py pins them):

World axes (OpenGL, right-handed): +Y up, -Z north, +X east (so +Z south, -X west).

Canonical sky image: angular (equidistant) fisheye of the upper hemisphere, N x N,
as an upward-looking all-sky camera sees it:
  * zenith at the image centre, horizon on the inscribed circle, zenith angle
    proportional to radius (theta = r * pi/2, r = 1 on the circle);
  * north at the top of the image (row 0 side), east on the LEFT (seen from below,
    like every all-sky camera), so west is on the right and south at the bottom;
  * pixel (row i, col j) has its centre at u = (j + 0.5) / N, v = (i + 0.5) / N.
Azimuth phi is measured from north towards east.

Equirectangular (full sphere, W = 2H): u = 0.5 looks north, u increases towards
east (a panorama seen from inside), v = 0 is the zenith, v = 1 the nadir.

Cube maps follow the OpenGL cube-map face order and orientation
(+X, -X, +Y, -Y, +Z, -Z; face coordinates per the GL spec table 8.19).

All direction<->coordinate functions accept numpy arrays or torch tensors.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from skyviewer.sky.xp import namespace, stack_last

HALF_PI = math.pi / 2

# ---------------------------------------------------------------- directions


def direction_from_angles(zenith, azimuth):
    """Unit direction(s) (..., 3) from zenith angle and azimuth (radians, from north to east)."""
    xp = namespace(zenith, azimuth)
    s = xp.sin(zenith)
    return stack_last(xp, [s * xp.sin(azimuth), xp.cos(zenith), -s * xp.cos(azimuth)])


def angles_from_direction(d):
    """(zenith, azimuth) in radians of unit direction(s) (..., 3); azimuth in (-pi, pi]."""
    xp = namespace(d)
    zenith = xp.arccos(xp.clip(d[..., 1], -1.0, 1.0))
    azimuth = xp.arctan2(d[..., 0], -d[..., 2])
    return zenith, azimuth


# ---------------------------------------------------------------- canonical fisheye


def fisheye_uv_to_direction(u, v):
    """Direction(s) (..., 3) and inside-mask of fisheye coordinates u, v in [0, 1].

    Points outside the inscribed circle (below the horizon) still get a direction
    (zenith angle > 90 deg, continuing the equidistant mapping) but mask=False.
    """
    xp = namespace(u, v)
    dx, dy = 2.0 * u - 1.0, 2.0 * v - 1.0  # dx > 0 towards west, dy > 0 towards south
    r = xp.sqrt(dx * dx + dy * dy)
    zenith = r * HALF_PI
    azimuth = xp.arctan2(-dx, -dy)  # east is left (-dx), north is up (-dy)
    return direction_from_angles(zenith, azimuth), r <= 1.0


def direction_to_fisheye_uv(d):
    """Fisheye coordinates (u, v) in [0, 1] of direction(s) (..., 3) and the upper-hemisphere mask."""
    xp = namespace(d)
    zenith, azimuth = angles_from_direction(d)
    r = zenith / HALF_PI
    u = 0.5 - 0.5 * r * xp.sin(azimuth)
    v = 0.5 - 0.5 * r * xp.cos(azimuth)
    return u, v, d[..., 1] >= 0.0


def pixel_centers(n: int, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) grids (n, n) of pixel centres; u varies along columns, v along rows."""
    c = (np.arange(n, dtype=dtype) + 0.5) / n
    u, v = np.meshgrid(c, c, indexing="xy")
    return u, v


def fisheye_directions(n: int, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel view directions (n, n, 3) and horizon mask (n, n) of an n x n canonical sky image."""
    u, v = pixel_centers(n)
    d, mask = fisheye_uv_to_direction(u, v)
    return d.astype(dtype), mask


def fisheye_mask(n: int) -> np.ndarray:
    """Boolean (n, n): True for pixels whose centre lies on or inside the horizon circle (a read-only
    array, made once per size: training asks for it with every frame it encodes)."""
    return _fisheye_mask(n)


@functools.cache
def _fisheye_mask(n: int) -> np.ndarray:
    mask = fisheye_directions(n)[1]
    mask.flags.writeable = False
    return mask


# ---------------------------------------------------------------- equirectangular


def equirect_uv_to_direction(u, v):
    """Direction(s) of equirect coordinates: u = 0.5 north, increasing east; v = 0 zenith."""
    return direction_from_angles(v * math.pi, (u - 0.5) * 2.0 * math.pi)


def direction_to_equirect_uv(d):
    """Equirect coordinates (u in [0, 1), v in [0, 1]) of direction(s) (..., 3)."""
    zenith, azimuth = angles_from_direction(d)
    u = (azimuth / (2.0 * math.pi) + 0.5) % 1.0
    return u, zenith / math.pi


# ---------------------------------------------------------------- cube maps

# OpenGL cube-map faces: for face f, a direction with major axis m and face coordinates
# (sc, tc) in [-1, 1] is  m * axis + sc * s_axis + tc * t_axis; s runs along columns,
# t along rows (row 0 at t = -1), as glTexImage2D stores them.
CUBE_FACES = ("+X", "-X", "+Y", "-Y", "+Z", "-Z")
_CUBE_BASIS = np.array(
    [  # major axis,  s axis,       t axis
        [[1, 0, 0], [0, 0, -1], [0, -1, 0]],
        [[-1, 0, 0], [0, 0, 1], [0, -1, 0]],
        [[0, 1, 0], [1, 0, 0], [0, 0, 1]],
        [[0, -1, 0], [1, 0, 0], [0, 0, -1]],
        [[0, 0, 1], [1, 0, 0], [0, -1, 0]],
        [[0, 0, -1], [-1, 0, 0], [0, -1, 0]],
    ],
    dtype=np.float64,
)


def cube_face_direction(u, v, face: int) -> np.ndarray:
    """Unit direction(s) (..., 3) at face coordinates u, v in [0, 1] of cube face `face`."""
    major, s_axis, t_axis = _CUBE_BASIS[face]
    d = major + (2 * np.asarray(u) - 1)[..., None] * s_axis + (2 * np.asarray(v) - 1)[..., None] * t_axis
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def cube_face_directions(n: int, face: int, dtype=np.float32) -> np.ndarray:
    """Unit directions (n, n, 3) of the pixel centres of one cube face (index into CUBE_FACES)."""
    return cube_face_direction(*pixel_centers(n), face).astype(dtype)


def direction_to_cube(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face index, u, v) of direction(s) (..., 3) on the OpenGL cube map."""
    a = np.abs(d)
    axis = np.argmax(a, axis=-1)
    sign_negative = np.take_along_axis(d, axis[..., None], -1)[..., 0] < 0
    face = axis * 2 + sign_negative
    basis = _CUBE_BASIS[face]  # (..., 3, 3)
    major = np.einsum("...k,...k->...", d, basis[..., 0, :])
    u = 0.5 * (np.einsum("...k,...k->...", d, basis[..., 1, :]) / major + 1)
    v = 0.5 * (np.einsum("...k,...k->...", d, basis[..., 2, :]) / major + 1)
    return face, u, v
