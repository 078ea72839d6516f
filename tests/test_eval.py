"""`skyviewer eval`: the metrics on synthetic inputs with known answers, and the command end to end
on a tiny dataset with a tiny package and with a pair of run snapshots (one evaluation path)."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
import test_package_fixtures as fixtures
from PIL import Image

from skyviewer.cli import main
from skyviewer.data.store import DatasetWriter
from skyviewer.data.types import SkySequence, empty_meta
from skyviewer.errors import UserError
from skyviewer.eval import stats
from skyviewer.eval.evaluate import (
    TARGETS,
    EvalConfig,
    HeldOut,
    generate_starts,
    nearest_in_conditions,
    request_wind,
)
from skyviewer.eval.fid import frechet_distance, gaussian_stats, load_inception
from skyviewer.eval.sun import SunLocator, angle_deg
from skyviewer.eval.swd import laplacian_pyramid, pyramid_levels, reconstruct, swd
from skyviewer.runtime.model import SkyModel
from skyviewer.runtime.sun import SunClock
from skyviewer.sky.projection import direction_from_angles, fisheye_directions, fisheye_mask
from skyviewer.sky.radiance import ENCODING

snapshots, package_dir, layered_dir = fixtures.snapshots, fixtures.package_dir, fixtures.layered_dir
PX = 32


def blur(images: np.ndarray, times: int) -> np.ndarray:
    """Repeated 3-tap box blur along both image axes (wraps; fine for a test signal)."""
    for _ in range(times):
        for axis in (2, 3):
            images = (np.roll(images, 1, axis) + images + np.roll(images, -1, axis)) / 3
    return images


def textured_skies(seed: int, count: int = 48) -> np.ndarray:
    """(count, 3, PX, PX) encoded-like images: a sky gradient plus fine random texture, -1 outside."""
    rng = np.random.default_rng(seed)
    dirs, mask = fisheye_directions(PX)
    base = 0.6 + 0.2 * dirs[..., 1]  # brighter towards the zenith
    texture = blur(rng.normal(size=(count, 3, PX, PX)), 1) * 0.3
    images = base + texture + rng.normal(0, 0.05, size=(count, 3, 1, 1))
    return np.where(mask, images, -1.0)


def test_laplacian_pyramid_reconstructs_its_input():
    images = np.random.default_rng(0).normal(size=(2, 3, 64, 64))
    pyramid = laplacian_pyramid(images, pyramid_levels(64))
    assert [p.shape[-1] for p in pyramid] == [64, 32, 16]
    np.testing.assert_allclose(reconstruct(pyramid), images, atol=1e-12)


def test_swd_near_floor_for_same_distribution_and_grows_with_shift_and_blur():
    reference, same, other = textured_skies(1), textured_skies(2), textured_skies(3)
    floor = np.mean(swd(same, reference))
    assert 0.67 < np.mean(swd(other, reference)) / floor < 1.5
    shifted = np.where(fisheye_mask(PX), same + 0.15, -1.0)
    assert np.mean(swd(shifted, reference)) > 3 * floor
    blurred = [np.mean(swd(np.where(fisheye_mask(PX), blur(same, k), -1.0), reference)) for k in (1, 2, 4)]
    assert blurred[0] > 2 * floor
    assert blurred[0] < blurred[1] < blurred[2], blurred


def sun_frame(sun: np.ndarray, n: int = 64, sky_nits: float = 4000.0) -> np.ndarray:
    """(3, n, n) encoded frame: a smooth sky with a circumsolar glow clamped at x_max around `sun`."""
    dirs, mask = fisheye_directions(n, np.float64)
    glow = 2e5 * np.exp(200 * (dirs @ sun - 1))
    radiance = (sky_nits * (0.5 + 0.5 * dirs[..., 1]) + glow)[..., None] * [0.8, 0.9, 1.1]
    return np.where(mask, ENCODING.encode(radiance).transpose(2, 0, 1), -1.0)


@pytest.mark.parametrize("zenith_deg, azimuth_deg", [(0, 0), (35, 120), (62, -70), (80, 200)])
def test_sun_locator_finds_a_clamped_sun(zenith_deg, azimuth_deg):
    sun = direction_from_angles(np.radians(zenith_deg), np.radians(azimuth_deg))
    found = SunLocator().locate(sun_frame(sun))
    assert found is not None
    assert angle_deg(found, sun) < 1.0


def test_sun_locator_reports_not_found_under_overcast():
    dirs, mask = fisheye_directions(64, np.float64)
    overcast = np.where(
        mask, ENCODING.encode(np.full((3, 64, 64), 9000.0) * (0.7 + 0.3 * dirs[..., 1])), -1.0
    )
    assert SunLocator().locate(overcast) is None
    two_suns = np.maximum(
        sun_frame(direction_from_angles(0.3, 0.0)), sun_frame(direction_from_angles(1.0, 2.0))
    )
    assert SunLocator().locate(two_suns) is None


def test_rollout_floor_takes_the_held_out_frames_under_the_chains_conditions():
    frames = np.arange(4, dtype=np.float32)[:, None, None, None] * np.ones((4, 3, 2, 2), np.float32)
    day, dusk, night = [0.0, 1.0, 0.0], [0.0, 0.05, 1.0], [0.0, -0.9, 0.4]
    conditions = np.array([[*day, 0.2], [*day, 0.9], [*dusk, 0.2], [*night, 0.2]], np.float32)
    wanted = np.array([[*night, 0.3], [*day, 0.8], [*day, 0.1]], np.float32)
    picked = nearest_in_conditions(frames, conditions, wanted)
    assert picked.shape == (3, 3, 2, 2)
    assert picked[:, 0, 0, 0].tolist() == [3.0, 1.0, 0.0]


def test_rollout_floor_matches_a_deep_night_with_a_night_not_a_nearer_dusk():
    def sun(elevation_deg: float, azimuth_deg: float) -> list[float]:
        e, a = np.radians(elevation_deg), np.radians(azimuth_deg)
        return [np.cos(e) * np.sin(a), np.sin(e), -np.cos(e) * np.cos(a)]

    frames = np.arange(2, dtype=np.float32)[:, None, None, None] * np.ones((2, 3, 2, 2), np.float32)
    conditions = np.array([[*sun(-13, 0), 0.5], [*sun(-38, 150), 0.5]], np.float32)
    wanted = np.array([[*sun(-67, 0), 0.5]], np.float32)  # nearer to the dusk frame as a direction
    assert nearest_in_conditions(frames, conditions, wanted)[:, 0, 0, 0].tolist() == [1.0]


def test_the_held_out_wind_reaches_both_package_formats(package_dir, layered_dir):
    """Format 3 takes the wind as speed and direction: the eval asks for the data's wind, so the
    drift is measured against what the model was told. Format 2 takes no wind."""
    layered = SkyModel(layered_dir, providers="cpu")
    assert request_wind(layered, np.array([3.0, 4.0], np.float32)).tolist() == [3.0, 4.0]
    layered.reset(0)
    asked = layered.conditions()
    assert float(asked["wind_speed"][0]) == pytest.approx(5.0)
    assert float(asked["wind_towards"][0]) == pytest.approx(np.degrees(np.arctan2(3.0, 4.0)), abs=1e-4)
    assert np.isnan(request_wind(layered, np.array([np.nan, np.nan]))).all()  # unknown: nothing asked
    assert np.isnan(request_wind(SkyModel(package_dir, providers="cpu"), np.array([3.0, 4.0]))).all()


def test_start_frames_are_each_their_own(layered_dir):
    """generate_starts keeps a copy of each start: SkyModel draws every reset's start into the same
    device buffer, so keeping views of it left every sample the last one (a start sun error of 106
    deg until the eval copied them)."""
    sun = np.tile([0.0, 0.6, -0.8], (2, 1))
    held = HeldOut(
        [np.zeros((2, 3, 4, 4), np.float32)] * 2, [sun] * 2, [np.full(2, 0.5)] * 2, [None] * 2,
        np.empty(0), 20.0, wind=[np.full((2, 2), np.nan)] * 2, cirrus_cover=[np.full(2, 0.2)] * 2,
    )  # fmt: skip
    model = SkyModel(layered_dir, providers="cpu")
    frames, _ = generate_starts(model, held, EvalConfig(samples=3), SimpleNamespace(update=lambda n: None))
    assert not np.array_equal(frames[0], frames[1]) and not np.array_equal(frames[1], frames[2])
    model.reset(EvalConfig().seed + 1)  # the second sample's seed: the same sky again
    np.testing.assert_array_equal(model.frame_encoded().numpy()[0], frames[1])


def test_held_out_halves_both_hold_the_nights():
    elevations = [30.0, -40.0, 10.0, -70.0, 50.0, -5.0]  # by index, both nights land in the odd half
    frames = [np.full((2, 3, 4, 4), i, np.float32) for i in range(6)]
    suns = [np.tile([0.0, np.sin(np.radians(e)), -np.cos(np.radians(e))], (2, 1)) for e in elevations]
    held = HeldOut(frames, suns, [np.full(2, 0.5)] * 6, [None] * 6, np.empty(0), 20.0)
    a, b = held.halves()
    nights = {1.0, 3.0}
    assert nights & set(a[:, 0, 0, 0].tolist()) and nights & set(b[:, 0, 0, 0].tolist())
    conditions = held.conditions_of_half_a()
    np.testing.assert_allclose(conditions[:, 1], [suns[int(i)][0, 1] for i in a[:, 0, 0, 0]], rtol=1e-6)


def test_stats_of_a_constant_sequence():
    mask = fisheye_mask(16)
    frames = np.full((5, 3, 16, 16), 0.25, np.float32)
    assert np.all(stats.changes(frames, mask) == 0)
    np.testing.assert_allclose(stats.brightness(stats.channel_means(frames, mask)), 0.25, rtol=1e-6)
    assert np.all(stats.blue_red(stats.channel_means(frames, mask)) == 0)
    frames[2, 1, 3, 4] = np.nan
    assert stats.nonfinite(frames).tolist() == [0, 0, 1, 0, 0]


def test_frechet_distance_matches_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    s1 = a @ a.T + np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    # S2 = c^2 S1 commutes with S1: tr (S1 S2)^(1/2) = c tr S1, so FD = |dmu|^2 + (1 - c)^2 tr S1
    c = 1.7
    expected = np.sum((mu1 - mu2) ** 2) + (1 - c) ** 2 * np.trace(s1)
    assert frechet_distance(mu1, s1, mu2, c**2 * s1) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-9)
    # from samples: Gaussian statistics estimated on 200 000 draws land near the exact value
    x = rng.multivariate_normal(mu1, s1, 200_000)
    y = rng.multivariate_normal(mu2, c**2 * s1, 200_000)
    assert frechet_distance(*gaussian_stats(x), *gaussian_stats(y)) == pytest.approx(expected, rel=0.03)


def test_fid_weights_missing_is_a_clear_error(tmp_path):
    pytest.importorskip("torch")
    with pytest.raises(UserError, match="no such Inception weights"):
        load_inception(tmp_path / "pt_inception.pth")


def sky_sequence(rng: np.random.Generator, frames: int) -> SkySequence:
    """A sky at a real place and time (so eval's sun moves with SunClock), with a clamped sun."""
    clock = SunClock(46.8, -71.2, 1.7e9 + rng.uniform(0, 86400 * 365))
    while clock.direction()[1] < 0.3:  # daytime, sun well above the horizon
        clock.advance(3600)
    meta = empty_meta(frames)
    meta["t_seconds"] = np.arange(frames) * 60.0
    meta["unix_time"] = clock.unix_time + meta["t_seconds"]
    meta["sun_dir"] = [SunClock(46.8, -71.2, t).direction() for t in meta["unix_time"]]
    meta["cloud_cover"] = rng.uniform(0, 1)
    out = [
        ENCODING.decode(sun_frame(sun, PX, rng.uniform(2000, 8000))).transpose(1, 2, 0)
        for sun in meta["sun_dir"]
    ]
    attributes = {"scenario": {"latitude_deg": 46.8, "longitude_deg": -71.2}}
    return SkySequence(np.array(out, np.float32), meta, 60.0, "test: glow sky", attributes)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "sky"
    rng = np.random.default_rng(0)
    with DatasetWriter(path, PX, heldout_fraction=0.5) as writer:
        for _ in range(8):
            writer.add(sky_sequence(rng, frames=6))
    return path


def eval_args(dataset, out) -> list[str]:
    return [
        "--data",
        str(dataset),
        "--out",
        str(out),
        "--steps",
        "12",
        "--checkpoints",
        "1,4,12",
        "--chains",
        "3",
        "--samples",
        "8",
        "--providers",
        "cpu",
        "--view-frames",
        "2",
        "--view-size",
        "96x54",
        "--motion-frames",
        "6",
    ]


def test_eval_command_writes_report_and_plots(package_dir, dataset, tmp_path, capsys):
    assert main(["eval", str(package_dir), *eval_args(dataset, tmp_path / "ev")]) == 0
    printed = capsys.readouterr().out
    assert "start-frame SWD / held-out floor" in printed and "report.json" in printed
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert {
        "format",
        "version",
        "model",
        "data",
        "config",
        "warnings",
        "swd",
        "rollout",
        "data_bands",
        "sun",
        "targets",
        "passed",
        "fid",
    } <= set(report)
    assert set(report["swd"]["rollout"]) == {"1", "4", "12"}
    for entry in [report["swd"]["start"], *report["swd"]["rollout"].values()]:
        assert entry["swd"] > 0 and entry["floor"] > 0 and len(entry["levels"]) == pyramid_levels(16)
    assert report["rollout"]["nonfinite"] == 0 and report["rollout"]["steps"] == 12
    assert len(report["rollout"]["curves"]["change"]) == len(report["rollout"]["curves"]["step"])
    assert report["data_bands"]["change"]["mean"] > 0
    sun = report["sun"]["rollout"]
    assert sun["found"] + sun["not_found"] + sun["below_horizon"] == 3 * 12  # every step of 3 chains
    assert report["fid"]["value"] is None and "Inception" in report["fid"]["note"]
    assert set(report["targets"]) == set(TARGETS)
    assert report["targets"]["rollout_nonfinite"]["pass"]
    views = report["views"]
    assert views["views"] == 2 * 15 and views["swd"] > 0 and views["floor"] > 0
    assert "half B" in views["reference"]  # no SkySim scenario to re-render: the halves are compared
    assert views["sharpness"]["gradient_ratio"] > 0
    motion = report["motion"]
    assert motion["model_sequences"] == 3 and motion["data_sequences"] == 4 and motion["resolution"] == 16
    assert len(motion["model"]["relative_speed"]) == 5 and motion["model"]["relative_speed"][0] == 1.0
    assert motion["drift"]["model"]["sequences"] == 0  # the package takes no wind: nothing to meet
    assert report["targets"]["wind_direction_error_deg"]["value"] is None
    for name in ("rollout.png", "swd.png", "samples.png", "views.png", "motion.png"):
        image = Image.open(io.BytesIO((tmp_path / "ev" / name).read_bytes()))
        image.load()
        assert image.width > 100 and image.height > 100


def test_eval_of_run_snapshots_goes_through_a_package(snapshots, dataset, tmp_path):
    assert main(["eval", *map(str, snapshots), *eval_args(dataset, tmp_path / "ev")]) == 0
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["model"]["name"].startswith("eval-") and report["model"]["resolution"] == 16


def test_eval_refuses_bad_options(package_dir, dataset, tmp_path, capsys):
    args = eval_args(dataset, tmp_path / "ev")
    assert main(["eval", str(package_dir), *args, "--fid"]) == 2
    assert main(["eval", str(package_dir), *args[:-6], "--checkpoints", "13"]) == 2
    assert "--inception" in capsys.readouterr().err


def test_eval_views_render_synth_skies_along_the_view_rays(package_dir, tmp_path, capsys):
    data = tmp_path / "synth"
    synth = ["dataset", "synth", "--out", str(data), "--sequences", "4", "--frames", "3"]
    assert main([*synth, "--resolution", "16", "--heldout-fraction", "1.0"]) == 0
    args = ["--data", str(data), "--out", str(tmp_path / "ev"), "--steps", "3", "--checkpoints", "3"]
    args += ["--chains", "2", "--samples", "4", "--providers", "cpu", "--view-frames", "2"]
    assert main(["eval", str(package_dir), *args, "--view-size", "96x54"]) == 0
    views = json.loads((tmp_path / "ev" / "report.json").read_text())["views"]
    assert views["reference"].startswith("SkySim rendering the views' rays") and views["views"] == 2 * 15
    assert views["floor"] > 0 and views["ratio"] > 0 and views["sharpness"]["data"]["gradient"] > 0
    # SkySim through the package's own fisheye size, for scale: measured against the same floor.
    assert views["fisheye"]["floor"] == views["floor"] and views["fisheye"]["ratio"] > 0
    assert f"SkySim drawn into a {views['model_resolution']} px fisheye" in capsys.readouterr().out


def test_eval_of_a_layered_package_decodes_rollouts_and_views_with_their_own_decoders(layered_dir, tmp_path):
    """Format 3: the native figures come from --resolution's decoder (default: the smallest), the
    display views from the host's default decoder (the fixture's: 64 px)."""
    root = layered_dir
    data = tmp_path / "synth"
    synth = ["dataset", "synth", "--out", str(data), "--sequences", "4", "--frames", "3"]
    assert main([*synth, "--resolution", "128", "--heldout-fraction", "1.0"]) == 0
    args = ["--data", str(data), "--out", str(tmp_path / "ev"), "--steps", "3", "--checkpoints", "3"]
    args += ["--chains", "2", "--samples", "4", "--providers", "cpu", "--view-frames", "1"]
    args += ["--view-size", "96x54", "--motion-frames", "0"]
    assert main(["eval", str(root), *args, "--resolution", "100"]) == 2
    assert main(["eval", str(root), *args]) == 0
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["model"]["resolution"] == 64 and report["views"]["model_resolution"] == 64
    assert main(["eval", str(root), *args, "--resolution", "128"]) == 0
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["model"]["resolution"] == 128 and report["views"]["model_resolution"] == 64
