"""Tileable noise textures and an evolving noise field built from them.

Textures are Gaussian random fields made by spectral synthesis (white noise filtered
in the Fourier domain with a band-limited power law), so they tile perfectly and cost
one FFT to make. Sampling is a bilinear gather on a flat, padded copy: four np.take
calls per lookup, which is what keeps the simulator fast in pure numpy.

Evolution over time uses two phases of the same texture (the flow-map trick): each
phase slides with the wind at its own random offset, and their weights sin(pi f) and
|cos(pi f)| (f = t / lifetime) have squares summing to one, so the blend keeps the
field's variance constant while its shapes are renewed; a phase jumps to a fresh
offset exactly when its weight is zero, so nothing pops.
"""

from __future__ import annotations

import math

import numpy as np


class Texture:
    """A periodic 2-D float32 texture of side `size` texels, with a stack of prefiltered
    levels (level l drops wavelengths below ~2^(l+1) texels, like a mip map at full size),
    and bilinear lookups."""

    def __init__(self, levels: np.ndarray):
        n_levels, size, _ = levels.shape
        if size & (size - 1):
            raise ValueError(f"texture size must be a power of two, got {size}")
        self.size, self.n_levels = size, n_levels
        self.level_std = levels.reshape(n_levels, -1).std(axis=1)  # (L,) falls as levels blur
        padded = np.pad(levels, ((0, 0), (0, 1), (0, 1)), mode="wrap")  # (L, S+1, S+1): no wrap on i+1
        self.flat = np.ascontiguousarray(padded, dtype=np.float32).ravel()

    def level(self, footprint_texels: np.ndarray) -> np.ndarray:
        """Index (int32) of the level that prefilters a pixel footprint of this many texels."""
        return np.clip(np.ceil(np.log2(np.maximum(footprint_texels, 1e-6))), 0, self.n_levels - 1).astype(
            np.int32
        )

    def sample(
        self, u: np.ndarray, v: np.ndarray, level_offset: np.ndarray | int = 0, gradient: bool = False
    ):
        """Bilinear values at texel coordinates u (columns), v (rows), any real values (wraps).

        gradient=True also returns d/du and d/dv of the bilinear surface (from the same four
        gathers): what an edge needs to know how far the field moves across a pixel.
        """
        s = self.size
        u0 = np.floor(u)
        v0 = np.floor(v)
        fu = u - u0
        fv = v - v0
        # Wrap with a bit mask on the integer part (size is a power of two): np.mod on float32
        # arrays is ~50x slower than floor + astype + and.
        idx = v0.astype(np.int32)
        idx &= s - 1
        idx *= s + 1
        iu = u0.astype(np.int32)
        iu &= s - 1
        idx += iu
        idx += level_offset
        a = np.take(self.flat, idx)
        b = np.take(self.flat, idx + 1)
        top = a + (b - a) * fu
        idx += s + 1
        c = np.take(self.flat, idx)
        d = np.take(self.flat, idx + 1)
        bottom = c + (d - c) * fu
        value = top + (bottom - top) * fv
        if not gradient:
            return value
        du = (b - a) + ((d - c) - (b - a)) * fv
        return value, du, bottom - top


