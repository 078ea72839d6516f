"""LayerSky (nets/sky.py): layer geometry, the exact step, decoding any pixels, and package format 3."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from skyviewer.nets.sky import (
    CUMULUS,
    EARTH_RADIUS_M,
    LayerSkyNet,
    bilinear_periodic,
    layer_hit,
    net_tile,
    pixel_dirs,
    sky_lighting_sun,
)

CIRRUS_COVER_INPUT = 10
"""The cirrus cover's channel among the shading inputs (geometry 6, sun 3, cloud cover, cirrus cover)."""


def small_net() -> LayerSkyNet:
    torch.manual_seed(0)
    net = LayerSkyNet(grid=16, kernel_px=5, detail_px=32, detail_period_m=640.0)
    for p in net.shading.parameters():  # a trained-looking shading: not the zero-initialised last layer
        torch.nn.init.normal_(p, std=0.3)
    return net.eval()


def state(net: LayerSkyNet, batch: int = 1) -> list[torch.Tensor]:
    shapes = net.state_shapes(batch)
    return [torch.randn(shapes["noise_a"]), torch.randn(shapes["noise_b"]), torch.rand(shapes["motion"])]


SUN = torch.nn.functional.normalize(torch.tensor([[0.3, 0.6, -0.5]]), dim=1)
COVERS = (torch.tensor([[0.4]]), torch.tensor([[0.3]]))


def test_layer_is_a_spherical_shell_seen_in_perspective():
    up = torch.tensor([[0.0], [1.0], [0.0]])
    east, north, distance = layer_hit(up, CUMULUS.altitude_m)
    assert float(distance) == pytest.approx(CUMULUS.altitude_m, rel=1e-6)
    assert float(east) == 0.0 and float(north) == 0.0
    # At the horizon the ray meets the shell at sqrt(2 R h + h^2), ~138 km for 1,500 m.
    flat = torch.tensor([[1.0], [0.0], [0.0]])
    east, _, distance = layer_hit(flat, CUMULUS.altitude_m)
    expected = math.sqrt(2 * EARTH_RADIUS_M * CUMULUS.altitude_m + CUMULUS.altitude_m**2)
    assert float(distance) == pytest.approx(expected, rel=1e-5) and float(east) == pytest.approx(
        expected, rel=1e-5
    )


def test_clouds_slow_and_shrink_towards_the_horizon_by_construction():
    """A layer moving at v sweeps an angle ~ v cos^2(z) / h per second at zenith angle z (flat-earth
    limit): apparent speed at 60 deg is about a quarter of the zenith's, at 80 deg ~3 %."""

    def angular_speed(zenith_deg: float) -> float:
        z = math.radians(zenith_deg)
        d = torch.tensor([[math.sin(z)], [math.cos(z)], [0.0]], dtype=torch.float64)
        east, _, _ = layer_hit(d, CUMULUS.altitude_m)
        dz = 1e-4
        d2 = torch.tensor([[math.sin(z + dz)], [math.cos(z + dz)], [0.0]], dtype=torch.float64)
        east2, _, _ = layer_hit(d2, CUMULUS.altitude_m)
        return dz / float(east2 - east)  # radians per metre of layer motion

    zenith = angular_speed(0.0)
    assert angular_speed(60.0) / zenith == pytest.approx(0.25, rel=0.02)
    assert angular_speed(80.0) / zenith < 0.05


def sun_at(elevation_deg: float, azimuth_deg: float = 40.0) -> torch.Tensor:
    e, a = math.radians(elevation_deg), math.radians(azimuth_deg)
    return torch.tensor([[math.cos(e) * math.sin(a), math.sin(e), -math.cos(e) * math.cos(a)]])


def test_every_night_is_the_sky_at_the_end_of_twilight():
    """Below -18 deg the sun lights nothing: the net sees it at -18 deg in its own azimuth, so the
    night sky neither keeps darkening nor depends on how deep the sun is."""
    twilight = sun_at(-10.0)
    assert torch.equal(sky_lighting_sun(twilight), twilight)
    deep, end = sky_lighting_sun(sun_at(-60.0)), sun_at(-18.0)
    assert torch.allclose(deep, end, atol=1e-6) and float(deep.norm()) == pytest.approx(1.0)
    net = small_net()
    fields = state(net)
    with torch.no_grad():
        skies = [net(*fields, sun_at(elevation), *COVERS, 32)[0] for elevation in (-30.0, -75.0, -10.0)]
    assert torch.allclose(skies[0], skies[1], atol=1e-5) and not torch.allclose(skies[0], skies[2])


