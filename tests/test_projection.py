"""The sky conventions: directions <-> pixels, and resampling between layouts."""

import math

import numpy as np
import pytest
import torch

from skyviewer.sky import projection as proj
from skyviewer.sky.reproject import reproject

N = 256
# (name, world direction, expected (col, row) pixel of the canonical image in pixel units)
KNOWN_DIRECTIONS = [
    ("zenith", (0, 1, 0), (N / 2, N / 2)),
    ("north horizon", (0, 0, -1), (N / 2, 0)),  # top edge
    ("east horizon", (1, 0, 0), (0, N / 2)),  # left edge: seen from below
    ("south horizon", (0, 0, 1), (N / 2, N)),  # bottom edge
    ("west horizon", (-1, 0, 0), (N, N / 2)),  # right edge
]


@pytest.mark.parametrize("name,direction,pixel", KNOWN_DIRECTIONS)
def test_known_directions_land_on_expected_pixels(name, direction, pixel):
    u, v, above = proj.direction_to_fisheye_uv(np.array(direction, dtype=np.float64))
    assert above
    assert u * N == pytest.approx(pixel[0], abs=1e-9), name
    assert v * N == pytest.approx(pixel[1], abs=1e-9), name


def test_zenith_angle_is_proportional_to_radius():
    # 45 degrees elevation towards north sits halfway between centre and top edge.
    d = proj.direction_from_angles(np.float64(math.radians(45)), np.float64(0.0))
    u, v, _ = proj.direction_to_fisheye_uv(d)
    assert (u, v) == pytest.approx((0.5, 0.25))
    # Azimuth 90 is east: world +X.
    east = proj.direction_from_angles(np.float64(math.pi / 2), np.float64(math.pi / 2))
    np.testing.assert_allclose(east, [1, 0, 0], atol=1e-12)


def test_fisheye_round_trip_numpy_and_torch():
    u, v = proj.pixel_centers(64)
    d, mask = proj.fisheye_uv_to_direction(u, v)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-12)
    u2, v2, above = proj.direction_to_fisheye_uv(d)
    assert np.array_equal(above, mask | (d[..., 1] >= 0))
    np.testing.assert_allclose(u2[mask], u[mask], atol=1e-12)
    np.testing.assert_allclose(v2[mask], v[mask], atol=1e-12)
    dt, mask_t = proj.fisheye_uv_to_direction(torch.from_numpy(u), torch.from_numpy(v))
    assert isinstance(dt, torch.Tensor)
    np.testing.assert_allclose(dt.numpy(), d, atol=1e-12)
    assert np.array_equal(mask_t.numpy(), mask)


def test_mask_is_the_inscribed_circle():
    mask = proj.fisheye_mask(N)
    assert mask[N // 2, N // 2] and mask[N // 2, 0] and mask[0, N // 2]
    assert not mask[0, 0] and not mask[-1, -1]
    assert mask.sum() == pytest.approx(math.pi * N * N / 4, rel=0.01)


def test_equirect_round_trip_and_orientation():
    u, v = np.meshgrid((np.arange(64) + 0.5) / 64, (np.arange(32) + 0.5) / 32)
    d = proj.equirect_uv_to_direction(u, v)
    u2, v2 = proj.direction_to_equirect_uv(d)
    np.testing.assert_allclose(u2, u, atol=1e-12)
    np.testing.assert_allclose(v2, v, atol=1e-12)
    np.testing.assert_allclose(proj.equirect_uv_to_direction(0.5, 0.5), [0, 0, -1], atol=1e-12)  # north
    np.testing.assert_allclose(proj.equirect_uv_to_direction(0.75, 0.5), [1, 0, 0], atol=1e-12)  # east


def test_cube_faces_match_opengl_table():
    # Face centres point along their axis; a face's +s is the GL spec's s direction.
    for f, name in enumerate(proj.CUBE_FACES):
        centre = proj.cube_face_direction(0.5, 0.5, f)
        axis = "XYZ".index(name[1])
        assert centre[axis] == pytest.approx(1.0 if name[0] == "+" else -1.0)
    np.testing.assert_allclose(proj.cube_face_direction(1.0, 0.5, 0), np.array([1, 0, -1]) / math.sqrt(2))
    d = proj.cube_face_directions(16, 4).reshape(-1, 3)
    face, u, v = proj.direction_to_cube(d)
    assert (face == 4).all()
    gu, gv = proj.pixel_centers(16)
    np.testing.assert_allclose(u, gu.ravel(), atol=1e-6)
    np.testing.assert_allclose(v, gv.ravel(), atol=1e-6)


def _smooth_sky_equirect(h: int) -> np.ndarray:
    u, v = np.meshgrid((np.arange(2 * h) + 0.5) / (2 * h), (np.arange(h) + 0.5) / h)
    d = proj.equirect_uv_to_direction(u, v)
    return np.stack([1.0 + 0.5 * d[..., 0], 1.0 + 0.5 * d[..., 1], 1.0 + 0.5 * d[..., 2] * d[..., 0]], -1)


def test_equirect_fisheye_equirect_error_bound():
    h = 128
    src = _smooth_sky_equirect(h)
    back = reproject(reproject(src, "equirect", "fisheye", 256), "fisheye", "equirect", h)
    upper = slice(0, h // 2 - 1)  # rows above the horizon (the fisheye holds no ground)
    assert np.abs(back[upper] - src[upper]).max() < 5e-3


def test_cube_round_trip_error_bound():
    src = _smooth_sky_equirect(64)
    back = reproject(reproject(src, "equirect", "cube", 64), "cube", "equirect", 64)
    assert np.abs(back - src).max() < 1e-2


def test_downsampling_filters_instead_of_aliasing():
    # A 1-pixel checkerboard panorama averages to grey when shrunk; point sampling would alias.
    h = 512
    checker = ((np.add.outer(np.arange(h), np.arange(2 * h)) % 2) * 2.0)[..., None].repeat(3, -1)
    small = reproject(checker, "equirect", "fisheye", 32)
    inside = proj.fisheye_mask(32)
    assert np.abs(small[inside] - 1.0).max() < 0.15
    assert (small[~inside] == 0).all()


def test_bright_spot_lands_on_its_fisheye_pixel():
    h = 256
    src = np.zeros((h, 2 * h, 3))
    target = proj.direction_from_angles(np.float64(math.radians(30)), np.float64(math.radians(120)))
    eu, ev = proj.direction_to_equirect_uv(target)
    src[int(ev * h), int(eu * 2 * h)] = 1000.0
    fish = reproject(src, "equirect", "fisheye", 64)
    row, col = np.unravel_index(np.argmax(fish[..., 0]), fish.shape[:2])
    u, v, _ = proj.direction_to_fisheye_uv(target)
    assert abs(col + 0.5 - u * 64) <= 1.0 and abs(row + 0.5 - v * 64) <= 1.0
