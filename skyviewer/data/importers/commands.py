"""`skyviewer dataset import`: registered here by the importers (work in progress)."""


def register(dataset_subparsers) -> None:
    """Add the `import` subcommand to `skyviewer dataset`."""