def test_the_sun_core_peaks_at_the_sun_and_sets_with_it():
    net, n = small_net(), 128
    every = torch.arange(n, dtype=torch.float32)
    dirs = pixel_dirs(every, every, n)
    sun = sun_at(35.0)
    core = net.sun_core(dirs, sun)[0, 0]
    amplitude, _ = net.log_sun_core.exp()
    peak = dirs[0, :, core.argmax()]
    assert math.degrees(math.acos(min(float(peak @ sun[0]), 1.0))) < 180.0 / n  # within a pixel
    at_sun = net.sun_core(sun[:, :, None], sun)  # a ray straight at the sun
    assert float(at_sun) == pytest.approx(float(amplitude), rel=1e-4)
    assert float(net.sun_core(dirs, sun_at(-1.5)).max()) == 0.0


def test_the_default_sky_shows_its_sun_where_it_is_asked_for():
    """The sun locator of `skyviewer eval` on start frames of the shipped default: clear skies at
    several sun positions, 256 px (a shading cell is 5.6 deg there; the core is per pixel)."""
    from skyviewer.eval.sun import SunLocator, angle_deg
    from skyviewer.runtime.model import SkyModel

    model, errors = SkyModel("default", providers="cpu", resolution=256), []
    for k, (elevation, azimuth) in enumerate(((15.0, 10.0), (35.0, 130.0), (60.0, 250.0))):
        sun = sun_at(elevation, azimuth)[0].numpy()
        model.set_conditions(sun_dir=sun, cloud_cover=0.1, cirrus_cover=0.0)
        model.reset(seed=k)
        found = SunLocator().locate(model.frame_encoded().numpy()[0])
        errors.append(math.inf if found is None else float(angle_deg(found, sun)))
    assert max(errors) < 1.0, errors


def test_pixel_directions_follow_the_canonical_fisheye():
    from skyviewer.nets.sky import pixel_dirs
    from skyviewer.sky.projection import fisheye_directions

    expected, _ = fisheye_directions(64)
    got = pixel_dirs(torch.arange(64.0), torch.arange(64.0), 64)[0].T.reshape(64, 64, 3)
    assert np.allclose(got.numpy(), expected, atol=1e-5)


def test_bilinear_periodic_matches_a_direct_sum():
    grid = torch.randn(2, 3, 8, 8)
    u = torch.tensor([[0.0, 7.5, -0.25, 8.0, 15.9, -1e-9, 3.2]])
    v = torch.tensor([[0.0, 0.5, 3.3, -8.0, 7.99, 2.0, -13.7]])
    shift_u, shift_v = torch.tensor([[0.0], [-9.3]]), torch.tensor([[5.25], [0.7]])  # per batch element
    expected = torch.zeros(2, 3, u.shape[1])
    for i in range(2):
        for p in range(u.shape[1]):
            x, y = float(u[0, p] - shift_u[i, 0]), float(v[0, p] - shift_v[i, 0])
            x0, y0 = math.floor(x), math.floor(y)
            for dy, wy in ((0, 1 - (y - y0)), (1, y - y0)):
                for dx, wx in ((0, 1 - (x - x0)), (1, x - x0)):
                    expected[i, :, p] += wy * wx * grid[i, :, (y0 + dy) % 8, (x0 + dx) % 8]
    assert torch.allclose(bilinear_periodic(grid, u, v, shift_u, shift_v), expected, atol=1e-5)
    one = bilinear_periodic(grid[:, :1], u, v, shift_u, shift_v)  # one channel: no index expansion
    assert torch.allclose(one, expected[:, :1], atol=1e-5)


def test_step_moves_with_the_wind_and_fades_without_changing_the_field_statistics():
    net = small_net()
    a, b, motion = state(net, batch=64)
    wind = torch.tensor([[5.0, 0.0]]).expand(64, -1)  # 5 m/s towards the east
    step_seconds = 20.0
    na, nb, nm = net.step(a, b, motion, torch.randn_like(a), wind, step_seconds)
    moved = torch.remainder(nm[:, 0] - motion[:, 0], 1.0) * net_tile(net, CUMULUS)
    assert torch.allclose(moved, torch.full_like(moved, 100.0), atol=1e-2)
    assert torch.allclose(nm[:, 1], motion[:, 1])  # no northward motion
    # The fade: a layer whose phase wrapped took B as its new A.
    wrapped = motion[:, 2] + step_seconds / CUMULUS.lifetime_s >= 1.0
    assert torch.equal(na[wrapped, :2], b[wrapped, :2]) and torch.equal(na[~wrapped, :2], a[~wrapped, :2])
    # Every phase of the fade leaves the fields at unit variance (a rollout cannot drift).
    for phase in (0.0, 0.3, 0.5, 0.9):
        m = motion.clone()
        m[:, 2::3] = phase
        with torch.no_grad():
            fields = net.fields(a, b, m)
        assert float(fields.std()) == pytest.approx(1.0, abs=0.05)


