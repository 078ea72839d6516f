"""`skyviewer eval`: measure a sky package (or a start + step run pair) against held-out data.

    skyviewer eval default --data datasets/sim64 --out evals/default
    skyviewer eval runs/00001-start-cpu runs/00002-step-cpu --data datasets/sim64 --steps 1000

Run folders are exported to a temporary package first, so both forms are measured by the
same code through SkyModel (ONNX Runtime). torch is imported only for that export and FID.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from dataclasses import asdict
from pathlib import Path

from skyviewer.errors import UserError

FID_NOTE = "FID needs Inception weights (--fid --inception PATH); not computed"


def register(subparsers) -> None:
    """Add `eval`."""
    p = subparsers.add_parser("eval", help="quality metrics of a sky package against held-out data")
    p.add_argument(
        "model",
        nargs="+",
        metavar="MODEL",
        help="a sky package (name or path), or a start and a step run folder / snapshot",
    )
    p.add_argument("--data", required=True, type=Path, help="dataset whose held-out split is the reference")
    p.add_argument("--out", type=Path, help="report folder (default: evals/<package name>)")
    p.add_argument("--steps", type=int, default=10_000, help="rollout length in model steps (default 10000)")
    p.add_argument(
        "--checkpoints",
        default="1,100,1000,10000",
        help="rollout steps compared by SWD, comma-separated (default 1,100,1000,10000)",
    )
    p.add_argument("--chains", type=int, default=8, help="parallel rollouts (default 8)")
    p.add_argument("--samples", type=int, default=128, help="start frames (default 128)")
    p.add_argument("--seed", type=int, default=0, help="generation and metric seed (default 0)")
    p.add_argument("--providers", default="auto", help="ONNX Runtime providers: auto, cpu, cuda, tensorrt")
    p.add_argument(
        "--view-frames",
        type=int,
        default=8,
        help="reference frames per held-out half seen through perspective cameras (default 8; 0: off)",
    )
    p.add_argument("--view-size", default="640x360", help="perspective view WIDTHxHEIGHT (default 640x360)")
    p.add_argument(
        "--motion-frames",
        type=int,
        default=32,
        help="rollout frames per chain measured for motion (default 32; 0: off)",
    )
    p.add_argument(
        "--cloud-altitude",
        type=float,
        default=1500.0,
        help="altitude (m) of the layer whose drift meets the wind",
    )
    p.add_argument(
        "--resolution",
        type=int,
        help="format 3: the decoder (px) of the native figures (start, rollouts, motion); default: the "
        "package's smallest. The display views always use the host's default decoder",
    )
    p.add_argument("--fid", action="store_true", help="also compute FID (needs --inception)")
    p.add_argument("--inception", type=Path, help="Inception weights: pytorch-fid .pth or TorchScript")
    p.set_defaults(run=run)


def config(args: argparse.Namespace):
    """EvalConfig from the options, with every check a user can fail named."""
    from skyviewer.eval.evaluate import EvalConfig
    from skyviewer.eval.views import ViewSettings

    try:
        checkpoints = tuple(sorted({int(k) for k in args.checkpoints.split(",") if k.strip()}))
    except ValueError as e:
        raise UserError(f"--checkpoints: {args.checkpoints!r} is not a comma-separated list of steps") from e
    if args.steps < 1 or args.chains < 1 or args.samples < 2:
        raise UserError("--steps and --chains must be >= 1 and --samples >= 2")
    if not checkpoints or checkpoints[0] < 1 or checkpoints[-1] > args.steps:
        raise UserError(f"--checkpoints must lie in 1..{args.steps} (the rollout length)")
    if args.fid and args.inception is None:
        raise UserError("--fid needs --inception PATH (Inception weights cannot be downloaded by skyviewer)")
    try:
        width, height = (int(v) for v in args.view_size.lower().split("x"))
    except ValueError as e:
        raise UserError(f"--view-size: {args.view_size!r} is not WIDTHxHEIGHT, e.g. 640x360") from e
    if width < 32 or height < 32 or width % 2 or height % 2:
        raise UserError("--view-size: both sides must be even and >= 32 pixels")
    if args.view_frames < 0 or args.motion_frames < 0 or args.cloud_altitude <= 0:
        raise UserError("--view-frames and --motion-frames must be >= 0 and --cloud-altitude > 0")
    return EvalConfig(
        steps=args.steps,
        checkpoints=checkpoints,
        chains=args.chains,
        samples=args.samples,
        seed=args.seed,
        providers=args.providers,
        inception=args.inception if args.fid else None,
        views=ViewSettings(width=width, height=height),
        view_frames=args.view_frames,
        motion_frames=args.motion_frames,
        cloud_altitude_m=args.cloud_altitude,
    )


@contextlib.contextmanager
def package_path(models: list[str], data: Path):
    """The package to evaluate: as given, or two runs exported to a temporary package."""
    if len(models) == 1:
        yield models[0]
        return
    if len(models) != 2:
        raise UserError("give one sky package, or a start and a step run folder / snapshot")
    from skyviewer.data.store import SkyDataset
    from skyviewer.export.commands import find_snapshot
    from skyviewer.export.package import PackageInfo, export_package

    snapshots = [find_snapshot(m) for m in models]
    step_seconds = SkyDataset.open(data).step_seconds
    if step_seconds is None:
        raise UserError(f"{data}: sequences differ in step_seconds; export the runs with `skyviewer export`")
    info = PackageInfo(
        name=f"eval-{Path(models[1]).stem}",
        licence="UNLICENSED",
        step_seconds=step_seconds,
        training_data=str(data),
    )
    with tempfile.TemporaryDirectory(prefix="skyviewer-eval-") as tmp:
        out = Path(tmp) / "package"
        export_package(snapshots, out, info)
        yield str(out)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from skyviewer.eval import report as rep
    from skyviewer.eval.display import view_section
    from skyviewer.eval.evaluate import generate, load_heldout, summarise
    from skyviewer.runtime.model import SkyModel

    cfg = config(args)
    views, view_sets = None, None
    with package_path(args.model, args.data) as path:
        display = SkyModel(path, providers=cfg.providers)
        model = native_model(display, path, args.resolution, cfg.providers)
        held = load_heldout(args.data, model.resolution)
        total = cfg.samples + cfg.chains * cfg.steps + 4 * cfg.view_frames  # model, reference, floor, fisheye
        with tqdm(total=total, desc="eval", unit="frame", dynamic_ncols=True) as progress:
            generated = generate(model, held, cfg, progress)
            if cfg.view_frames:
                views, view_sets = view_section(display, held, cfg, progress)
    report = {"format": rep.FORMAT, "version": rep.VERSION, **describe(args, cfg, model, held)}
    report.update(summarise(generated, held, cfg, views))
    report["fid"] = fid_entry(cfg, generated, held, model)
    write_outputs(args.out or Path("evals") / model.package.name, report, generated, held, view_sets)
    return 0


def native_model(display, path: str, resolution: int | None, providers: str):
    """The model of the native figures: a format-3 package decoded at `resolution` (default: its
    smallest decoder: 10,000 steps decoded at 1,024 px would take hours on a CPU), else `display`."""
    from skyviewer.runtime.model import SkyModel

    if not display.layered:
        if resolution not in (None, display.resolution):
            raise UserError(f"--resolution: a format-2 package draws {display.resolution} px frames only")
        return display
    available = sorted(display.decoders())
    chosen = available[0] if resolution is None else resolution
    if chosen not in available:
        raise UserError(f"--resolution {chosen}: the package decodes at {', '.join(map(str, available))} px")
    return display if chosen == display.resolution else SkyModel(path, providers=providers, resolution=chosen)


def describe(args: argparse.Namespace, cfg, model, held) -> dict:
    """The model, data and settings a report was made with, and warnings about their fit."""
    warnings = []
    if held.step_seconds is not None and abs(held.step_seconds - model.step_seconds) > 1e-6:
        warnings.append(
            f"package steps {model.step_seconds:g} s but the data {held.step_seconds:g} s: "
            "frame-to-frame change is compared per step"
        )
    return {
        "model": {
            "name": model.package.name,
            "source": list(args.model),
            "resolution": model.resolution,
            "step_seconds": model.step_seconds,
            "provider": model.provider,
        },
        "data": {
            "path": str(args.data),
            "heldout_sequences": len(held.frames),
            "heldout_frames": int(sum(len(f) for f in held.frames)),
            "step_seconds": held.step_seconds,
        },
        "config": {**asdict(cfg), "inception": str(cfg.inception) if cfg.inception else None},
        "warnings": warnings,
    }


def fid_entry(cfg, generated, held, model) -> dict:
    if cfg.inception is None:
        return {"value": None, "note": FID_NOTE}
    from skyviewer.eval.fid import fid

    radiance = model.encoding.decode(generated.start.transpose(0, 2, 3, 1))
    return {
        "value": fid(radiance, held.radiance, cfg.inception),
        "inception": str(cfg.inception),
        "note": "start frames vs all held-out frames, tone-mapped to 8-bit sRGB",
    }


def write_outputs(out: Path, report: dict, generated, held, view_sets=None) -> None:
    """report.json and the PNGs into `out`; prints the table and the paths."""
    from skyviewer.eval import report as rep

    out.mkdir(parents=True, exist_ok=True)
    rep.write_json(out / "report.json", report)
    rep.write_atomic(out / "rollout.png", rep.plot_rollout(report))
    rep.write_atomic(out / "swd.png", rep.plot_swd(report))
    rows = [
        [generated.start[c]] + [f[c] for f in generated.checkpoint_frames.values()]
        for c in range(min(4, len(generated.checkpoint_frames[max(generated.checkpoint_frames)])))
    ]
    rows.append([seq[0] for seq in held.frames[: len(rows[0])]])
    rep.write_atomic(out / "samples.png", rep.sample_grid(rows))
    written = ["report.json", "rollout.png", "swd.png", "samples.png"]
    if view_sets is not None:
        rep.write_atomic(out / "views.png", rep.view_grid(view_sets))
        written.append("views.png")
    if "motion" in report:
        rep.write_atomic(out / "motion.png", rep.plot_motion(report))
        written.append("motion.png")
    for w in report["warnings"]:
        print(f"warning: {w}")
    rep.print_table(report)
    print(f"wrote {out}/" + ", ".join(written))
