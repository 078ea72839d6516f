"""Image files the renderer's hosts write (viewer screenshots, recorder sequences): PNG of the
display, OpenEXR of linear radiance. Each is written to a temporary name and renamed, so a crash
never leaves a truncated file under the final name."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_png(path: Path, image: np.ndarray, compress_level: int = 6) -> Path:
    """uint8 (H, W, 3) -> PNG (compress_level 0-9: lower is faster, for long sequences)."""
    return _atomic(
        path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG", compress_level=compress_level)
    )


def write_json(path: Path, data: dict) -> Path:
    """A JSON file (indented), written atomically."""
    import json

    return _atomic(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8"))


def write_exr(path: Path, radiance: np.ndarray) -> Path:
    """(H, W, 3) linear radiance (nits) -> float32 RGB OpenEXR, ZIP-compressed (float16 would
    overflow on the sun's 1.6e9 nits)."""
    import OpenEXR

    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    rgb = np.asarray(radiance, np.float32)
    channels = {c: np.ascontiguousarray(rgb[..., i]) for i, c in enumerate("RGB")}
    return _atomic(path, lambda tmp: OpenEXR.File(header, channels).write(str(tmp)))


def read_exr(path: Path) -> np.ndarray:
    """An RGB OpenEXR written by write_exr as float32 (H, W, 3) (round trips and tests; untrusted
    captures go through the importers' validating reader)."""
    import OpenEXR

    channels = OpenEXR.File(str(path), separate_channels=True).channels()
    return np.stack([channels[c].pixels for c in "RGB"], axis=-1).astype(np.float32)
