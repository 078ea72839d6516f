"""SkySim: the sun where the solar position says, determinism, clouds moving with the wind,
and the physical sanity of day, sunset, night, clear and overcast skies."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from skyviewer.data.skysim import SimConfig, SkySim
from skyviewer.data.types import FRAME_META_DTYPE, SkySequence
from skyviewer.sky.projection import direction_to_fisheye_uv, fisheye_directions, fisheye_mask
from skyviewer.sky.radiance import ENCODING, SUN, luminance

ZURICH = SimConfig(resolution=64, latitude_deg=47.37, longitude_deg=8.54)
NOON = "2024-06-21T11:25:00Z"  # sun ~66 deg up, due south
AFTERNOON = "2024-06-21T15:30:00Z"  # ~35 deg, south-west
SUNSET = "2024-06-21T19:05:00Z"  # ~2.5 deg, north-west
NIGHT = "2024-06-21T23:30:00Z"  # ~-19 deg


def render(seed=0, k=0, **changes):
    return SkySim(replace(ZURICH, **changes), seed).frame(k)


@pytest.mark.parametrize("start", [NOON, AFTERNOON, SUNSET, "2024-12-21T08:30:00Z"])
def test_sun_sits_where_the_solar_position_says(start):
    n = 128
    sim = SkySim(replace(ZURICH, resolution=n, start_utc=start, cloud_cover=0.0, cirrus_cover=0.0))
    rgb, meta = sim.frame(0)
    u, v, up = direction_to_fisheye_uv(meta["sun_dir"].astype(np.float64))
    assert up
    expected = np.array([v * n - 0.5, u * n - 0.5])  # (row, col) in pixel-centre coordinates
    clamped = np.argwhere(rgb.max(axis=-1) >= ENCODING.x_max)  # the disc (and the aureole next to it)
    assert 0 < len(clamped) < 40
    assert np.linalg.norm(clamped.mean(axis=0) - expected) <= 0.5
    assert tuple(np.rint(expected).astype(int)) in set(map(tuple, clamped))


def test_same_seed_same_frames_and_random_access():
    config = replace(ZURICH, cloud_cover=0.5, cirrus_cover=0.3)
    a, b = SkySim(config, 7), SkySim(config, 7)
    seq = a.sequence(4)
    rgb3, meta3 = b.frame(3)  # straight to frame 3, nothing computed before
    np.testing.assert_array_equal(seq.frames[3], rgb3.astype(np.float16))
    np.testing.assert_array_equal(a.frame(3)[0], rgb3)
    assert meta3["unix_time"] == seq.meta["unix_time"][3]


def test_different_seed_different_clouds():
    config = replace(ZURICH, cloud_cover=0.5, cirrus_cover=0.0)
    a, b = SkySim(config, 1).frame(0)[0], SkySim(config, 2).frame(0)[0]
    rel = np.abs(luminance(a) - luminance(b)) / (luminance(a) + luminance(b) + 1e-6)
    assert np.mean(rel[fisheye_mask(64)] > 0.05) > 0.2


def _phase_correlation_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(rows, cols) by which b is a shifted, to sub-pixel precision (parabolic peak fit)."""
    window = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa, fb = np.fft.fft2((a - a.mean()) * window), np.fft.fft2((b - b.mean()) * window)
    cross = fb * np.conj(fa)
    corr = np.real(np.fft.ifft2(cross / (np.abs(cross) + 1e-12)))
    peak = np.array(np.unravel_index(np.argmax(corr), corr.shape))
    shift = peak.astype(float)
    for axis in (0, 1):
        step = np.eye(2, dtype=int)[axis]
        c0, cm, cp = (corr[tuple((peak + d * step) % corr.shape)] for d in (0, -1, 1))
        shift[axis] += 0.5 * (cm - cp) / (cm - 2 * c0 + cp)
    return (shift + np.array(corr.shape) / 2) % np.array(corr.shape) - np.array(corr.shape) / 2


