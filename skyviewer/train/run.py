"""Run folders, logs and the two kinds of checkpoint (stylegan3's layout).

    runs/00003-step-cpu/
        config.json                      the TrainConfig, complete
        log.txt                          what was printed
        stats.jsonl                      one JSON line per tick: step, losses, timing
        samples-0000200.png ...          sample grids / rollout strips from fixed seeds
        progress.gif, losses.png         the ticks animated, the loss curves
        training-state-0000500.pt        everything --resume needs
        snapshot-0001000.pt              EMA generator + config: what the exporter reads

Both checkpoint kinds are torch.save'd dicts of tensors and plain Python values (no
pickled classes): they load with torch.load(weights_only=True). Files are written to a
temporary name and renamed, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import torch

from skyviewer.errors import UserError
from skyviewer.train.config import TrainConfig

SNAPSHOT_FORMAT = "skyviewer-snapshot"
STATE_FORMAT = "skyviewer-training-state"


def new_run_dir(root: Path, name: str) -> Path:
    """Create root/NNNNN-name with the next free number; never reuses or overwrites a folder."""
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in root.iterdir() if (m := re.match(r"(\d+)-", p.name))]
    n = max(numbers, default=-1) + 1
    while True:
        path = root / f"{n:05d}-{name}"
        try:
            path.mkdir()  # atomic: a concurrent run that took the number makes us take the next
            return path
        except FileExistsError:
            n += 1


def atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load(path: Path, expected_format: str) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except Exception as e:  # torch raises several types for foreign or corrupt files
        raise UserError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict) or obj.get("format") != expected_format:
        raise UserError(f"{path}: not a {expected_format} file")
    return obj


def save_snapshot(run_dir: Path, cfg: TrainConfig, step: int, generator_state: dict) -> Path:
    path = run_dir / f"snapshot-{step:07d}.pt"
    atomic_save(
        {"format": SNAPSHOT_FORMAT, "step": step, "config": cfg.to_dict(), "G_ema": generator_state}, path
    )
    return path


def load_snapshot(path: str | Path) -> tuple[TrainConfig, dict, int]:
    """(config, EMA generator state dict, step) of a snapshot file."""
    obj = _load(Path(path), SNAPSHOT_FORMAT)
    return TrainConfig.from_dict(obj["config"]), obj["G_ema"], obj["step"]


def save_training_state(run_dir: Path, cfg: TrainConfig, step: int, state: dict) -> Path:
    path = run_dir / f"training-state-{step:07d}.pt"
    atomic_save({"format": STATE_FORMAT, "step": step, "config": cfg.to_dict(), **state}, path)
    return path


def load_training_state(path: str | Path) -> dict:
    """A training state from its file, or the latest one in a run folder."""
    path = Path(path)
    if path.is_dir():
        states = sorted(path.glob("training-state-*.pt"))
        if not states:
            raise UserError(f"{path}: no training-state-*.pt to resume from")
        path = states[-1]
    return _load(path, STATE_FORMAT)


class RunLog:
    """log.txt (every message, also printed) and stats.jsonl (one record per tick) of a run.

    With `run_dir=None` (DDP ranks other than 0) it prints nothing and writes nothing.
    """

    def __init__(self, run_dir: Path | None):
        self.run_dir = run_dir
        self.start_time = time.time()

    def print(self, message: str) -> None:
        if self.run_dir is None:
            return
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)  # keeps the progress bar intact
        with open(self.run_dir / "log.txt", "a") as f:
            f.write(message + "\n")

    def stats(self, record: dict) -> None:
        if self.run_dir is None:
            return
        with open(self.run_dir / "stats.jsonl", "a") as f:
            f.write(json.dumps({**record, "wall_seconds": round(time.time() - self.start_time, 3)}) + "\n")
