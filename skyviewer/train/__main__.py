"""`python -m skyviewer.train start|step ...`: the train command alone, as torchrun's entry point."""

import argparse
import sys

from skyviewer.errors import UserError
from skyviewer.train.commands import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyviewer.train")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.run(args)
    except UserError as e:
        print(f"skyviewer train: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
