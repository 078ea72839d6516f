"""The training loop shared by both models: set up, resume, step, tick, checkpoint.

The model-specific parts live in a task (start.StartTask, step.StepTask): it owns the
networks and optimisers, turns a batch of clips into one D + one G update, and draws the
preview image. Everything else -- run folder, logs, progress bar, RNG state, checkpoints,
snapshots, DDP -- is here, once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from skyviewer.data.store import SkyDataset
from skyviewer.errors import UserError
from skyviewer.train import ddp
from skyviewer.train.commands import apply_overrides
from skyviewer.train.config import TrainConfig
from skyviewer.train.data import ClipSampler, preview_sequences
from skyviewer.train.run import (
    RunLog,
    load_training_state,
    new_run_dir,
    save_snapshot,
    save_training_state,
)
from skyviewer.train.sky import SkyTask
from skyviewer.train.start import StartTask
from skyviewer.train.step import StepTask
from skyviewer.train.visual import plot_losses, write_gif

TASKS = {"start": StartTask, "step": StepTask, "sky": SkyTask}


def train(
    cfg: TrainConfig | None,
    data: str | Path,
    out_root: str | Path,
    resume: str | Path | None = None,
    device: str | None = None,
    model: str | None = None,
    resume_overrides: Sequence[str] = (),
) -> Path | None:
    """Train `cfg` (or continue the training state at `resume`, whose config wins) on dataset `data`.

    Writes a new run folder under out_root and returns it (None on DDP ranks other than 0).
    model: if given, the model a resumed state must hold.
    resume_overrides: KEY=VALUE changes to a resumed config (schedule.total_steps: train on).
    """
    state = load_training_state(resume) if resume is not None else None
    if state is not None:
        cfg = apply_overrides(TrainConfig.from_dict(state["config"]), list(resume_overrides))
        if model is not None and cfg.model != model:
            raise UserError(f"{resume}: holds a {cfg.model} run, not {model}")
    d = ddp.setup(device)
    try:
        return _train(cfg, state, Path(data), Path(out_root), resume, d)
    finally:
        ddp.cleanup()


def _train(cfg: TrainConfig, state: dict | None, data: Path, out_root: Path, resume, d) -> Path | None:
    s = cfg.schedule
    if s.threads:
        torch.set_num_threads(s.threads)
    if cfg.optim.batch_size % d.world_size:
        raise UserError(f"batch_size {cfg.optim.batch_size} does not split over {d.world_size} processes")
    torch.manual_seed(s.seed + d.rank)
    dataset = SkyDataset.open(data)
    task = TASKS[cfg.model](cfg, d.device)
    batch = cfg.optim.batch_size // d.world_size
    sampler = ClipSampler(dataset, cfg.resolution_px, task.clip_length, batch, s.seed + d.rank, d.device)
    if state is not None:
        restore(state, task, sampler, d)

    run_dir = new_run_dir(out_root, f"{cfg.model}-{cfg.preset}") if d.is_main else None
    log = RunLog(run_dir)
    if run_dir is not None:
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    describe(log, cfg, dataset, task, d, resume)
    previews = preview_sequences(dataset, s.preview_count, task.preview_frames, cfg.resolution_px)

    sums, counts = defaultdict(float), defaultdict(int)  # per loss: R1 is only computed every few steps
    bar = tqdm(total=s.total_steps, initial=task.step, disable=not d.is_main, desc=f"train {cfg.model}")
    while task.step < s.total_steps:
        losses = task.train_step(sampler)
        for k, v in losses.items():
            sums[k] += v
            counts[k] += 1
        bar.update(1)
        bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items() if not k.startswith("R1")}, refresh=False)
        step, done = task.step, task.step == s.total_steps
        if step % s.tick_every_steps == 0 or done:
            tick(log, run_dir, task, previews, {k: v / counts[k] for k, v in sums.items()}, bar)
            sums, counts = defaultdict(float), defaultdict(int)
        if step % s.checkpoint_every_steps == 0 or done:
            checkpoint(log, run_dir, cfg, task, sampler, d)
        if (step % s.snapshot_every_steps == 0 or done) and run_dir is not None:
            path = save_snapshot(run_dir, cfg, step, task.G_ema.state_dict())
            log.print(f"snapshot {path.name}")
    bar.close()
    ddp.check_in_sync(task.G)
    log.print(f"done: {task.step} steps in {run_dir}")
    return run_dir


def describe(log: RunLog, cfg: TrainConfig, dataset: SkyDataset, task, d: ddp.Dist, resume) -> None:
    def params(m: torch.nn.Module) -> str:
        return f"{sum(p.numel() for p in m.parameters()) / 1e6:.2f} M"

    log.print(f"model {cfg.model}, preset {cfg.preset}, {cfg.resolution_px} px, device {d.device}")
    log.print(
        f"{d.world_size} process(es), {cfg.optim.batch_size // d.world_size} samples per process per step"
    )
    log.print(f"dataset {dataset.path}: {dataset.num_sequences} sequences, {dataset.resolution} px")
    log.print(f"generator {params(task.G)}, " + ", ".join(f"D_{k} {params(v)}" for k, v in task.Ds.items()))
    if resume is not None:
        log.print(f"resumed from {resume} at step {task.step}")


def tick(log: RunLog, run_dir: Path | None, task, previews, means: dict, bar: tqdm) -> None:
    """Stats line, sample grid, progress GIF, loss plot (rank 0 only writes)."""
    rate = bar.format_dict.get("rate") or 0.0
    record = {"step": task.step, "samples_seen": task.samples_seen, "steps_per_second": rate, "losses": means}
    log.stats(record)
    log.print(f"step {task.step:7d}  " + "  ".join(f"{k} {v:.4f}" for k, v in means.items()))
    if run_dir is None:
        return
    task.preview(previews).save(run_dir / f"samples-{task.step:07d}.png")
    write_gif(sorted(run_dir.glob("samples-*.png")), run_dir / "progress.gif")
    plot_losses(run_dir / "stats.jsonl", run_dir / "losses.png")


def checkpoint(log: RunLog, run_dir: Path | None, cfg: TrainConfig, task, sampler, d: ddp.Dist) -> None:
    """Training state for --resume. Every process contributes its RNG and data-stream state."""
    rng = {"torch": torch.get_rng_state(), "data": sampler.state_dict()}
    if d.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(d.device)
    per_rank = ddp.gather(rng)
    if run_dir is not None:
        path = save_training_state(run_dir, cfg, task.step, {"task": task.state_dict(), "ranks": per_rank})
        log.print(f"training state {path.name}")


def restore(state: dict, task, sampler, d: ddp.Dist) -> None:
    task.load_state_dict(state["task"])
    ranks = state["ranks"]
    if len(ranks) != d.world_size:  # a different process count continues with fresh streams
        return
    rng = ranks[d.rank]
    torch.set_rng_state(rng["torch"])
    sampler.load_state_dict(rng["data"])
    if "cuda" in rng and d.device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"], d.device)
