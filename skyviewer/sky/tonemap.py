"""Reference tone mapping: exposure -> ACES filmic curve -> sRGB. The viewer's shader
(skyviewer/shaders/tonemap.glsl) implements the same steps; tests compare the two.

Exposure follows camera practice: `exposure_stops` (EV) scales radiance by 2**stops
on top of a key that maps `key_nits` to middle grey (0.18). Auto-exposure picks the
key from the log-average luminance of the frame (`auto_key_nits`).

The curve is Stephen Hill's fit of the ACES RRT + ODT (sRGB), the one most realtime
engines ship: input matrix to the RRT-ODT working space, a rational fit, output matrix.
"""

from __future__ import annotations

import numpy as np

from skyviewer.sky.radiance import luminance

MIDDLE_GREY = 0.18
# A sky fills the frame and is the bright part of any scene; photographers meter it
# +1 to +2 EV over middle grey, and an unbiased log-average turns clear skies navy.
SKY_EXPOSURE_BIAS_STOPS = 1.5

# sRGB (linear) -> ACES fit working space, and back (Hill's matrices, row-major).
ACES_INPUT = np.array([[0.59719, 0.35458, 0.04823], [0.07600, 0.90834, 0.01566], [0.02840, 0.13383, 0.83777]])
ACES_OUTPUT = np.array(
    [[1.60475, -0.53108, -0.07367], [-0.10208, 1.10813, -0.00605], [-0.00327, -0.07276, 1.07602]]
)


def _rrt_odt_fit(v: np.ndarray) -> np.ndarray:
    a = v * (v + 0.0245786) - 0.000090537
    b = v * (0.983729 * v + 0.4329510) + 0.238081
    return a / b


def aces_filmic(x: np.ndarray) -> np.ndarray:
    """ACES fitted curve on exposed linear RGB (..., 3) -> display-linear RGB in [0, 1]."""
    v = x @ ACES_INPUT.T
    v = _rrt_odt_fit(v)
    return np.clip(v @ ACES_OUTPUT.T, 0.0, 1.0)


def srgb_encode(x: np.ndarray) -> np.ndarray:
    """Linear [0, 1] -> sRGB-encoded [0, 1] (IEC 61966-2-1 piecewise curve)."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def srgb_decode(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded [0, 1] -> linear [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4))


def auto_key_nits(rgb: np.ndarray, mask: np.ndarray | None = None, floor: float = 1e-4) -> float:
    """Log-average (geometric mean) luminance of the pixels in mask: the auto-exposure key."""
    y = luminance(np.asarray(rgb, dtype=np.float64))
    if mask is not None:
        y = y[mask]
    return float(np.exp(np.mean(np.log(np.maximum(y, floor)))))


def tonemap(
    rgb: np.ndarray,
    key_nits: float,
    exposure_stops: float = 0.0,
) -> np.ndarray:
    """Linear HDR radiance (..., 3) -> sRGB-encoded display values in [0, 1].

    key_nits: luminance that lands on middle grey (0.18) at exposure_stops = 0.
    """
    scale = MIDDLE_GREY / max(key_nits, 1e-12) * 2.0**exposure_stops
    return srgb_encode(aces_filmic(np.asarray(rgb, dtype=np.float64) * scale))


def to_uint8(display: np.ndarray) -> np.ndarray:
    """Display values in [0, 1] -> uint8 with round-to-nearest."""
    return np.clip(np.rint(display * 255.0), 0, 255).astype(np.uint8)


def preview(
    rgb: np.ndarray, exposure_stops: float = SKY_EXPOSURE_BIAS_STOPS, mask: np.ndarray | None = None
) -> np.ndarray:
    """Auto-exposed, tone-mapped uint8 image of linear HDR radiance (H, W, 3): for PNG/GIF previews.

    The log-average luminance lands `exposure_stops` above middle grey; the default bias is
    the one the viewer's auto-exposure uses.
    """
    return to_uint8(tonemap(rgb, auto_key_nits(rgb, mask), exposure_stops))