def test_a_patch_decodes_to_the_same_pixels_as_the_whole_frame():
    """Training decodes patches; hosts decode whole frames: the two must agree pixel for pixel."""
    net = small_net()
    s = state(net)
    with torch.no_grad():
        full, _ = net(*s, SUN, *COVERS, 128)
        two = [torch.cat([t, t]) for t in s]  # the same sky twice, two different blocks
        patches, _ = net(
            *two, SUN.expand(2, -1), *(c.expand(2, -1) for c in COVERS), 128, [(40, 16), (96, 64)], 24
        )
    assert torch.allclose(patches[0], full[0, :, 40:64, 16:40], atol=1e-5)
    assert torch.allclose(patches[1], full[0, :, 96:120, 64:88], atol=1e-5)
    assert float(full[0, :, 0, 0].max()) == -1.0  # below the horizon


def test_a_clear_sky_asked_for_has_no_clouds_whatever_the_state():
    """Cloud and cirrus cover 0: the frame is the sky behind the clouds, the same for any cloud
    state; at COVER_LIMIT the clouds are back, between the two they fade."""
    net, zero = small_net(), torch.zeros(1, 1)
    with torch.no_grad():
        clear = [net(*state(net), SUN, zero, zero, 64)[0] for _ in range(2)]
        assert (clear[0] - clear[1]).abs().max() < 1e-6
        s = state(net)
        frames = [
            net(*s, SUN, torch.full((1, 1), c), torch.full((1, 1), c), 64)[0] for c in (0.0, 0.005, 0.01)
        ]
    halfway, limit = (float((f - frames[0]).abs().mean()) for f in frames[1:])
    assert 0.0 < halfway < limit


def test_the_cirrus_covers_more_of_the_sky_as_its_cover_grows():
    """The cirrus mask thresholds the cirrus field at its cover's quantile. With the shading blind
    to the cirrus cover (its input weights zeroed), the mask alone must carry it: the sky changes
    more from the cirrus-free one the more cirrus cover is asked for."""
    net = small_net()
    with torch.no_grad():
        net.shading[0].weight[:, CIRRUS_COVER_INPUT] = 0.0
    s, cloud = state(net), torch.zeros(1, 1)  # no cumulus: the cirrus alone
    with torch.no_grad():
        frames = {c: net(*s, SUN, cloud, torch.full((1, 1), c), 64)[0] for c in (0.0, 0.2, 0.5, 0.8)}
    above = frames[0.0][0, 0] > -1.0  # above the horizon
    change = [float((frames[c] - frames[0.0]).abs().amax(1)[0][above].mean()) for c in (0.2, 0.5, 0.8)]
    assert 0.0 < change[0] < change[1] < change[2], change


def test_package_format_3_round_trip(tmp_path):
    """Export a smoke-trained LayerSky, validate it, play it with the runtime (no torch there)."""
    from skyviewer.export.layered import MAX_DECODER_DIFF
    from skyviewer.export.package import PackageInfo, export_package
    from skyviewer.runtime.model import SkyModel
    from skyviewer.train.config import preset
    from skyviewer.train.run import save_snapshot
    from skyviewer.train.sky import build_generator

    cfg = preset("sky", "smoke")
    net = build_generator(cfg)
    snapshot = save_snapshot(tmp_path, cfg, 7, net.state_dict())
    info = PackageInfo(
        name="layered", licence="CC0-1.0", step_seconds=20.0, training_data="test", decoder_px=(64, 128)
    )
    manifest = export_package([snapshot], tmp_path / "layered", info)
    assert manifest["format_version"] == 3 and manifest["projection"]["resolution_px"] == 64
    assert set(manifest["models"]) == {"start", "step", "decode", "decode_128"}
    assert manifest["models"]["step"]["max_abs_diff_vs_torch"] < 1e-3
    assert all(
        manifest["models"][m]["max_abs_diff_vs_torch"] < MAX_DECODER_DIFF for m in ("decode", "decode_128")
    )
    assert (tmp_path / "layered" / "decode_128.onnx").stat().st_size < 500_000  # no per-pixel constants
    sky = SkyModel(tmp_path / "layered", providers="cpu")
    assert sky.layered and sky.resolution == 64 and sky.decoders() == {64: "decode", 128: "decode_128"}
    sky.set_conditions(wind_speed=12.0, wind_towards=270.0, cloud_cover=0.6)
    sky.reset(seed=3)
    first = sky.frame()
    frames = [sky.step() for _ in range(3)]
    assert first.shape == (64, 64, 3) and all(np.isfinite(f).all() for f in frames)
    again = SkyModel(tmp_path / "layered", providers="cpu")
    again.set_conditions(wind_speed=12.0, wind_towards=270.0, cloud_cover=0.6)
    again.reset(seed=3)
    assert np.array_equal(again.frame(), first)  # seeded: the same sky
    # Zero-copy frames alternate between two buffers, as in format 2: a frame survives the next step.
    held = again.frame_encoded().numpy()
    kept = held.copy()
    stepped = again.step_encoded().numpy()
    assert np.array_equal(held, kept) and not np.array_equal(stepped, kept)
