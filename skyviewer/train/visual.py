"""Pictures of a run: tone-mapped sample grids, the progress GIF, the loss plot.

Every column of a grid is exposed with one key taken from its real reference frame, so a
model that drifts brighter, darker or greyer than the data shows it instead of being
auto-exposed back to normal.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from skyviewer.sky.projection import fisheye_mask
from skyviewer.sky.radiance import ENCODING
from skyviewer.sky.tonemap import auto_key_nits, to_uint8, tonemap

GAP_PX = 2


def radiance(encoded: torch.Tensor) -> np.ndarray:
    """(3, N, N) encoded tensor -> (N, N, 3) float64 radiance in nits."""
    return ENCODING.decode(encoded.detach().float().cpu().permute(1, 2, 0).double().numpy())


def exposure_key(encoded: torch.Tensor) -> float:
    """Auto-exposure key (nits) of an encoded frame, over the sky inside the horizon."""
    return auto_key_nits(radiance(encoded), fisheye_mask(encoded.shape[-1]))


def grid_image(rows: list[list[tuple[torch.Tensor, float]]]) -> Image.Image:
    """Rows of (encoded (3, N, N) frame, exposure key in nits) tiles, tone-mapped, as one RGB image."""
    n = rows[0][0][0].shape[-1]
    cols = max(len(r) for r in rows)
    step = n + GAP_PX
    canvas = np.full((len(rows) * step - GAP_PX, cols * step - GAP_PX, 3), 32, np.uint8)
    for r, row in enumerate(rows):
        for c, (frame, key) in enumerate(row):
            canvas[r * step : r * step + n, c * step : c * step + n] = to_uint8(tonemap(radiance(frame), key))
    return Image.fromarray(canvas)


def write_gif(frames: list[Path], path: Path, ms_per_frame: int = 400) -> None:
    """Animate the tick images into a progress GIF (the last frame held a little longer)."""
    images = [Image.open(f).convert("RGB") for f in frames]
    if not images:
        return
    durations = [ms_per_frame] * (len(images) - 1) + [ms_per_frame * 4]
    tmp = path.with_name(path.name + ".tmp")
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    tmp.replace(path)


def plot_losses(stats_path: Path, path: Path) -> bool:
    """Plot every loss in stats.jsonl against the step; False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    records = [json.loads(line) for line in stats_path.read_text().splitlines() if line.strip()]
    names = sorted({k for r in records for k in r.get("losses", {})})
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for name in names:
        pts = [(r["step"], r["losses"][name]) for r in records if name in r.get("losses", {})]
        ax.plot(*zip(*pts, strict=True), label=name, lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (tick mean)")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return True
