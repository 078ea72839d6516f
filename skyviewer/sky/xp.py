"""Pick numpy or torch for an array, so one convention function serves both.

The runtime side never imports torch: torch is only imported here when the caller
already handed us a torch tensor (which means torch is installed and loaded).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def namespace(*arrays: Any) -> Any:
    """Return `torch` if any argument is a torch tensor, else `numpy`.

    numpy and torch share the names used by the convention code
    (sqrt, sin, cos, arctan2, arccos, clip, stack, where, ...).
    """
    torch = sys.modules.get("torch")
    if torch is not None and any(isinstance(a, torch.Tensor) for a in arrays):
        return torch
    return np


def stack_last(xp: Any, parts: list) -> Any:
    """Stack along a new last axis (numpy `axis=`, torch `dim=` both accept positional)."""
    return xp.stack(parts, -1)
