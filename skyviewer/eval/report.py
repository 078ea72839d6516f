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

from skyviewer.eval.views import HORIZON_TARGET_BAND
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


def view_grid(view_sets: dict, frames: int = 2) -> bytes:
    """Display views at full resolution: for each of the first `frames` frames, a row of the model's
    views and a row of the reference views (SkySim under the model's conditions, or held-out half B),
    one column per pitch at the first yaw. Each tile is auto-exposed, like samples.png."""
    from PIL import Image

    viewer = view_sets["model"].viewer
    yaws, pitches = len(viewer.settings.yaws_deg), len(viewer.settings.pitches_deg)
    columns = [p * yaws for p in range(pitches)]  # cameras are pitch-major
    h, w = viewer.sky.shape[1:]
    gap = 6
    rows = []
    for f in range(min(frames, view_sets["model"].frames)):
        rows += [view_sets["model"].views[f], view_sets["reference"].views[f]]
    canvas = np.full((len(rows) * (h + gap), pitches * (w + gap), 3), 24, np.uint8)
    for i, views in enumerate(rows):
        for j, c in enumerate(columns):
            radiance = ENCODING.decode(views[c].astype(np.float64).transpose(1, 2, 0))
            tile = preview(radiance * viewer.sky[c][..., None], mask=viewer.sky[c])
            canvas[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = tile
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG")
    return buf.getvalue()


def plot_motion(report: dict) -> bytes:
    """Per zenith-angle band: relative speed, radial and tangential cloud size, lag-1 correlation and
    change, model next to data; and correlation over lags 1-8 per band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = report["motion"]
    model, data = m["model"], m["data"]
    bands = model["bands"]
    x = np.arange(len(bands))
    panels = (
        ("relative_speed", "apparent speed / speed at 0-30°"),
        ("radial_size_deg", "radial cloud size (deg, 1/e)"),
        ("tangential_size_deg", "tangential cloud size (deg, 1/e)"),
        (("change", "1"), "change over 1 step  mean |Δe|"),
        (("change", "10"), "change over 10 steps  mean |Δe|"),
    )
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    for ax, (key, title) in zip(axes.flat, panels, strict=False):
        ax.bar(x - 0.2, _band_values(model, key, len(bands)), 0.4, label="model")
        ax.bar(x + 0.2, _band_values(data, key, len(bands)), 0.4, label="data")
        ax.set_xticks(x, bands)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
    ax = axes.flat[-1]
    lags = [int(k) for k in model["correlation"]]
    for b, band in enumerate(bands):
        line = ax.plot(
            lags,
            [_band_values(model, ("correlation", str(k)), len(bands))[b] for k in lags],
            "o-",
            ms=3,
            label=f"model {band}",
        )
        ax.plot(
            lags,
            [_band_values(data, ("correlation", str(k)), len(bands))[b] for k in lags],
            "--",
            color=line[0].get_color(),
            lw=1,
        )
    ax.set_title("temporal correlation (model solid, data dashed)", fontsize=10)
    ax.set_xlabel("lag (steps)")
    ax.legend(fontsize=6)
    for ax in axes[0]:
        ax.set_xlabel("zenith-angle band (deg)")
    fig.suptitle(
        f"{report['model']['name']}: cloud motion by zenith angle ({m['model_sequences']} chains, "
        f"{m['data_sequences']} held-out sequences, {m['resolution']} px)"
    )
    fig.tight_layout()
    data_png = _figure_bytes(fig)
    plt.close(fig)
    return data_png


def _band_values(figures: dict, key, bands: int) -> np.ndarray:
    """Per-band values of a motion figure (key, or (key, lag)); null read as NaN."""
    values = figures[key[0]][key[1]] if isinstance(key, tuple) else figures[key]
    return np.array([math.nan if v is None else v for v in values[:bands]], float)


def print_table(report: dict) -> None:
    """The targets, one line each: value, limit, pass/fail, aim."""
    print(f"{'target':<58} {'value':>9}  {'limit':<14} result")
    for t in report["targets"].values():
        lo, hi = t["limit"]
        if lo == hi:
            limit = f"= {hi:g}"
        elif hi is None or not math.isfinite(hi):  # JSON writes infinity as null
            limit = f">= {lo:g}"
        else:
            limit = f"<= {hi:g}" if lo == 0 else f"{lo:g} .. {hi:g}"
        value = "n/a" if t["value"] is None or not math.isfinite(t["value"]) else f"{t['value']:.3g}"
        verdict = ("pass" + (" (aim met)" if t["aim_met"] else "")) if t["pass"] else "FAIL"
        print(f"{t['what']:<58} {value:>9}  {limit:<14} {verdict}")
    print("all targets met" if report["passed"] else "some targets missed")
    fisheye = report.get("views", {}).get("fisheye")
    if fisheye is not None:  # what the display-view targets read for SkySim through the model's fisheye size
        band = HORIZON_TARGET_BAND
        lo, hi = fisheye["horizon"]["bands_deg"][band]
        print(
            f"for scale, SkySim drawn into a {report['views']['model_resolution']} px fisheye and viewed "
            f"the same way: views {fisheye['ratio']:.3g}x the floor, sharpness "
            f"{fisheye['sharpness']['gradient_ratio']:.3g}, {lo:g}-{hi:g} deg above the horizon "
            f"{fisheye['horizon']['stops'][band]:+.2f} stops"
        )
