"""The `skyviewer` command: one subcommand per stage.

Each stage module listed in COMMAND_MODULES has `register(subparsers)`, which adds its
subcommands with `set_defaults(run=handler)`; `handler(args) -> int` is the exit code.
Command modules import their heavy dependencies (torch, moderngl, av) inside the
handlers, so `skyviewer --help` and the viewer never pay for (or need) torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from skyviewer.errors import UserError

COMMAND_MODULES = (
    "skyviewer.data.commands",
    "skyviewer.train.commands",
    "skyviewer.bench",
    "skyviewer.export.engine_shaders",
    "skyviewer.export.commands",
    "skyviewer.runtime.commands",
    "skyviewer.eval.commands",
    "skyviewer.app.commands",
    "skyviewer.record.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skyviewer", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except UserError as e:
        print(f"skyviewer {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"skyviewer {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
