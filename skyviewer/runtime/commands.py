"""`skyviewer validate | list | doctor`: check packages, find them, check this machine.

    skyviewer validate default               # a package name, folder or .zip
    skyviewer list
    skyviewer doctor

Any command that takes a package takes a name (looked up in ./models, the per-user folder and
the packages bundled with skyviewer: runtime/package.py) or a path. onnxruntime is imported
inside the handlers.
"""

from __future__ import annotations

import argparse
import time


def register(subparsers) -> None:
    """Add `validate`, `list` and `doctor`."""
    p = subparsers.add_parser("validate", help="check a sky package completely and run it once")
    p.add_argument("package", help="package name, folder or .zip")
    p.add_argument("--providers", default="auto", help="auto, cpu, cuda or tensorrt (default: auto)")
    p.set_defaults(run=validate)
    p = subparsers.add_parser("list", help="list the sky packages in ./models, the per-user folder, bundled")
    p.set_defaults(run=list_packages)
    p = subparsers.add_parser("doctor", help="show what is installed and usable on this machine")
    p.set_defaults(run=doctor)


def validate(args: argparse.Namespace) -> int:
    """Static checks (the loader; any failure exits 2 with the reason), then one start and one
    step of every precision in ONNX Runtime (a non-finite or out-of-range output exits 1)."""
    from skyviewer.runtime.package import load_package

    package = load_package(args.package)
    m = package.manifest
    print(f"{package.source}: {m['name']} (format {m['format_version']}, licence {m['licence']})")
    print(f"  ok  schema, file names, sizes, sha256 of {len(package.files)} files")
    print("  ok  ONNX: checker, opset, op set, inputs/outputs as the manifest says")
    print(
        f"      {package.resolution} px fisheye, {m['step_seconds']:g} s per step, conditions "
        + ", ".join(c["name"] for c in m["conditions"])
    )
    precisions = ["fp32"] + [v["precision"] for v in m["models"]["step"]["variants"]]
    problems = sum(_run_once(package, p, args.providers) for p in precisions)
    print("valid" if not problems else f"INVALID: {problems} problem(s)")
    return 1 if problems else 0


def _run_once(package, precision: str, providers: str) -> int:
    """Reset and step once at `precision`; prints a line, returns the number of problems."""
    import numpy as np

    from skyviewer.runtime.model import SkyModel

    t0 = time.perf_counter()
    model = SkyModel(package, providers=providers, precision=precision)
    model.reset(seed=0)
    start = model.frame_encoded().numpy()
    t1 = time.perf_counter()
    encoded = np.stack([start, model.step_encoded().numpy()])
    t2 = time.perf_counter()
    ok = bool(np.isfinite(encoded).all()) and -1.0 <= encoded.min() and encoded.max() <= 1.0
    status = "ok " if ok else "BAD"
    print(
        f"  {status} {precision}: start + step on {model.provider.removesuffix('ExecutionProvider')} "
        f"(load+start {1000 * (t1 - t0):.0f} ms, step {1000 * (t2 - t1):.1f} ms), "
        f"frame range [{encoded.min():.3f}, {encoded.max():.3f}]"
    )
    return 0 if ok else 1


def list_packages(args: argparse.Namespace) -> int:
    from skyviewer.models import BUNDLED_DIR
    from skyviewer.runtime.package import PackageError, find_packages, load_package, search_dirs

    paths = find_packages()
    if not paths:
        print(f"no sky packages in {', '.join(str(d) for d in search_dirs())}")
    for path in paths:
        try:
            p = load_package(path)
            mib = sum(len(b) for b in p.files.values()) / 2**20
            seconds = p.manifest["step_seconds"]
            where = f"bundled ({path})" if path.parent == BUNDLED_DIR else str(path)
            print(f"{p.name:20s} {p.resolution:5d} px  {seconds:6g} s/step  {mib:7.1f} MiB  {where}")
        except PackageError as e:
            print(f"{path.name:20s} INVALID: {e}")
    return 0


def doctor(args: argparse.Namespace) -> int:
    from skyviewer.runtime.doctor import report

    rows = report()
    width = max(len(label) for label, _ in rows)
    for label, finding in rows:
        print(f"{label:{width}s}  {finding}")
    return 0
