"""`skyviewer train start|step`: train the start GAN or the step model (docs/training.md).

    skyviewer train step --data datasets/sim64 --preset cpu --out runs/
    skyviewer train step --data datasets/sim64 --resume runs/00003-step-cpu --out runs/
    skyviewer train step --data datasets/sim64 --resume runs/00003-step-cpu --set schedule.total_steps=8000
    skyviewer train start --data datasets/sim256 --preset gpu --set optim.batch_size=64
    torchrun --nproc_per_node 4 -m skyviewer.train step --data ... --preset gpu

torch is imported inside the handler, so `skyviewer --help` never loads it.
"""

from __future__ import annotations

import argparse
import dataclasses

from skyviewer.errors import UserError

PRESET_NAMES = ("smoke", "cpu", "gpu")


def register(subparsers) -> None:
    """Add `train` with its `start` and `step` subcommands."""
    train = subparsers.add_parser("train", help="train the start GAN or the step model")
    models = train.add_subparsers(dest="model", metavar="MODEL", required=True)
    for model, text in (
        ("sky", "LayerSky: layered clouds decoded at any resolution (start, step, decoder)"),
        ("start", "start-sky GAN (package format 2)"),
        ("step", "recurrent next-frame model (package format 2)"),
    ):
        p = models.add_parser(model, help=f"train the {text}", description=__doc__.splitlines()[0])
        p.add_argument("--data", required=True, help="dataset folder (skyviewer dataset build / import)")
        p.add_argument("--preset", choices=PRESET_NAMES, default="cpu", help="named config (default: cpu)")
        p.add_argument("--out", default="runs", help="parent of the numbered run folders (default: runs)")
        p.add_argument("--resume", metavar="PATH", help="training-state file or run folder; its config wins")
        p.add_argument("--device", help="torch device (default: cuda:LOCAL_RANK if available, else cpu)")
        p.add_argument(
            "--set",
            metavar="KEY=VALUE",
            action="append",
            default=[],
            help="override a config field, e.g. schedule.total_steps=500 (repeatable)",
        )
        p.set_defaults(run=run)


RESUME_OVERRIDABLE = ("schedule.", "optim.held_parameters=")
"""What --set may change in a resumed run: how long it trains, and which parameters it holds
(fine-tuning a trained model with some of its parameters fixed); the rest comes from the state."""


def apply_overrides(cfg, assignments: list[str]):
    """Return cfg with dotted KEY=VALUE overrides applied, each value parsed as its field's type."""
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep:
            raise UserError(f"--set {item!r}: expected KEY=VALUE")
        *parents, name = key.split(".")
        node = cfg
        try:
            for part in parents:
                node = getattr(node, part)
            current = getattr(node, name)
        except AttributeError:
            raise UserError(f"--set {item!r}: no config field {key!r}") from None
        if dataclasses.is_dataclass(current):
            raise UserError(f"--set {item!r}: {key!r} is a group; set one of its fields")
        setattr(node, name, _parse(text, type(current), item))
    return cfg


def _parse(text: str, kind: type, item: str):
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise UserError(f"--set {item!r}: expected true or false")
        return text.lower() in ("true", "1")
    try:
        return kind(text)
    except ValueError:
        raise UserError(f"--set {item!r}: expected a {kind.__name__}") from None


def run(args: argparse.Namespace) -> int:
    from skyviewer.train.config import preset
    from skyviewer.train.loop import train

    cfg = None
    if args.resume is None:
        cfg = apply_overrides(preset(args.model, args.preset), args.set)
    elif not all(item.startswith(RESUME_OVERRIDABLE) for item in args.set):
        raise UserError(
            "--set can only change schedule.* fields and optim.held_parameters of a resumed run, e.g."
            " schedule.total_steps to train on (the rest of its config comes from the training state)"
        )
    train(
        cfg,
        args.data,
        args.out,
        resume=args.resume,
        device=args.device,
        model=args.model,
        resume_overrides=args.set if args.resume else (),
    )
    return 0
