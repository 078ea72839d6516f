"""The sky-package runtime: load, validate and play packages with ONNX Runtime (no torch).

    from skyviewer.runtime import SkyModel, load_package, SunClock

Submodules: package (the one loader and validator), model (SkyModel), providers
(execution-provider choice), sun (SunClock), timeline (SkyTimeline), weather (Weather), doctor,
commands (validate / list / doctor).
Names are imported on first use, so `import skyviewer.runtime` stays cheap for the CLI.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SkyModel": "skyviewer.runtime.model",
    "SkyPackage": "skyviewer.runtime.package",
    "PackageError": "skyviewer.runtime.package",
    "load_package": "skyviewer.runtime.package",
    "SunClock": "skyviewer.runtime.sun",
    "Weather": "skyviewer.runtime.weather",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
