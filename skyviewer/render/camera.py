"""The viewer's camera: where it looks (yaw, pitch) and how wide (vertical field of view).

World axes as everywhere in skyviewer: +Y up, -Z north, +X east. The image is a pinhole
(rectilinear) projection; row 0 is the top of the image, as in numpy images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from skyviewer.sky.projection import direction_from_angles


@dataclass(frozen=True)
class Camera:
    """A pinhole camera at the observer, without roll."""

    yaw_deg: float = 0.0
    """Azimuth of the view axis, from north towards east (90 looks east)."""
    pitch_deg: float = 0.0
    """Elevation of the view axis above the horizon (90 looks at the zenith)."""
    fov_y_deg: float = 60.0
    """Vertical field of view, degrees (0 < fov < 180)."""

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unit (right, up, forward) vectors.

        right comes from the yaw alone, so looking straight up or down stays well defined
        (the image top then points away from the yaw direction, as when tilting one's head).
        """
        yaw, pitch = math.radians(self.yaw_deg), math.radians(self.pitch_deg)
        forward = direction_from_angles(np.float64(math.pi / 2 - pitch), np.float64(yaw))
        right = np.array([math.cos(yaw), 0.0, math.sin(yaw)])  # horizon direction at yaw + 90 deg
        return right, np.cross(right, forward), forward

    def ray_basis(self, aspect: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(right * tan(fov_x / 2), up * tan(fov_y / 2), forward): ray = forward + x r + y u, x, y in NDC."""
        right, up, forward = self.axes()
        tan_y = math.tan(math.radians(self.fov_y_deg) / 2)
        return right * tan_y * aspect, up * tan_y, forward

    def pixel_angle(self, height: int) -> float:
        """Angular size (radians) of one pixel at the image centre."""
        return 2.0 * math.tan(math.radians(self.fov_y_deg) / 2) / height

    def rays(self, width: int, height: int) -> np.ndarray:
        """Unit view rays (height, width, 3) through the pixel centres, row 0 at the top."""
        right, up, forward = self.ray_basis(width / height)
        x = (np.arange(width) + 0.5) / width * 2 - 1
        y = 1 - (np.arange(height) + 0.5) / height * 2
        rays = forward + x[None, :, None] * right + y[:, None, None] * up
        return rays / np.linalg.norm(rays, axis=-1, keepdims=True)

    def project(self, direction, width: int, height: int) -> tuple[float, float]:
        """(col, row) pixel coordinates where a world direction appears (continuous, 0..width)."""
        x, y, _ = project_ndc(self.ray_basis(width / height), direction)
        return (x + 1) / 2 * width, (1 - y) / 2 * height


def project_ndc(basis, directions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, depth) of world direction(s) (..., 3) through a ray basis (right, up, forward; see
    Camera.ray_basis): normalised device coordinates, and the distance along forward (> 0 in
    front of the camera)."""
    right, up, forward = basis
    d = np.asarray(directions, dtype=np.float64)
    depth = d @ forward
    return (d @ right) / depth / (right @ right), (d @ up) / depth / (up @ up), depth
