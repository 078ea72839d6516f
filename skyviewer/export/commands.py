"""`skyviewer export`: a start and a step snapshot -> a sky package folder (docs/package.md).

    skyviewer export runs/00001-start-cpu runs/00002-step-cpu --out models/mysky --data datasets/sim64 --fp16

torch is imported inside the handler, so `skyviewer --help` never loads it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from skyviewer.errors import UserError


def register(subparsers) -> None:
    """Add `export`."""
    p = subparsers.add_parser("export", help="export a sky run (or a start and a step run) as a sky package")
    p.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="a sky run (format 3), or a start and a step run in any order (format 2): run folders "
        "(latest snapshot) or snapshot files",
    )
    p.add_argument("--out", required=True, type=Path, help="package folder to create, e.g. models/mysky")
    p.add_argument("--name", help="package name (default: the --out folder's name)")
    p.add_argument("--licence", default="UNLICENSED", help="licence of the weights (default: UNLICENSED)")
    p.add_argument("--description", default="", help="one paragraph shown to people browsing packages")
    p.add_argument("--data", type=Path, help="the training dataset: provides step_seconds and provenance")
    p.add_argument("--step-seconds", type=float, help="sky seconds per step (required without --data)")
    p.add_argument("--training-data", help="provenance text (default: from --data)")
    p.add_argument(
        "--fp16", action="store_true", help="also write fp16 variants (needs onnxconverter-common)"
    )
    p.add_argument("--zip", action="store_true", help="also write OUT.zip")
    p.set_defaults(run=run)


def find_snapshot(run: str) -> Path:
    """A snapshot file, or the latest snapshot-*.pt of a run folder."""
    path = Path(run)
    if path.is_dir():
        snapshots = sorted(path.glob("snapshot-*.pt"))
        if not snapshots:
            raise UserError(f"{path}: no snapshot-*.pt in this run folder")
        return snapshots[-1]
    if not path.is_file():
        raise UserError(f"{path}: no such run folder or snapshot")
    return path


def package_info(args: argparse.Namespace):
    """PackageInfo from the options, taking step_seconds and provenance from --data when given."""
    from skyviewer.export.package import PackageInfo

    step_seconds, provenance = args.step_seconds, args.training_data
    if args.data is not None:
        from skyviewer.data.store import SkyDataset

        dataset = SkyDataset.open(args.data)
        if dataset.step_seconds is None and step_seconds is None:
            raise UserError(f"{args.data}: sequences differ in step_seconds; pass --step-seconds")
        step_seconds = step_seconds or dataset.step_seconds
        sources = sorted({r.source.split(" ", 1)[0] for r in dataset.records.values()})
        provenance = provenance or f"{args.data}: {dataset.num_sequences} sequences from {', '.join(sources)}"
    if step_seconds is None:
        raise UserError("--step-seconds is required without --data (the sky time each step advances)")
    return PackageInfo(
        name=args.name or args.out.name,
        licence=args.licence,
        step_seconds=step_seconds,
        training_data=provenance or "not recorded",
        description=args.description,
    )


def run(args: argparse.Namespace) -> int:
    from skyviewer.export.package import export_package

    if len(args.runs) > 2:
        raise UserError(f"give one sky run, or a start and a step run; got {len(args.runs)} runs")
    snapshots = [find_snapshot(r) for r in args.runs]
    manifest = export_package(snapshots, args.out, package_info(args), fp16=args.fp16, make_zip=args.zip)
    print(f"wrote {args.out}" + (f" and {args.out}.zip" if args.zip else ""))
    for kind, spec in manifest["models"].items():
        diffs = [f"fp32 {spec['max_abs_diff_vs_torch']:.1e}"]
        diffs += [f"{v['precision']} {v['max_abs_diff_vs_torch']:.1e}" for v in spec["variants"]]
        print(f"  {kind:11s} opset {spec['opset']}, op set ok, max |torch - onnx| {', '.join(diffs)}")
    for name, entry in manifest["files"].items():
        print(f"  {name:18s} {entry['bytes']:>11,d} B  sha256 {entry['sha256'][:16]}")
    return 0
