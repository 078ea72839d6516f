"""View projections of the dome beyond the perspective camera: whole-sky masters for recording.

The dome shader takes its view ray from skyviewer/shaders/view_projection.glsl, compiled per projection
(DomeRenderer(projection=...)). Each projection comes with a camera object that dome_params()
reads like a Camera (ray_basis, pixel_angle):

* PERSPECTIVE: a Camera, or a CubeFaceCamera (a 90-degree view along an OpenGL cube-map face);
* EQUIRECT: 2:1 full sphere, u = 0.5 north, u growing east, v = 0 zenith (docs/conventions.md);
* FISHEYE: the canonical sky image itself (a fulldome master).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from skyviewer.sky.projection import cube_face_direction, equirect_uv_to_direction, fisheye_uv_to_direction


class Projection(IntEnum):
    """VIEW_PROJECTION values of skyviewer/shaders/view_projection.glsl."""

    PERSPECTIVE = 0
    EQUIRECT = 1
    FISHEYE = 2


@dataclass(frozen=True)
class PanoramaCamera:
    """The fixed-orientation 'camera' of the equirect and fisheye projections: the shader ignores
    the basis, and every row of both images spans pi / height radians of zenith angle."""

    def ray_basis(self, aspect: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])

    def pixel_angle(self, height: int) -> float:
        return math.pi / height


@dataclass(frozen=True)
class CubeFaceCamera:
    """A 90-degree square view of OpenGL cube-map face `face` (+X, -X, +Y, -Y, +Z, -Z), with the
    GL spec's face orientation: pixel (row, col) looks along projection.cube_face_direction(u, v)."""

    face: int
    """Face index, 0..5 in OpenGL order."""

    def ray_basis(self, aspect: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # From the conventions' own face function: the centre is the major axis, the edge centres
        # lie at 45 degrees along s (u = 1) and t (v = 1).
        major = cube_face_direction(0.5, 0.5, self.face)
        s_axis = math.sqrt(2.0) * cube_face_direction(1.0, 0.5, self.face) - major
        t_axis = math.sqrt(2.0) * cube_face_direction(0.5, 1.0, self.face) - major
        # ndc x = 2u - 1 runs along s; ndc y = 1 - 2v runs against t (v grows down the rows).
        return s_axis, -t_axis, major

    def pixel_angle(self, height: int) -> float:
        return 2.0 / height  # tan(45 deg) = 1 across half the face


CUBE_FACE_NAMES = ("px", "nx", "py", "ny", "pz", "nz")
"""File-name suffixes of the six faces, in OpenGL order."""

Basis = tuple  # (right, up, forward) of ray_basis(): ray = forward + x right + y up


def rays_at(projection: Projection, basis: Basis, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """view_projection.glsl's view_ray: unit rays (..., 3) through image points u (across) and v
    (down) in [0, 1]. The panoramas use the conventions' own uv -> direction functions and ignore
    the basis."""
    u, v = np.broadcast_arrays(np.asarray(u, np.float64), np.asarray(v, np.float64))
    if projection == Projection.EQUIRECT:
        return equirect_uv_to_direction(u, v)
    if projection == Projection.FISHEYE:
        return fisheye_uv_to_direction(u, v)[0]
    right, up, forward = (np.asarray(axis, np.float64) for axis in basis)
    x, y = 2 * u - 1, 1 - 2 * v
    rays = forward + x[..., None] * right + y[..., None] * up
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def rows_seeing(
    camera, projection: Projection, size: tuple[int, int], min_sine: float = -1.0, max_sine: float = 1.0
) -> tuple[int, int]:
    """(first, count) of the band of framebuffer rows (GL order, row 0 at the bottom) that holds
    every pixel whose view ray's elevation sine (ray.y) lies in [min_sine, max_sine], plus a row
    of margin each side: the scissor that lets a draw skip what it cannot show (on a software
    rasteriser a skipped pixel is time saved). count is 0 when no pixel qualifies.

    Exact for cameras whose right axis is horizontal (every camera here): ray.y then moves
    monotonically from a row's centre to its ends, so the centre and the two edges bound it."""
    width, height = size
    u = np.array([0.0, 0.5, 1.0])[None, :]
    v = ((np.arange(height) + 0.5) / height)[::-1, None]  # bottom row first
    elevation = rays_at(projection, camera.ray_basis(width / height), u, v)[..., 1]
    rows = np.flatnonzero((elevation.max(axis=1) >= min_sine) & (elevation.min(axis=1) <= max_sine))
    if rows.size == 0:
        return 0, 0
    first, last = max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 1, height - 1)
    return first, last - first + 1
