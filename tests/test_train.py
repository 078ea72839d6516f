"""Training on a tiny synthetic dataset: every preset runs, resume is exact, snapshots export
to ONNX with torch parity, run folders are never reused, DDP with 2 gloo processes agrees."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch

from skyviewer.data.store import DatasetWriter
from skyviewer.data.types import SkySequence, empty_meta
from skyviewer.errors import UserError
from skyviewer.sky.projection import direction_from_angles, fisheye_directions
from skyviewer.train.commands import apply_overrides, register
from skyviewer.train.config import PRESETS, TrainConfig, preset
from skyviewer.train.loop import train
from skyviewer.train.onnx_export import export_onnx, load_generator
from skyviewer.train.sky import build_generator as sky_generator
from skyviewer.train.step import build_generator

torch.set_num_threads(1)
DATA_PX = 32


def smooth_sequence(rng: np.random.Generator, frames: int) -> SkySequence:
    """A drifting, smooth random radiance field with a moving sun glow: cheap stand-in for sky data."""
    dirs, mask = fisheye_directions(DATA_PX)
    meta = empty_meta(frames)
    meta["t_seconds"] = np.arange(frames) * 60.0
    zenith = rng.uniform(0.3, 1.2) + np.linspace(0, 0.1, frames)
    meta["sun_dir"] = direction_from_angles(zenith, rng.uniform(-np.pi, np.pi) + np.linspace(0, 0.2, frames))
    meta["cloud_cover"] = rng.uniform(0, 1)
    k = rng.normal(size=(3, 3)) * 3
    out = []
    for t in range(frames):
        phase = (dirs @ k).sum(-1, keepdims=True) + 0.3 * t
        glow = np.exp(40 * (dirs @ meta["sun_dir"][t] - 1))[..., None]
        out.append((2000 * (1 + 0.5 * np.sin(phase)) * [0.6, 0.8, 1.2] + 5e4 * glow) * mask[..., None])
    return SkySequence(np.array(out, np.float32), meta, 60.0, "test: smooth random field")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny"
    rng = np.random.default_rng(0)
    with DatasetWriter(path, DATA_PX, heldout_fraction=0.25) as writer:
        for _ in range(4):
            writer.add(smooth_sequence(rng, frames=8))
    return path


def quick(cfg: TrainConfig, **schedule) -> TrainConfig:
    """Two steps, every output written, batches small enough for a test."""
    overrides = {
        "total_steps": 2,
        "tick_every_steps": 1,
        "snapshot_every_steps": 2,
        "checkpoint_every_steps": 1,
    }
    overrides.update(preview_count=2, threads=1, **schedule)
    for k, v in overrides.items():
        setattr(cfg.schedule, k, v)
    cfg.optim.batch_size = min(cfg.optim.batch_size, 4)
    cfg.rollout.rollout_steps = min(cfg.rollout.rollout_steps, 3)
    cfg.rollout.clip_frames = min(cfg.rollout.clip_frames, 3)
    return cfg


def stats(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("model", ["start", "step"])
def test_every_preset_trains_two_steps(model, name, dataset, tmp_path):
    cfg = preset(model, name)
    if name == "gpu":  # the 256 px config itself (sizes, bf16 flag); smaller nets keep it quick on CPU
        cfg.net.render_width, cfg.net.disc_channel_base = 16, 2048
    run_dir = train(quick(cfg), dataset, tmp_path)
    assert run_dir == tmp_path / f"00000-{model}-{name}"
    records = stats(run_dir)
    assert [r["step"] for r in records] == [1, 2]
    assert all(np.isfinite(v) for r in records for v in r["losses"].values())
    for name in ["config.json", "log.txt", "progress.gif", "samples-0000002.png", "snapshot-0000002.pt"]:
        assert (run_dir / name).is_file(), name
    assert (run_dir / "training-state-0000001.pt").is_file()
    if importlib.util.find_spec("matplotlib"):
        assert (run_dir / "losses.png").is_file()
    assert not list(run_dir.glob("*.tmp"))
    assert TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text())) == cfg


def test_run_folders_are_numbered_never_reused(dataset, tmp_path):
    (tmp_path / "00007-old").mkdir()
    first = train(quick(preset("start", "smoke"), total_steps=1), dataset, tmp_path)
    second = train(quick(preset("start", "smoke"), total_steps=1), dataset, tmp_path)
    assert (first.name, second.name) == ("00008-start-smoke", "00009-start-smoke")


@pytest.mark.parametrize("model", ["start", "step"])
def test_resume_gives_the_same_next_loss(model, dataset, tmp_path):
    cfg = quick(preset(model, "smoke"), total_steps=3)
    straight = train(cfg, dataset, tmp_path / "a")
    resumed = train(None, dataset, tmp_path / "b", resume=straight / "training-state-0000002.pt")
    assert stats(resumed)[0]["step"] == 3
    assert stats(resumed)[0]["losses"] == stats(straight)[2]["losses"]
    a = torch.load(straight / "snapshot-0000003.pt", weights_only=True)["G_ema"]
    b = torch.load(resumed / "snapshot-0000003.pt", weights_only=True)["G_ema"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    longer = train(
        None, dataset, tmp_path / "c", resume=straight, resume_overrides=["schedule.total_steps=4"]
    )
    assert [r["step"] for r in stats(longer)] == [4]  # a finished run trains on for longer


def test_sky_texture_training_resumes_exactly_without_critics(dataset, tmp_path):
    """The cpu preset's texture loss draws random projections and descriptors: a resumed run must
    draw the same ones, and a run without critics saves and loads without a critic optimiser."""
    cfg = quick(preset("sky", "cpu"), total_steps=3)
    cfg.resolution_px, cfg.sky.patch_px, cfg.sky.global_px = 64, 16, 16
    cfg.sky.background_warmup_steps = 1
    straight = train(cfg, dataset, tmp_path / "a")
    resumed = train(None, dataset, tmp_path / "b", resume=straight / "training-state-0000002.pt")
    assert stats(resumed)[0]["losses"] == stats(straight)[2]["losses"]
    assert "texture" in stats(resumed)[0]["losses"]
    assert torch.load(straight / "training-state-0000003.pt", weights_only=False)["task"]["opt_D"] is None


def test_step_takes_over_the_start_renderer_frozen_and_learns_the_motion(dataset, tmp_path):
    start_run = train(quick(preset("start", "smoke"), total_steps=1), dataset, tmp_path)
    start_weights = torch.load(start_run / "snapshot-0000001.pt", weights_only=True)["G_ema"]
    cfg = quick(preset("step", "smoke"))
    cfg.rollout.start_snapshot = str(start_run / "snapshot-0000001.pt")
    step_run = train(cfg, dataset, tmp_path)
    step_weights = torch.load(step_run / "snapshot-0000002.pt", weights_only=True)["G_ema"]
    shared = [k for k in step_weights if k.startswith(("field.", "renderer."))]
    assert shared and all(torch.equal(step_weights[k], start_weights[k]) for k in shared)
    untrained = build_generator(cfg).state_dict()
    assert not torch.equal(step_weights["log_wind_px"], untrained["log_wind_px"])  # the motion learns
    assert stats(step_run)[0]["losses"]["background"] == 0  # the start's background, not relearned


def test_step_refuses_a_step_snapshot_as_its_start(dataset, tmp_path):
    step_run = train(quick(preset("step", "smoke"), total_steps=1), dataset, tmp_path)
    cfg = quick(preset("step", "smoke"))
    cfg.rollout.start_snapshot = str(step_run / "snapshot-0000001.pt")
    with pytest.raises(ValueError, match="start-model snapshot"):
        train(cfg, dataset, tmp_path)


@pytest.mark.parametrize("model", ["start", "step"])
def test_snapshot_exports_to_onnx_matching_torch(model, dataset, tmp_path):
    run_dir = train(quick(preset(model, "smoke"), total_steps=1), dataset, tmp_path)
    generator, cfg = load_generator(run_dir / "snapshot-0000001.pt")
    assert cfg.model == model
    inputs = export_onnx(generator, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    with torch.no_grad():
        want = generator(*inputs.values())
    for g, w in zip(got, want if isinstance(want, tuple) else (want,), strict=True):
        np.testing.assert_allclose(g, w.numpy(), atol=1e-4, rtol=1e-4)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_gloo_processes(dataset, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
    ]
    cmd += [
        "-m",
        "skyviewer.train",
        "step",
        "--data",
        str(dataset),
        "--preset",
        "smoke",
        "--out",
        str(tmp_path),
    ]
    cmd += ["--set", "schedule.threads=1", "--set", "optim.r1_every_steps=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()  # only rank 0 writes
    log = (run_dir / "log.txt").read_text()
    assert "2 process(es), 2 samples per process" in log
    assert "done: 2 steps" in log  # reached only after the ranks' weights were checked identical
    state = torch.load(run_dir / "training-state-0000002.pt", weights_only=True)
    assert len(state["ranks"]) == 2


def test_train_command_parses_without_torch_and_overrides_config():
    code = "import sys, skyviewer.train.commands; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["train", "step", "--data", "d", "--preset", "smoke", "--set", "optim.lr_g=0.01"]
    )
    cfg = apply_overrides(preset(args.model, args.preset), args.set)
    assert cfg.optim.lr_g == 0.01 and args.run is not None
    assert apply_overrides(cfg, ["optim.mixed_precision=true"]).optim.mixed_precision is True
    for bad in ["optim.nope=1", "optim=1", "optim.batch_size=x", "total_steps"]:
        with pytest.raises(UserError):
            apply_overrides(cfg, [bad])


def test_bad_dataset_and_resume_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such dataset"):
        train(preset("start", "smoke"), tmp_path / "missing", tmp_path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="junk.pt"):
        train(None, tmp_path / "missing", tmp_path, resume=tmp_path / "junk.pt")


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_sky_preset_trains_two_steps_with_its_background_warm_up(name, dataset, tmp_path):
    """LayerSky's presets as configured (nets, losses, optimiser), on the tiny data: 64 px frames,
    16 px patches. The cpu and gpu presets warm their background up alone first: step 1 has only
    its loss; then each preset's losses: the texture loss (cpu, gpu), the critics (smoke, gpu)."""
    cfg = preset("sky", name)
    cfg.resolution_px, cfg.sky.patch_px, cfg.sky.global_px = 64, 16, 16
    cfg.sky.background_warmup_steps = 1 if cfg.sky.background_warmup_steps else 0
    run_dir = train(quick(cfg), dataset, tmp_path)
    records = stats(run_dir)
    assert [r["step"] for r in records] == [1, 2]
    assert all(np.isfinite(v) for r in records for v in r["losses"].values())
    warmed = set(records[0]["losses"]) == {"background"}
    assert warmed == (name in ("cpu", "gpu"))
    losses = records[1]["losses"]
    assert ("texture" in losses and losses["texture"] > 0) == (cfg.optim.texture_weight > 0)
    assert ("G_patch" in losses) == (cfg.optim.adversarial_weight > 0)
    assert (run_dir / "snapshot-0000002.pt").is_file()