@pytest.mark.parametrize("towards_deg", [90.0, 0.0, 225.0])
def test_clouds_move_with_the_wind(towards_deg):
    n, altitude, speed, step = 128, 2000.0, 12.0, 20.0
    config = replace(
        ZURICH,
        resolution=n,
        start_utc=AFTERNOON,
        cloud_cover=0.5,
        cirrus_cover=0.0,
        cloud_altitude_m=altitude,
        wind_speed_mps=speed,
        wind_towards_deg=towards_deg,
        step_seconds=step,
    )
    sim = SkySim(config, 3)
    crop = slice(n // 2 - 20, n // 2 + 20)  # +-28 deg around the zenith: the sun (55 deg away) is outside
    a, b = (np.log(luminance(sim.frame(k)[0][crop, crop]) + 1.0) for k in (0, 1))
    measured = _phase_correlation_shift(a, b)
    # Expected: where a cloud point above the zenith moves to, through the real projection.
    drift = (
        speed * step * np.array([math.sin(math.radians(towards_deg)), math.cos(math.radians(towards_deg))])
    )
    moved = np.array([drift[0], altitude, -drift[1]])
    u, v, _ = direction_to_fisheye_uv(moved / np.linalg.norm(moved))
    expected = np.array([v - 0.5, u - 0.5]) * n  # (rows, cols) from the centre
    assert np.linalg.norm(expected) > 4.0
    assert np.linalg.norm(measured - expected) < 0.6, (measured, expected)


def test_clouds_change_shape_not_only_slide():
    config = replace(ZURICH, cloud_cover=0.5, cirrus_cover=0.0, wind_speed_mps=0.0, cloud_lifetime_s=600.0)
    sim = SkySim(config, 4)
    a, b = (luminance(sim.frame(k)[0]) for k in (0, 30))  # half a lifetime later, no wind
    inside = fisheye_mask(64)
    assert np.corrcoef(np.log1p(a[inside]), np.log1p(b[inside]))[0, 1] < 0.8


def test_sky_darkens_at_night():
    noon = luminance(render(start_utc=NOON, cloud_cover=0.0)[0])[fisheye_mask(64)]
    night = luminance(render(start_utc=NIGHT, cloud_cover=0.0)[0])[fisheye_mask(64)]
    assert np.median(noon) > 2000.0
    assert 1e-4 < np.median(night) < 1e-2


def _horizon_redness(rgb: np.ndarray, sun_dir: np.ndarray) -> float:
    """Red/blue ratio of the sky within 15 deg of the horizon on the sun's side."""
    d, mask = fisheye_directions(rgb.shape[0])
    band = mask & (d[..., 1] < math.sin(math.radians(15))) & (d @ sun_dir > 0)
    mean = rgb[band].mean(axis=0)
    return float(mean[0] / mean[2])


def test_sunset_is_redder_near_the_horizon_than_noon():
    noon, noon_meta = render(start_utc=NOON, cloud_cover=0.0, cirrus_cover=0.0)
    sunset, sunset_meta = render(start_utc=SUNSET, cloud_cover=0.0, cirrus_cover=0.0)
    assert _horizon_redness(sunset, sunset_meta["sun_dir"]) > 1.3 * _horizon_redness(
        noon, noon_meta["sun_dir"]
    )


def test_low_sun_reddens_the_horizon_most_towards_the_sun():
    """Single scattering of sunlight that crossed ~15-40 air masses: deep orange towards the sun,
    paler (antitwilight) opposite, and both far redder than the noon horizon."""
    rgb, meta = render(start_utc=SUNSET, cloud_cover=0.0, cirrus_cover=0.0)
    d, mask = fisheye_directions(64)
    low = mask & (d[..., 1] < math.sin(math.radians(10)))
    s = meta["sun_dir"]
    towards, away = (rgb[low & (sign * (d @ s) > 0.5)].mean(axis=0) for sign in (1, -1))
    assert towards[0] / towards[2] > 1.5 * away[0] / away[2] > 3.0


def test_cirrus_alone_is_thin_and_absent_at_zero():
    thin = render(start_utc=NOON, cloud_cover=0.0, cirrus_cover=0.25)
    none = render(start_utc=NOON, cloud_cover=0.0, cirrus_cover=0.0)
    assert thin[1]["cloud_cover"] < 0.05  # translucent: no opaque band, even near the horizon
    assert none[1]["cloud_cover"] == 0.0
    assert not np.array_equal(thin[0], none[0])


def test_overcast_is_greyer_and_hides_the_sun():
    clear = render(start_utc=NOON, cloud_cover=0.0, cirrus_cover=0.0)[0]
    overcast, meta = render(start_utc=NOON, cloud_cover=1.0, cirrus_cover=0.0)
    inside = fisheye_mask(64)

    def blueness(rgb):
        mean = rgb[inside].mean(axis=0)
        return mean[2] / mean[0]

    assert blueness(overcast) < 0.85 * blueness(clear)
    u, v, _ = direction_to_fisheye_uv(meta["sun_dir"].astype(np.float64))
    sun_pixel = overcast[int(v * 64), int(u * 64)]
    assert clear.max() >= ENCODING.x_max > 3.0 * sun_pixel.max()  # the cloud in front hides the disc
    assert meta["cloud_cover"] > 0.95


@pytest.mark.parametrize("start", [NOON, SUNSET, "2024-06-21T19:55:00Z", NIGHT])
@pytest.mark.parametrize("cover", [0.0, 0.4, 1.0])
def test_finite_non_negative_and_black_outside_the_horizon(start, cover):
    rgb, meta = render(start_utc=start, cloud_cover=cover, cirrus_cover=0.3)
    assert rgb.dtype == np.float32 and rgb.shape == (64, 64, 3)
    assert np.isfinite(rgb).all() and rgb.min() >= 0.0 and rgb.max() <= ENCODING.x_max
    assert (rgb[~fisheye_mask(64)] == 0).all()
    assert meta.dtype == FRAME_META_DTYPE
    assert np.isfinite(meta["cloud_cover"])


def test_measured_cover_follows_the_knob():
    covers = [render(cloud_cover=c, cirrus_cover=0.0)[1]["cloud_cover"] for c in (0.0, 0.3, 0.7)]
    assert covers[0] < 0.05 < covers[1] < covers[2]


def test_sequence_is_a_sky_sequence():
    seq = SkySim(replace(ZURICH, step_seconds=30.0), 0).sequence(3, start=2)
    assert isinstance(seq, SkySequence) and seq.frames.dtype == np.float16
    np.testing.assert_allclose(seq.meta["t_seconds"], [0.0, 30.0, 60.0])
    np.testing.assert_allclose(np.diff(seq.meta["unix_time"]), 30.0)
    np.testing.assert_allclose(seq.meta["wind"][0], [ZURICH.wind_speed_mps, 0.0], atol=1e-5)
    assert seq.step_seconds == 30.0 and "seed=0" in seq.source


@pytest.mark.parametrize(
    "bad",
    [{"cloud_cover": 1.5}, {"turbidity": 1.0}, {"step_seconds": 0.0}, {"start_utc": "yesterday"}],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="SimConfig"):
        replace(ZURICH, **bad)


# ---------------------------------------------------------------- any rays, any resolution

PATCH_SKY = replace(ZURICH, start_utc="2024-06-21T18:30:00Z", cloud_cover=0.5, cirrus_cover=0.4)


def test_patches_are_the_pixels_of_the_full_frame():
    n, size, k = 256, 24, 2
    frame, meta = SkySim(replace(PATCH_SKY, resolution=n), 3).frame(k)
    u, v, _ = direction_to_fisheye_uv(meta["sun_dir"].astype(np.float64))
    sun = [int(v * n) - size // 2, int(u * n) - size // 2]
    positions = np.array([[0, 0], [n - size, 40], [116, 116], [200, 30], sun])  # corner, horizon, zenith, sun
    patches = SkySim(PATCH_SKY, 3).fisheye_patches(k, n, positions, size)  # a 64 px sim: same sky
    assert patches.shape == (len(positions), size, size, 3)
    for (r, c), patch in zip(positions, patches, strict=True):
        expected = frame[r : r + size, c : c + size]
        np.testing.assert_allclose(patch, expected, rtol=1e-4, atol=1e-3)
    assert patches[-1].max() == ENCODING.x_max  # the sun's patch holds the disc
    with pytest.raises(ValueError, match="inside"):
        SkySim(PATCH_SKY, 3).fisheye_patches(k, n, [[n - size + 1, 0]], size)


def _high_pass(gray: np.ndarray) -> np.ndarray:
    blur = sum(np.roll(np.roll(gray, i, 0), j, 1) for i in (-1, 0, 1) for j in (-1, 0, 1)) / 9.0
    return (gray - blur)[1:-1, 1:-1]


def test_horizon_band_is_not_aliased():
    """Blocks of a 256 px frame near the horizon (zenith angles ~65-88 deg, four azimuths) against the
    same blocks rendered at 1,024 px and area-averaged to 256: a frame that aliases (comb-like edges,
    moire from a too-fine texture level) has high-frequency energy the supersampled one lacks.
    Before the anisotropic taps and gradient-wide edges the mismatch was 0.41 of the reference's
    high-frequency energy; now 0.30."""
    from skyviewer.sky.tonemap import auto_key_nits, tonemap

    sky = replace(ZURICH, resolution=256, start_utc="2024-06-21T11:00:00Z", cloud_cover=0.3, cirrus_cover=0.0)
    sim = SkySim(sky, 3)
    low = sim.frame(5)[0]
    key = auto_key_nits(low, fisheye_mask(256))
    mismatch, energy = [], []
    for r, c in [(200, 104), (8, 104), (104, 8), (104, 200)]:
        high = sim.fisheye_patches(5, 1024, [[4 * r, 4 * c]], 192)[0]
        reference = tonemap(high.reshape(48, 4, 48, 4, 3).mean(axis=(1, 3)), key).mean(axis=-1)
        native = tonemap(low[r : r + 48, c : c + 48], key).mean(axis=-1)
        ref_energy = np.mean(_high_pass(reference) ** 2)
        mismatch.append(np.mean(_high_pass(native - reference) ** 2) / ref_energy)
        energy.append(np.mean(_high_pass(native) ** 2) / ref_energy)
    assert np.mean(mismatch) < 0.36, mismatch  # 0.41 before the fix, 0.30 after
    assert 0.6 < np.mean(energy) < 1.4, energy  # not aliased, and not blurred away either
    # At 1,024 px the same holds against 4,096 px (a patch 20 deg above the southern horizon).
    high = sim.fisheye_patches(5, 1024, [[840, 448]], 64)[0]
    reference = (
        sim.fisheye_patches(5, 4096, [[3360, 1792]], 256)[0].reshape(64, 4, 64, 4, 3).mean(axis=(1, 3))
    )
    a, b = tonemap(high, key).mean(axis=-1), tonemap(reference, key).mean(axis=-1)
    assert np.mean(_high_pass(a - b) ** 2) < 0.2 * np.mean(_high_pass(b) ** 2)


def test_render_directions_draws_the_same_sky_and_the_whole_sun_disc():
    sim = SkySim(replace(PATCH_SKY, cloud_cover=0.0, cirrus_cover=0.0, start_utc=AFTERNOON), 3)
    frame, meta = sim.frame(0)
    # Near the zenith a fisheye pixel is square: a ray there with the pixel's angle is the pixel.
    n = ZURICH.resolution
    d, _ = fisheye_directions(n, dtype=np.float64)
    block = (slice(n // 2 - 2, n // 2 + 2), slice(n // 2 - 2, n // 2 + 2))
    rays = sim.render_directions(0, d[block].reshape(-1, 3), math.pi / n)
    np.testing.assert_allclose(rays, frame[block].reshape(-1, 3), rtol=1e-3)
    # On a fine grid over the sun, the disc (far beyond the encoding's x_max) fills its true size.
    sun = meta["sun_dir"].astype(np.float64)
    side = np.cross(sun, [0.0, 1.0, 0.0])
    side /= np.linalg.norm(side)
    other = np.cross(side, sun)
    step = math.radians(0.02)
    grid = (np.arange(60) - 29.5) * step
    rays = sun + grid[:, None, None] * side + grid[None, :, None] * other
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    image = sim.render_directions(0, rays.reshape(-1, 3), step).reshape(60, 60, 3)
    clamped = image.max(axis=-1) >= ENCODING.x_max
    disc_area = math.pi * math.radians(SUN.angular_radius_deg) ** 2
    assert 0.9 < clamped.sum() * step**2 / disc_area < 1.35  # + the ring of partly covered limb pixels
    assert clamped[30, 30] and not clamped[0, 0]
    assert not sim.render_directions(0, np.array([[0.0, -1.0, 0.0]]), 0.01).any()  # below the horizon: 0


def test_meta_records_the_wind_and_cirrus():
    config = replace(
        ZURICH, wind_speed_mps=6.0, wind_towards_deg=400.0, cirrus_cover=0.3, cirrus_wind_scale=2.5
    )
    meta = SkySim(config, 1).sequence(2).meta
    np.testing.assert_allclose(meta["wind_speed_mps"], 6.0)
    np.testing.assert_allclose(meta["wind_towards_deg"], 40.0)
    np.testing.assert_allclose(meta["cirrus_cover"], 0.3)
    np.testing.assert_allclose(meta["cirrus_wind_speed_mps"], 15.0)
    angle = math.radians(40.0)
    np.testing.assert_allclose(meta["wind"][0], [6.0 * math.sin(angle), 6.0 * math.cos(angle)], atol=1e-5)
