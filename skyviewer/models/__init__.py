"""Sky packages shipped inside the Python package (package data), so any install can play one.

default/ is the sky `skyviewer view` and `record` open when given none. To ship another default,
replace the files in default/ (a complete package, docs/package.md); nothing else names them.
"""

from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent
"""The folder holding the bundled packages (one folder per package)."""
DEFAULT_PACKAGE = "default"
"""The package `view` and `record` open when given none: BUNDLED_DIR/default unless a folder
searched before it (./models, the per-user folder) holds a package of that name."""
