"""Screenshots: the view as PNG, the raw HDR fisheye sky frame as OpenEXR; both written to a
temporary name and renamed, so a crash never leaves a truncated file under the final name."""

from __future__ import annotations

import os
from pathlib import Path

import moderngl
import numpy as np
from PIL import Image


def read_display(framebuffer: moderngl.Framebuffer) -> np.ndarray:
    """The display colours of a framebuffer (offscreen or the window's) as uint8 (H, W, 3),
    row 0 at the top."""
    width, height = framebuffer.size
    data = framebuffer.read(components=3, attachment=0, alignment=1)
    return np.frombuffer(data, np.uint8).reshape(height, width, 3)[::-1].copy()


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_png(path: Path, image: np.ndarray) -> Path:
    """uint8 (H, W, 3) -> PNG."""
    return _atomic(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))


def write_exr(path: Path, radiance: np.ndarray) -> Path:
    """(H, W, 3) linear radiance (nits) -> float32 RGB OpenEXR, ZIP-compressed."""
    import OpenEXR

    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    rgb = np.asarray(radiance, np.float32)
    channels = {c: np.ascontiguousarray(rgb[..., i]) for i, c in enumerate("RGB")}
    return _atomic(path, lambda tmp: OpenEXR.File(header, channels).write(str(tmp)))


def read_exr(path: Path) -> np.ndarray:
    """An RGB OpenEXR as float32 (H, W, 3) (for tests and round trips)."""
    import OpenEXR

    channels = OpenEXR.File(str(path), separate_channels=True).channels()
    return np.stack([channels[c].pixels for c in "RGB"], axis=-1).astype(np.float32)