def test_held_parameters_keep_their_values_while_the_rest_trains(dataset, tmp_path):
    cfg = quick(preset("sky", "cpu"), total_steps=2)
    cfg.resolution_px, cfg.sky.patch_px, cfg.sky.global_px = 64, 16, 16
    cfg.sky.background_warmup_steps = 0
    cfg.optim.held_parameters = "detail_gain, log_sharpness"
    run_dir = train(cfg, dataset, tmp_path)
    before = sky_generator(cfg).state_dict()  # the untrained values
    after = torch.load(run_dir / "snapshot-0000002.pt", weights_only=True)["G_ema"]
    assert all(torch.equal(after[k], before[k]) for k in ("detail_gain", "log_sharpness"))
    assert not torch.equal(after["log_haze_m"], before["log_haze_m"])
    cfg.optim.held_parameters = "detail_gian"
    with pytest.raises(UserError, match="detail_gian"):
        train(cfg, dataset, tmp_path)


def test_the_horizon_anchor_sees_the_ring_above_the_horizon_and_turns_with_the_sun():
    """Every pixel 1-3 deg above the horizon is in exactly one sector of the ring, no other pixel is;
    a sky brighter in the ring differs from the data by that much; a sky brighter elsewhere does
    not differ; sector 0 is centred on the sun wherever it is."""
    from skyviewer.nets.sky import pixel_dirs
    from skyviewer.train.sky import HORIZON_BAND_DEG, HORIZON_SECTORS, horizon_cells, horizon_l1

    n = 256
    index = torch.arange(n, dtype=torch.float32)
    dirs = pixel_dirs(index, index, n)  # (1, 3, n * n)
    sun = torch.nn.functional.normalize(torch.tensor([[0.5, 0.4, -0.3], [-0.7, 0.2, 0.6]]), dim=1)
    cells = horizon_cells(dirs, sun)  # (2, sectors, P)
    elevation = torch.rad2deg(torch.asin(dirs[0, 1].clamp(-1, 1)))
    ring = (elevation >= HORIZON_BAND_DEG[0]) & (elevation < HORIZON_BAND_DEG[1])
    assert torch.equal((cells > 0).sum(dim=1), ring.long().expand(2, -1))
    assert torch.allclose(cells.sum(dim=2), torch.ones(2, HORIZON_SECTORS))

    real = torch.rand(2, 3, n, n) * 2 - 1
    assert horizon_l1(real, real, cells) == 0
    assert torch.isclose(horizon_l1(real + 0.3 * ring.reshape(1, 1, n, n), real, cells), torch.tensor(0.3))
    assert horizon_l1(real + 0.3 * (~ring).reshape(1, 1, n, n), real, cells) == 0

    for b in range(2):  # the ring pixel nearest the sun's azimuth
        toward = torch.atan2(dirs[0, 0], -dirs[0, 2]) - torch.atan2(sun[b, 0], -sun[b, 2])
        nearest = int(torch.where(ring, torch.cos(toward), -2.0).argmax())
        assert cells[b, 0, nearest] > 0


