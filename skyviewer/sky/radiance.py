"""Radiance units, the network encoding, and the sun strategy.

Units: linear RGB with Rec.709/sRGB primaries, scaled so that luminance
Y = 0.2126 R + 0.7152 G + 0.0722 B is in cd/m^2 (nits). A clear noon sky is
~5,000-10,000, bright cloud tops ~20,000, a moonless night ~1e-3.
Stored as float16 (max 65504): everything but the solar disc fits.

Network encoding (the same constants go into every manifest, see ENCODING):

    e = 2 * (log2(x + eps) - log2(eps)) / (log2(x_max + eps) - log2(eps)) - 1

maps [0, x_max] onto [-1, 1] over log2(x_max / eps) ~= 29.3 stops, with the exact
inverse  x = 2 ** ((e + 1) / 2 * (log2(x_max + eps) - log2(eps)) + log2(eps)) - eps.

Sun strategy ("clamped_disc_plus_analytic"): sky images keep the circumsolar glow
and a sun disc clamped to x_max (so the network still sees where the sun is); the
true disc (angular radius, radiance, limb darkening) is drawn analytically by the
renderer at the sun direction. SUN holds those constants.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from skyviewer.sky.xp import namespace

REC709_LUMA = (0.2126, 0.7152, 0.0722)
LN2 = math.log(2.0)


@dataclass(frozen=True)
class LogEncoding:
    """Log radiance encoding onto [-1, 1]; the fields are written into the package manifest."""

    eps: float = 1e-4
    """Radiance (nits) that maps to -1; also the offset that makes log finite at 0."""
    x_max: float = 65504.0
    """Radiance (nits) that maps to +1: float16's largest value; brighter is clamped."""

    @property
    def stops(self) -> float:
        """Dynamic range covered, in stops: log2(x_max + eps) - log2(eps), the encoding's denominator."""
        return math.log2(self.x_max + self.eps) - math.log2(self.eps)

    def encode(self, x):
        """Linear radiance (any shape, numpy or torch) -> encoded values in [-1, 1]."""
        xp = namespace(x)
        lo = math.log2(self.eps)
        x = xp.clip(x, 0.0, self.x_max)
        return 2.0 * (xp.log2(x + self.eps) - lo) / self.stops - 1.0

    def natural_exponent(self) -> tuple[float, float]:
        """(a, b) with x + eps = exp(a e + b): the inverse as a natural exponent, because numpy
        vectorises exp and not exp2 (12x apart on a 1,024 px frame) and ONNX has no Exp2."""
        half = 0.5 * self.stops
        return half * LN2, (half + math.log2(self.eps)) * LN2

    def decode(self, e):
        """Encoded values -> linear radiance; exact inverse of encode on [0, x_max]."""
        xp = namespace(e)
        a, b = self.natural_exponent()
        return xp.clip(xp.exp(xp.clip(e, -1.0, 1.0) * a + b) - self.eps, 0.0, None)

    def to_manifest(self) -> dict:
        """The encoding as a manifest entry another engine can implement from."""
        return {
            "name": "log2",
            "formula": "e = 2*(log2(x+eps)-log2(eps))/(log2(x_max+eps)-log2(eps)) - 1",
            "inverse": "x = 2^((e+1)/2*(log2(x_max+eps)-log2(eps)) + log2(eps)) - eps",
            "units": "linear Rec.709 RGB, luminance in cd/m^2",
            "range": [-1.0, 1.0],
            **asdict(self),
        }


ENCODING = LogEncoding()


@dataclass(frozen=True)
class SunDisc:
    """The analytic solar disc the renderer draws (constants for the manifest)."""

    angular_radius_deg: float = 0.2666
    """Half of the sun's mean apparent diameter (0.533 deg)."""
    luminance_nits: float = 1.6e9
    """Mean disc luminance at zenith through a clear atmosphere."""
    limb_darkening_u: float = 0.6
    """Linear limb-darkening coefficient: I(mu) = I0 * (1 - u * (1 - mu))."""

    def to_manifest(self) -> dict:
        return {"strategy": "clamped_disc_plus_analytic", **asdict(self)}


SUN = SunDisc()


def luminance(rgb):
    """Rec.709 luminance (...,) of linear RGB (..., 3), numpy or torch."""
    return rgb[..., 0] * REC709_LUMA[0] + rgb[..., 1] * REC709_LUMA[1] + rgb[..., 2] * REC709_LUMA[2]


def to_storage(rgb: np.ndarray) -> np.ndarray:
    """Clamp to [0, x_max] and convert to float16, the stored dtype."""
    return np.clip(rgb, 0.0, ENCODING.x_max).astype(np.float16)
