"""`skyviewer dataset import PATH ...`: real captures (Laval HDR DB, image folders, videos) into a dataset.

Each PATH is one source: a Laval root (ROOT/YYYYMMDD/HHMMSS/envmap.exr), a folder of
images, a video file, or a folder of video files. Bad frames are left out and listed in
DATASET.import-report.json beside the dataset (docs/importing.md).
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

from skyviewer.errors import UserError

KINDS = ("laval", "images", "video")


def register(dataset_subparsers) -> None:
    """Add the `import` subcommand to `skyviewer dataset`."""
    p = dataset_subparsers.add_parser(
        "import",
        help="import real sky captures (Laval HDR DB, image folders, videos) into a dataset",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "paths", nargs="+", metavar="PATH", help="Laval root, image folder, video file or folder of videos"
    )
    p.add_argument("--kind", choices=KINDS, help="source kind (default: detected for each PATH)")

    out = p.add_argument_group("output")
    out.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    out.add_argument("--resolution", type=int, default=256, help="canonical fisheye size N (N x N pixels)")
    out.add_argument("--heldout-fraction", type=float, default=0.1, help="fraction of sequences held out")
    again = out.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue OUT.partial (same PATHs and options)")
    again.add_argument("--overwrite", action="store_true", help="replace OUT (swapped in at the end)")

    geo = p.add_argument_group("frames")
    geo.add_argument(
        "--projection", choices=("fisheye", "equirect"), default="fisheye", help="images/video layout"
    )
    geo.add_argument("--square", choices=("crop", "squash"), default="crop", help="non-square fisheye frames")
    geo.add_argument(
        "--azimuth-offset-deg", type=float, default=0.0, help="equirect: azimuth the centre column faces"
    )
    geo.add_argument(
        "--scale-nits", type=float, default=10_000.0, help="LDR: nits that sRGB white decodes to"
    )
    geo.add_argument("--hdr-scale", type=float, default=1.0, help="EXR/.hdr: factor from file values to nits")

    seq = p.add_argument_group("time and sequences")
    seq.add_argument(
        "--max-gap-seconds",
        type=float,
        help="longer capture gaps split sequences (default 600; video 3 steps)",
    )
    seq.add_argument("--min-frames", type=int, default=2, help="drop shorter sequences")
    seq.add_argument(
        "--max-frames-per-sequence", type=int, default=500, help="split longer runs (bounds memory)"
    )
    seq.add_argument(
        "--utc-offset-hours", type=float, default=0.0, help="camera clock minus UTC for zone-less times"
    )
    seq.add_argument(
        "--latitude", type=float, help="degrees north: with --longitude, fills in the sun direction"
    )
    seq.add_argument("--longitude", type=float, help="degrees east")

    vid = p.add_argument_group("video")
    vid.add_argument("--every-n", type=int, default=1, help="keep every n-th frame")
    vid.add_argument(
        "--step-seconds", type=float, help="sky time one kept frame represents (required for video)"
    )
    p.set_defaults(run=run_import)


def detect_sources(paths: list[str], kind: str | None) -> list[tuple[Path, str]]:
    """(path, kind) per source; a folder of videos becomes one source per video file."""
    from skyviewer.data.importers.video import VIDEO_SUFFIXES

    sources = []
    for text in paths:
        path = Path(text)
        if not path.exists():
            raise UserError(f"{path}: no such file or folder")
        if path.is_file():
            if kind not in (None, "video") or path.suffix.lower() not in VIDEO_SUFFIXES:
                raise UserError(f"{path}: a file PATH must be a video ({', '.join(VIDEO_SUFFIXES)})")
            sources.append((path, "video"))
            continue
        videos = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        found = kind or _detect_folder_kind(path, videos)
        if found is None:
            raise UserError(f"{path}: found no Laval captures (YYYYMMDD/HHMMSS/envmap.exr), images or videos")
        if found == "video":
            if not videos:
                raise UserError(f"{path}: no video files in this folder")
            sources += [(v, "video") for v in videos]
        else:
            sources.append((path, found))
    return sources


def _detect_folder_kind(folder: Path, videos: list[Path]) -> str | None:
    """laval, images or video by what the folder holds (in that order of precedence), else None."""
    from skyviewer.data.importers.images import image_files
    from skyviewer.data.importers.laval import is_laval

    if is_laval(folder):
        return "laval"
    if image_files(folder):
        return "images"
    return "video" if videos else None


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(message)


def build_options(args: argparse.Namespace):
    """ImportOptions from the command line, every value checked (UserError naming the option)."""
    from skyviewer.data.importers.pipeline import ImportOptions

    _check(args.resolution >= 8, f"--resolution must be at least 8, got {args.resolution}")
    _check(args.every_n >= 1, f"--every-n must be at least 1, got {args.every_n}")
    _check(
        args.min_frames >= 2,
        f"--min-frames must be at least 2 (a sequence needs a step), got {args.min_frames}",
    )
    _check(
        args.max_frames_per_sequence >= args.min_frames, "--max-frames-per-sequence must be >= --min-frames"
    )
    for name in ("scale_nits", "hdr_scale", "max_gap_seconds", "step_seconds"):
        value = getattr(args, name)
        _check(
            value is None or (math.isfinite(value) and value > 0), f"--{name.replace('_', '-')} must be > 0"
        )
    _check(
        (args.latitude is None) == (args.longitude is None),
        "give both --latitude and --longitude, or neither",
    )
    _check(args.latitude is None or -90 <= args.latitude <= 90, "--latitude must be in [-90, 90]")
    return ImportOptions(
        resolution=args.resolution,
        projection=args.projection,
        square=args.square,
        azimuth_offset_deg=args.azimuth_offset_deg,
        max_gap_seconds=args.max_gap_seconds,
        min_frames=args.min_frames,
        max_frames=args.max_frames_per_sequence,
        latitude=args.latitude,
        longitude=args.longitude,
        utc_offset_hours=args.utc_offset_hours,
        scale_nits=args.scale_nits,
        hdr_scale=args.hdr_scale,
        every_n=args.every_n,
        step_seconds=args.step_seconds,
    )


def report_path(out: Path) -> Path:
    """Where the import report goes: beside the dataset folder."""
    return out.with_name(out.name + ".import-report.json")


def _write_sources(writer, sources: list[tuple[Path, str]], options, report) -> int:
    """Import every source into writer; returns the number of sequences (including resumed ones)."""
    from skyviewer.data.importers.images import find_images
    from skyviewer.data.importers.laval import find_laval
    from skyviewer.data.importers.pipeline import import_frames
    from skyviewer.data.importers.video import find_video

    finders = {"laval": find_laval, "images": find_images, "video": find_video}
    already_written = writer.next_index  # resume: these sequences are in the shards already
    index = 0
    for path, kind in sources:
        for seq in import_frames(finders[kind](path, options, report), report, progress=True):
            if index >= already_written:
                writer.add(seq)
            index += 1
    return index


def run_import(args: argparse.Namespace) -> int:
    from skyviewer.data.importers.report import ImportReport
    from skyviewer.data.store import DatasetWriter

    options = build_options(args)
    sources = detect_sources(args.paths, args.kind)
    for path, kind in sources:
        _check(
            kind != "video" or options.step_seconds is not None,
            f"{path}: --step-seconds is required for videos (a time-lapse's frame rate is not sky time)",
        )
    kinds = sorted({k for _, k in sources})
    report = ImportReport(kind=",".join(kinds), inputs=[str(p) for p, _ in sources], options=asdict(options))
    provenance = {
        "tool": "skyviewer dataset import",
        "command": shlex.join(["skyviewer", *sys.argv[1:]]),
        "args": {"inputs": report.inputs, "options": report.options},
    }
    target = report_path(args.out)
    writer = DatasetWriter(  # refuses an existing dataset before anything is read
        args.out,
        options.resolution,
        heldout_fraction=args.heldout_fraction,
        overwrite=args.overwrite,
        resume=args.resume,
        provenance=provenance,
    )
    try:
        with writer:
            if _write_sources(writer, sources, options, report) == 0:
                writer.discard()  # finished with nothing to resume: a rerun needs no --resume/--overwrite
                raise UserError(
                    f"{', '.join(args.paths)}: nothing was importable, no dataset written"
                    f" ({len(report.skipped)} input(s) skipped, reasons in {target})"
                )
    finally:  # also when interrupted: the report says how far it got
        report.write(target)
        print(report.summary())
        print(f"report: {target}")
    print(f"dataset: {args.out}")
    return 0