def test_the_horizon_blocks_reach_the_horizon_and_their_bands_hold_its_lowest_degrees():
    """Every horizon block lies in the frame on the shading grid and holds pixels of both bands
    (0-1 and 1-3 deg up), each pixel in at most one; a block brighter only in the lowest degree
    differs from the data by its share of one band."""
    from skyviewer.nets.sky import SHADING_FACTOR, LayerSkyNet
    from skyviewer.train.sky import (
        HORIZON_BLOCK_BANDS_DEG,
        HORIZON_BLOCK_PX,
        horizon_bands,
        horizon_block_positions,
        horizon_l1,
    )

    net, r, p = LayerSkyNet(grid=16, kernel_px=5, detail_px=32, detail_period_m=320.0), 1024, HORIZON_BLOCK_PX
    torch.manual_seed(0)
    blocks = horizon_block_positions(16, r)
    assert all(0 <= c <= r - p and c % SHADING_FACTOR == 0 for block in blocks for c in block)
    dirs = net.directions(blocks, p, r)  # (16, 3, P)
    bands = horizon_bands(dirs)
    assert bands.shape == (16, len(HORIZON_BLOCK_BANDS_DEG), p * p)
    assert torch.allclose(bands.sum(dim=2), torch.ones(16, 2)) and ((bands > 0).sum(dim=1) <= 1).all()
    elevation = torch.rad2deg(torch.asin(dirs[:, 1].clamp(-1, 1)))
    lowest = ((elevation >= 0) & (elevation < 1)).reshape(16, 1, p, p)
    real = torch.rand(16, 3, p, p) * 2 - 1
    assert horizon_l1(real, real, bands) == 0
    assert torch.isclose(horizon_l1(real + 0.4 * lowest, real, bands), torch.tensor(0.2))
