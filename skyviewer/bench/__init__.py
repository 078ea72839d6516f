"""`skyviewer bench`: speed figures anyone can reproduce, as a table and as JSON.

Benchmarks are sections in a registry: `SECTIONS[name] = function(args) -> list of rows`,
each row a flat dict (`name`, `value`, `unit` and any context). Later stages add their
own ('render', 'model', 'record') with `section(name)`; `--only` picks some. Every run
records the hardware and the machine's load, because a shared CPU halves the figures.

bench is a development tool that spans every stage (it may build a package from training code
and time torch eager as a baseline), so it lives here, outside the torch-free app/runtime side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from skyviewer.errors import UserError

Row = dict
SECTIONS: dict[str, Callable[[argparse.Namespace], list[Row]]] = {}


def section(name: str):
    """Register a benchmark section under `name` (decorator)."""

    def register_section(fn):
        SECTIONS[name] = fn
        return fn

    return register_section


def hardware() -> dict:
    """CPU model, core count, load average, Python and numpy versions: the context of a figure."""
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_avg_1m": round(load[0], 2),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def frames_per_second(
    step: Callable[[int], object], min_seconds: float, min_frames: int
) -> tuple[float, int]:
    """Run step(k) for k = 0, 1, ... until both limits are reached; (frames/s, frames)."""
    frames, start = 0, time.perf_counter()
    while frames < min_frames or time.perf_counter() - start < min_seconds:
        step(frames)
        frames += 1
    return frames / (time.perf_counter() - start), frames


@section("sim")
def bench_sim(args: argparse.Namespace) -> list[Row]:
    """SkySim frames/s, single process, a partly cloudy afternoon (both cloud layers on)."""
    from skyviewer.data.skysim import SimConfig, SkySim

    rows = []
    for resolution in (256, 128):
        config = SimConfig(
            resolution=resolution, cloud_cover=0.5, cirrus_cover=0.3, start_utc="2024-06-21T14:00:00Z"
        )
        start = time.perf_counter()
        sim = SkySim(config, seed=0)
        setup_s = time.perf_counter() - start
        sim.frame(0)  # warm-up: first touches of the textures
        fps, frames = frames_per_second(sim.frame, args.seconds, 10)
        rows.append(
            {
                "name": f"sim {resolution}x{resolution}",
                "value": round(fps, 1),
                "unit": "frames/s",
                "frames": frames,
                "setup_s": round(setup_s, 3),
            }
        )
    return rows


@section("record")
def bench_record(args: argparse.Namespace) -> list[Row]:
    """`skyviewer record` throughput at 1920x1080 to MP4 (render, readback, x264 veryfast, mux):
    the default package if installed, else SkySim stepping once per 30 frames (so the figure is the
    recorder's, not the simulator's)."""
    import tempfile

    from skyviewer.record.commands import sim_model
    from skyviewer.record.config import RecordConfig
    from skyviewer.record.recorder import record
    from skyviewer.runtime.package import PackageError

    frames = max(30, round(args.seconds * 10))
    with tempfile.TemporaryDirectory() as tmp:
        config = RecordConfig(
            out=Path(tmp) / "bench.mp4", size=(1920, 1080), frames=frames, sky_seconds_per_frame=2.0
        )
        try:
            from skyviewer.runtime.model import SkyModel

            model, source = SkyModel("default"), "the default package"
        except PackageError:
            model, source = (
                sim_model(replace(config, sky_seconds_per_frame=60.0), 256),
                "skysim 256 (1 step / 30 frames)",
            )
        result = record(config, model)
    fps = result.frames / result.seconds
    return [{"name": "record 1920x1080 mp4", "value": round(fps, 1), "unit": "frames/s", "frames": frames,
             "sky": source}]  # fmt: skip


def print_table(rows: list[Row]) -> None:
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        extra = ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("section", "name", "value", "unit"))
        print(f"{r['section']:<8} {r['name']:<{width}}  {r['value']:>10} {r['unit']:<10} {extra}")


def run_bench(args: argparse.Namespace) -> int:
    if args.soak:
        from skyviewer.bench.viewer import run_soak

        return run_soak(args)
    names = args.only or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise UserError(f"--only: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    info = hardware()
    print(f"hardware: {info['cpu']}, {info['cores']} cores, load {info['load_avg_1m']} (1 min)")
    rows = []
    for name in names:
        rows += [{"section": name, **row} for row in SECTIONS[name](args)]
    print_table(rows)
    if args.out:
        report = {"hardware": info, "hardware_load_after": hardware()["load_avg_1m"], "results": rows}
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="measure speed (simulator, ...) and write the figures as JSON")
    p.add_argument(
        "--only", action="append", metavar="SECTION", help=f"run only this section ({', '.join(SECTIONS)})"
    )
    p.add_argument("--out", metavar="JSON", help="also write the results and the hardware to this file")
    p.add_argument("--seconds", type=float, default=3.0, help="minimum timed seconds per figure (default 3)")
    p.add_argument("--package", help="package for 'model' and --soak (default: untrained cpu nets)")
    p.add_argument("--providers", default="auto", help="ONNX Runtime providers: auto, cpu, cuda, tensorrt")
    p.add_argument("--soak", action="store_true", help="step the model --soak-steps times; RSS and NaN/Inf")
    p.add_argument("--soak-steps", type=int, default=100_000, help="steps of --soak (default 100000)")
    p.set_defaults(run=run_bench)


import skyviewer.bench.lighting  # noqa: E402, F401  (registers 'lighting')
import skyviewer.bench.viewer  # noqa: E402, F401  (registers 'render' and 'model')
