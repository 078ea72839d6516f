"""File decoders: every supported image file -> linear float32 radiance (H, W, 3).

LDR (PNG, JPEG, ... via Pillow) is sRGB-decoded and scaled so that sRGB white is
`scale_nits`; HDR (OpenEXR via the OpenEXR bindings, Radiance .hdr via OpenCV) is
kept linear and multiplied by `hdr_scale`. Anything a decoder cannot read, and any
radiance that is not finite and non-negative, raises report.Skip with the reason; so
does an image whose header declares more pixels than Pillow's decompression-bomb limit.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from skyviewer.data.importers.report import CHANNELS, NEGATIVE, NON_FINITE, UNREADABLE, Skip
from skyviewer.sky.tonemap import srgb_decode

LDR_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
HDR_SUFFIXES = (".exr", ".hdr")
IMAGE_SUFFIXES = LDR_SUFFIXES + HDR_SUFFIXES

# What third-party decoders raise on a corrupt or truncated file (Pillow also uses
# SyntaxError/struct.error for malformed headers). Anything else is a bug and propagates.
_DECODER_ERRORS = (OSError, ValueError, RuntimeError, EOFError, SyntaxError, struct.error)

# Negative values down to this are float round-off of a true zero, not bad data.
_NEGATIVE_TOLERANCE = -1e-6
# An EXR alpha channel is accepted only when it is this close to opaque everywhere.
_OPAQUE = 1.0 - 1e-3


def read_image(path: Path, scale_nits: float, hdr_scale: float) -> np.ndarray:
    """Linear radiance (H, W, 3) float32 in nits of an image file; raises Skip."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".exr":
            image = read_exr(path) * np.float32(hdr_scale)
        elif suffix == ".hdr":
            image = read_radiance_hdr(path) * np.float32(hdr_scale)
        else:
            image = read_ldr(path) * np.float32(scale_nits)
    except _DECODER_ERRORS as e:
        raise Skip(UNREADABLE, f"cannot decode {suffix or 'file'}: {e}") from e
    check_radiance(image)
    return image


def read_exr(path: Path) -> np.ndarray:
    """(H, W, 3) float32 of an OpenEXR file with R, G, B (and an opaque A) or a single Y channel."""
    import OpenEXR

    channels = OpenEXR.File(str(path), separate_channels=True).channels()
    pixels = {name: np.asarray(c.pixels, dtype=np.float32) for name, c in channels.items()}
    names = set(pixels)
    if names == {"Y"}:  # luminance-only capture: grey
        return np.repeat(pixels["Y"][..., None], 3, axis=-1)
    if names not in ({"R", "G", "B"}, {"R", "G", "B", "A"}):
        raise Skip(
            CHANNELS,
            f"{len(names)} channel(s) {','.join(sorted(names))}:"
            " expected R,G,B (optionally an opaque A) or Y",
        )
    if "A" in names and not np.all(pixels["A"] >= _OPAQUE):
        # EXR colour is premultiplied by alpha: a masked panorama has no radiance there.
        raise Skip(CHANNELS, f"alpha channel is not opaque (min {pixels['A'].min():.3g}): masked sky")
    return np.stack([pixels["R"], pixels["G"], pixels["B"]], axis=-1)


def read_radiance_hdr(path: Path) -> np.ndarray:
    """(H, W, 3) float32 of a Radiance RGBE (.hdr) file, read with OpenCV."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if bgr is None:  # OpenCV reports failure by returning None
        raise ValueError("OpenCV could not read it as Radiance RGBE")
    if bgr.ndim != 3 or bgr.shape[2] != 3:
        raise Skip(CHANNELS, f"shape {bgr.shape}: expected 3 channels")
    return np.ascontiguousarray(bgr[..., ::-1], dtype=np.float32)


@contextmanager
def open_pillow(path: Path) -> Iterator:
    """Image.open(path) for the with-block; raises Skip when the header declares more pixels
    than Image.MAX_IMAGE_PIXELS (~89 Mpx).

    Pillow raises past twice that limit but only warns below, and would then allocate the
    pixels: a decompression bomb, or a frame far too large to import either way, so the
    warning is raised too and both are refused before the pixels are allocated.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                yield im
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise Skip(
            UNREADABLE,
            f"cannot decode {path.suffix.lower() or 'file'}: its header declares an image too large"
            f" to decode safely, a decompression bomb? (Pillow: {e})",
        ) from e


def read_ldr(path: Path) -> np.ndarray:
    """(H, W, 3) float32 linear [0, 1] of an sRGB-encoded image read with Pillow.

    Every mode (palette, grey, grey+alpha, RGBA, CMYK) is converted to RGB first; alpha
    is dropped. 16-bit grey keeps its precision; Pillow reads 16-bit-per-channel RGB
    PNGs as 8 bits per channel.
    """
    with open_pillow(path) as im:
        im.load()  # decode now, so truncation is caught here
        if im.mode.startswith("I;16"):
            grey = np.asarray(im, dtype=np.float32) / 65535.0
            encoded = np.repeat(grey[..., None], 3, axis=-1)
        else:
            encoded = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return srgb_decode(encoded).astype(np.float32)


def check_radiance(image: np.ndarray) -> None:
    """Raise Skip unless image is (H, W, 3) of finite, non-negative radiance."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise Skip(CHANNELS, f"shape {image.shape}: expected (H, W, 3)")
    if not np.isfinite(image).all():
        nan, inf = np.isnan(image).any(axis=-1).sum(), np.isinf(image).any(axis=-1).sum()
        raise Skip(NON_FINITE, f"{nan} pixel(s) with NaN and {inf} with Inf radiance")
    low = image.min()
    if low < _NEGATIVE_TOLERANCE:
        n = (image < _NEGATIVE_TOLERANCE).any(axis=-1).sum()
        raise Skip(NEGATIVE, f"{n} pixel(s) with negative radiance, min {low:.4g}")
