"""`skyviewer dataset ...`: build, inspect and preview datasets (docs/datasets.md)."""

from __future__ import annotations

import argparse
import shlex
import sys

from skyviewer.data.importers import commands as importer_commands


def register(subparsers) -> None:
    """Add `dataset` with its subcommands synth, preview, info (and import, by the importers)."""
    parser = subparsers.add_parser("dataset", help="build, inspect and preview datasets")
    dataset = parser.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND")
    parser.set_defaults(run=lambda args: parser.print_help() or 2)
    _add_synth(dataset)
    _add_preview(dataset)
    _add_info(dataset)
    importer_commands.register(dataset)


def _add_synth(dataset) -> None:
    from skyviewer.data.synth import SynthSettings

    d = SynthSettings()
    p = dataset.add_parser(
        "synth",
        help="render a dataset of simulated skies",
        description="Render random sky scenarios with the simulator into a dataset. "
        "Interrupted builds are kept in OUT.partial and continue with --resume.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", required=True, help="dataset folder to create")
    p.add_argument("--sequences", type=int, default=d.sequences, help="number of sequences")
    p.add_argument("--frames", type=int, default=d.frames, help="frames per sequence")
    p.add_argument("--resolution", type=int, default=d.resolution, help="fisheye image side, pixels")
    p.add_argument("--step-seconds", type=float, default=d.step_seconds, help="sky time between frames")
    p.add_argument("--seed", type=int, default=d.seed, help="master seed (sequence i is reproducible)")
    p.add_argument("--heldout-fraction", type=float, default=d.heldout_fraction, help="share held out")
    p.add_argument(
        "--patch-resolution",
        type=int,
        default=d.patch_resolution,
        help="also store patches of each frame as rendered at this fisheye resolution (0: none)",
    )
    p.add_argument("--patch-size", type=int, default=d.patch_size, help="patch side, pixels")
    p.add_argument("--patches-per-frame", type=int, default=d.patches_per_frame, help="patches per frame")
    p.add_argument("--workers", type=int, default=1, help="simulator processes")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue OUT.partial from its last shard")
    again.add_argument("--overwrite", action="store_true", help="replace OUT (swapped in at the end)")
    p.set_defaults(run=run_synth)


def run_synth(args) -> int:
    from skyviewer.data.store import SkyDataset
    from skyviewer.data.synth import SynthSettings, synthesize

    settings = SynthSettings(
        sequences=args.sequences,
        frames=args.frames,
        resolution=args.resolution,
        step_seconds=args.step_seconds,
        seed=args.seed,
        heldout_fraction=args.heldout_fraction,
        patch_resolution=args.patch_resolution,
        patch_size=args.patch_size,
        patches_per_frame=args.patches_per_frame,
    )
    command = shlex.join(["skyviewer", *sys.argv[1:]])
    again = {"resume": args.resume, "overwrite": args.overwrite}
    path = synthesize(settings, args.out, workers=args.workers, command=command, **again)
    ds = SkyDataset.open(path)
    print(f"wrote {path}: {ds.num_sequences} sequences, {ds.num_frames} frames")
    return 0


def _add_preview(dataset) -> None:
    p = dataset.add_parser(
        "preview",
        help="write a contact sheet PNG and a GIF of a dataset",
        description="Tone-map a dataset into a contact sheet (sequences x frames) and an animated GIF.",
    )
    p.add_argument("dataset", help="dataset folder")
    p.add_argument("--out", help="output folder (default: DATASET/preview)")
    p.add_argument("--sequence", help="sequence id for the GIF (default: the first)")
    p.set_defaults(run=run_preview)


def run_preview(args) -> int:
    from skyviewer.data.preview import write_preview

    for path in write_preview(args.dataset, args.out, args.sequence):
        print(path)
    return 0


def _add_info(dataset) -> None:
    p = dataset.add_parser("info", help="summarise a dataset", description="Check and summarise a dataset.")
    p.add_argument("dataset", help="dataset folder")
    p.add_argument("--verify", action="store_true", help="also check every shard's sha256 (reads all)")
    p.set_defaults(run=run_info)


def run_info(args) -> int:
    from skyviewer.data.store import SkyDataset

    ds = SkyDataset.open(args.dataset)
    if args.verify:
        ds.verify(progress=True)
    print(ds.summary())
    if args.verify:
        print("verified    every shard matches its sha256")
    return 0
