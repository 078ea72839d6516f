"""The evaluation report: report.json, rollout.png, swd.png, samples.png, and the printed table.

Every file is written to a temporary name and renamed, so an interrupted run never leaves a
half-written report next to an older complete one.
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path

import numpy as np

from skyviewer.sky.projection import fisheye_mask
from skyviewer.sky.radiance import ENCODING
from skyviewer.sky.tonemap import preview

FORMAT = "skyviewer-eval"
VERSION = 1
SAMPLE_TILE_PX = 96
CURVE_PANELS = (
    ("change", "frame-to-frame change  mean |Δe|"),
    ("brightness", "brightness  (luma-weighted mean e)"),
    ("blue_red", "colour  mean e_B − mean e_R"),
    ("sun_error_deg", "sun direction error (deg, median)"),
)


def write_atomic(path: Path, data: bytes) -> None:
    """Write to PATH.tmp, fsync, rename over PATH."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _clean(value):
    """JSON has no NaN: not-a-number becomes null."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, report: dict) -> None:
    write_atomic(path, (json.dumps(_clean(report), indent=2, allow_nan=False) + "\n").encode())


def _figure_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def plot_rollout(report: dict) -> bytes:
    """Four curves over a log step axis, each with the data's 10-90 % band and mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = report["rollout"]["curves"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for ax, (key, title) in zip(axes.flat, CURVE_PANELS, strict=True):
        values = np.array([math.nan if v is None else v for v in c[key]], float)
        ax.plot(c["step"], values, "o-", ms=3, label="model (mean of chains)")
        band = report["data_bands"].get(key)
        if band:
            ax.axhspan(band["lo"], band["hi"], color="tab:green", alpha=0.2, label="data 10-90 %")
            ax.axhline(band["mean"], color="tab:green", lw=1, label="data mean")
        if key == "sun_error_deg":
            ax.axhline(5.0, color="tab:red", ls="--", lw=1, label="target 5°")
            ax.axhline(2.0, color="tab:orange", ls=":", lw=1, label="aim 2°")
        ax.set_xscale("log")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
    for ax in axes[1]:
        ax.set_xlabel("rollout step")
    fig.suptitle(f"{report['model']['name']}: rollout statistics, {report['rollout']['chains']} chains")
    fig.tight_layout()
    data = _figure_bytes(fig)
    plt.close(fig)
    return data


def plot_swd(report: dict) -> bytes:
    """SWD of the start frames and rollout checkpoints next to their held-out floors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start, rollout = report["swd"]["start"], report["swd"]["rollout"]
    labels = ["start"] + [f"step {k}" for k in rollout]
    entries = [start, *rollout.values()]
    x = np.arange(len(entries))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.bar(x - 0.2, [e["swd"] for e in entries], 0.4, label="model vs held-out")
    ax.bar(x + 0.2, [e["floor"] for e in entries], 0.4, label="held-out vs held-out (floor)")
    ax.plot(x[:1], [2 * start["floor"]], "r_", ms=30, label="target: 2x floor (start), 3x (rollout)")
    ax.plot(x[1:], [3 * e["floor"] for e in entries[1:]], "r_", ms=30)
    ax.set_xticks(x, labels)
    ax.set_ylabel("SWD x 1e3 (mean over pyramid levels)")
    ax.set_title(f"{report['model']['name']}: sliced Wasserstein distance")
    ax.legend(fontsize=8)
    fig.tight_layout()
    data = _figure_bytes(fig)
    plt.close(fig)
    return data


def sample_grid(rows: list[list[np.ndarray]]) -> bytes:
    """Rows of (3, N, N) encoded frames -> one tone-mapped PNG (each frame auto-exposed).

    commands.write_outputs lays it out: one row per chain (start frame, then each SWD
    checkpoint), and a last row of held-out first frames."""
    from PIL import Image

    n = rows[0][0].shape[-1]
    mask = fisheye_mask(n)
    gap = max(1, n // 16)
    width = max(len(r) for r in rows)
    canvas = np.full((len(rows) * (n + gap), width * (n + gap), 3), 24, np.uint8)
    for i, row in enumerate(rows):
        for j, frame in enumerate(row):
            radiance = ENCODING.decode(np.nan_to_num(frame, nan=-1.0).transpose(1, 2, 0).astype(np.float64))
            y, x = i * (n + gap), j * (n + gap)
            canvas[y : y + n, x : x + n] = preview(radiance, mask=mask)
    zoom = max(1, SAMPLE_TILE_PX // n)  # tiny models: enlarge (nearest) so a person can see them
    image = Image.fromarray(canvas).resize((canvas.shape[1] * zoom, canvas.shape[0] * zoom), Image.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def print_table(report: dict) -> None:
    """The targets, one line each: value, limit, pass/fail, aim."""
    print(f"{'target':<58} {'value':>9}  {'limit':<14} result")
    for t in report["targets"].values():
        lo, hi = t["limit"]
        limit = f"= {hi:g}" if lo == hi else (f"<= {hi:g}" if lo == 0 else f"{lo:g} .. {hi:g}")
        value = "n/a" if t["value"] is None or not math.isfinite(t["value"]) else f"{t['value']:.3g}"
        verdict = ("pass" + (" (aim met)" if t["aim_met"] else "")) if t["pass"] else "FAIL"
        print(f"{t['what']:<58} {value:>9}  {limit:<14} {verdict}")
    print("all targets met" if report["passed"] else "some targets missed")