def spectral_texture(
    rng: np.random.Generator,
    size: int,
    wavelengths_texels: tuple[float, float],
    slope: float = 1.8,
    stretch: float = 1.0,
    n_levels: int = 1,
) -> Texture:
    """Tileable Gaussian noise (zero mean, unit std) with power ~ k^-slope between two wavelengths.

    stretch > 1 elongates features along the u (column) axis: fibrous cirrus. Each further
    level halves the shortest wavelength kept (n_levels = log2(size) + 1 reaches the mean); a
    level is not renormalised: its smaller std is what a pixel's average keeps.
    """
    white = rng.standard_normal((size, size))
    ky = np.fft.fftfreq(size)[:, None]
    kx = np.fft.rfftfreq(size)[None, :]
    k = np.sqrt((kx * stretch) ** 2 + (ky / stretch) ** 2) * size  # cycles per tile, stretched metric
    k_texel = np.sqrt(kx**2 + ky**2) * size  # cycles per tile in texel space: what a pixel footprint sees
    k_lo, k_hi = size / wavelengths_texels[0], size / wavelengths_texels[1]
    # Smooth band edges (no ringing): power law inside [k_lo, k_hi], Gaussian roll-off outside. The
    # band lives in the stretched metric, so across a stretched texture it would reach the Nyquist
    # limit: a guard in texel space rolls off wavelengths below ~4 texels, which bilinear lookups
    # cannot reconstruct (they alias into moire contours).
    band = np.exp(-((k_lo / np.maximum(k, 1e-6)) ** 4)) * np.exp(
        -((k / k_hi) ** 2 + (k_texel * 4.0 / size) ** 2)
    )
    amplitude = band * np.maximum(k, 1e-6) ** (-slope / 2.0)
    spectrum = np.fft.rfft2(white) * amplitude
    spectrum[0, 0] = 0.0  # zero mean
    levels = np.empty((n_levels, size, size))
    for level in range(n_levels):
        # Level l keeps wavelengths longer than ~2^(l+1) texels in texel space (a Gaussian low-pass):
        # the prefilter must follow the pixel footprint, not the stretched feature metric.
        prefilter = np.exp(-((k_texel * 2.0 ** (level + 1) / size) ** 2)) if level else 1.0
        levels[level] = np.fft.irfft2(spectrum * prefilter, s=(size, size))
    return Texture((levels / levels[0].std()).astype(np.float32))


class EvolvingField:
    """Noise over a horizontal plane (metres) that moves with the wind and renews its shapes."""

    def __init__(self, texture: Texture, period_m: float, lifetime_s: float, seed: int, stream: int):
        self.texture = texture
        self.texels_per_m = texture.size / period_m
        self.lifetime_s = lifetime_s
        self.seed, self.stream = seed, stream

    def _phase(self, t_seconds: float, phase: int) -> tuple[float, np.ndarray]:
        """Weight and texel offset (2,) of one phase at time t."""
        f = t_seconds / self.lifetime_s + 0.5 * phase
        cycle = math.floor(f)
        rng = np.random.default_rng([self.seed, self.stream, phase, cycle + (1 << 40)])
        return abs(math.sin(math.pi * (f - cycle))), rng.uniform(0.0, self.texture.size, 2)

    def level_of(self, footprint_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat texture offset (int32) of the prefiltered level for pixel footprints in metres, and the
        std of the detail that level averages away (what a threshold on it must soften by)."""
        tex = self.texture
        level = tex.level(footprint_m * self.texels_per_m)
        residual = np.sqrt(np.maximum(1.0 - tex.level_std[level] ** 2, 0.0)).astype(np.float32)
        return (level * (tex.size + 1) ** 2).astype(np.int32), residual

    def sample(
        self,
        x_m: np.ndarray,
        y_m: np.ndarray,
        t_seconds: float,
        drift_m: np.ndarray,
        level_offset=0,
        gradient: bool = False,
    ):
        """Field (zero mean, unit std) at plane points x (east), y (north) in metres.

        drift_m: (2,) how far the air has moved (east, north) by time t; the pattern
        at t is the pattern at 0 shifted by it. level_offset: from level_of().
        gradient=True also returns the field's derivatives d/dx, d/dy (per metre).
        """
        k = self.texels_per_m
        u = (x_m - np.float32(drift_m[0])) * np.float32(k)
        v = (y_m - np.float32(drift_m[1])) * np.float32(-k)  # texture rows grow southwards, like image rows
        total, du, dv = 0.0, 0.0, 0.0
        for phase in (0, 1):
            weight, offset = self._phase(t_seconds, phase)
            if weight > 1e-4:
                out = self.texture.sample(
                    u + np.float32(offset[0]), v + np.float32(offset[1]), level_offset, gradient
                )
                w = np.float32(weight)
                if not gradient:
                    total = total + w * out
                    continue
                total, du, dv = total + w * out[0], du + w * out[1], dv + w * out[2]
        if not gradient:
            return total
        return total, du * np.float32(k), dv * np.float32(-k)
