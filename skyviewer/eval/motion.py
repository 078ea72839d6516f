"""How clouds move: per zenith-angle band apparent speed, cloud size, temporal correlation, change,
and the drift of the zenith region against the wind.

Clouds are layers at altitude seen in perspective: towards the horizon they move slower across the
image and look thinner radially. A model that slides one pattern across the fisheye gets neither.
Everything here takes sequences of (T, N, N, 3) linear-radiance fisheye frames (a model's or the
data's, any N), brings them to one analysis resolution n (frames.to_resolution) and measures in
the fisheye's own metric: radial = zenith angle, tangential = zenith angle x azimuth (both degrees,
as the canonical image lays them out), so figures compare across resolutions.

The cloud signal is the encoded luma less the sky's smooth, static part (cloud_signal): the clear
sky's brightening towards the horizon and the sun's glow are not cloud. Figures, per band of BANDS_DEG:
  speed            |displacement| per step of the band's regions (the 0-30 deg disc; azimuth sectors
                   outside it), each a translation from frame k to k + lag found by coarse-to-fine
                   Lucas-Kanade and averaged over the sequence's frame pairs before its length is
                   taken (so noise does not add speed); also its radial and tangential parts and
                   the ratio to the 0-30 deg band's speed;
  size             autocorrelation length (where it falls to 1/e) of the signal along the radial and
                   the tangential direction;
  correlation      Pearson correlation of the signal between frames k and k + lag, lags 1-8;
  change           mean |e(k + lag) - e(k)| of the encoded frames (all channels), lags 1 and 10.
Drift: the zenith region reprojected to a straight-up gnomonic image, where a layer at altitude h
moving at v m/s shifts uniformly by v dt / h focal lengths; phase correlation gives the shift and
so the wind (east, north) in m/s for the layer altitude the caller names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from skyviewer.eval.frames import encode, luma, to_resolution
from skyviewer.eval.swd import blur
from skyviewer.sky.projection import direction_to_fisheye_uv
from skyviewer.sky.reproject import bilinear

BANDS_DEG = ((0.0, 30.0), (30.0, 50.0), (50.0, 65.0), (65.0, 80.0), (80.0, 90.0))
CORRELATION_LAGS = tuple(range(1, 9))
CHANGE_LAGS = (1, 10)
ONE_OVER_E = math.exp(-1.0)
BACKGROUND_DEGREE = 3
"""The sky's smooth part is fitted per frame by polynomials of the fisheye's x, y up to this degree."""
WHITENING_FLOOR = 0.1
"""Phase correlation divides the cross spectrum by its magnitude plus this fraction of the mean
magnitude: fully whitened, frequencies the clouds barely have gave a small static residue the peak."""


@dataclass(frozen=True)
class MotionSettings:
    """How motion is measured."""

    max_resolution: int = 128
    """Frames finer than this are area-averaged to it (the motions measured are many pixels)."""
    sectors: int = 8
    """Azimuth sectors per band outside the 0-30 deg disc (each gets its own translation)."""
    speed_lag: int = 1
    """Frames apart for the speed (the displacement is divided by it)."""
    flow_levels: int = 3
    """Coarse-to-fine levels of the flow (each halves the resolution): displacements up to ~2^levels px."""
    flow_iterations: int = 5
    """Lucas-Kanade iterations per level."""
    drift_half_fov_deg: float = 45.0
    """Half field of view of the straight-up gnomonic image the drift is measured in."""
    drift_max_lag: int = 4
    """Drift shifts are fitted over lags 1..this (longer lags: more shift per unit of noise)."""


def band_names() -> list[str]:
    return [f"{lo:g}-{hi:g}" for lo, hi in BANDS_DEG]


# ---------------------------------------------------------------- geometry and signal


@dataclass(frozen=True)
class Geometry:
    """Per-pixel geometry of an n x n fisheye: x to the right (west), y down (south), in pixels
    from the centre; bands and flow regions."""

    n: int
    inside: np.ndarray
    """(n, n) pixel centre on or inside the horizon circle."""
    band: np.ndarray
    """(n, n) index into BANDS_DEG, -1 outside the horizon."""
    region: np.ndarray
    """(n, n) flow region: 0 for the 0-30 deg disc, then 1 + (band - 1) * sectors + sector; -1 outside."""
    radial: np.ndarray
    """(regions, 2) unit radial (x, y) at each region's centre (region 0: x)."""
    region_band: np.ndarray
    """(regions,) band of each region."""
    edge_source: np.ndarray
    """Flat index, for each pixel outside the horizon, of the inside pixel nearest along its ray."""
    background: np.ndarray
    """(inside pixels, 10) basis of the sky's smooth part: polynomials of the image x, y up to degree 3."""

    @classmethod
    def of(cls, n: int, sectors: int) -> Geometry:
        c = np.arange(n) + 0.5 - n / 2
        x, y = np.meshgrid(c, c, indexing="xy")
        r = np.hypot(x, y)
        inside = r <= n / 2
        deg = r / (n / 2) * 90.0
        band = np.where(inside, np.searchsorted([hi for _, hi in BANDS_DEG[:-1]], deg, side="right"), -1)
        sector = np.floor((np.arctan2(y, x) + math.pi) / (2 * math.pi) * sectors).astype(int) % sectors
        region = np.where(band > 0, 1 + (band - 1) * sectors + sector, band)
        centre = (np.arange(sectors) + 0.5) / sectors * 2 * math.pi - math.pi
        rings = len(BANDS_DEG) - 1
        radial = np.concatenate(
            [[[1.0, 0.0]], np.tile(np.stack([np.cos(centre), np.sin(centre)], 1), (rings, 1))]
        )
        region_band = np.concatenate([[0], np.repeat(np.arange(1, rings + 1), sectors)])
        edge = np.clip((n / 2 - 1) / np.maximum(r, 1e-9), None, 1.0)
        cols = np.clip(np.round(n / 2 - 0.5 + x * edge), 0, n - 1).astype(int)
        rows = np.clip(np.round(n / 2 - 0.5 + y * edge), 0, n - 1).astype(int)
        edge_source = (rows * n + cols)[~inside]
        u, v = (x / (n / 2))[inside], (y / (n / 2))[inside]
        deg = BACKGROUND_DEGREE
        background = np.stack([u**i * v**j for i in range(deg + 1) for j in range(deg + 1 - i)], axis=1)
        return cls(n, inside, band, region, radial, region_band, edge_source, background)


def cloud_signal(encoded: np.ndarray, g: Geometry) -> np.ndarray:
    """(T, 3, n, n) encoded -> (T, n, n) cloud signal: luma less the sky's smooth part, a per-frame
    least-squares fit of polynomials of the image x, y up to degree 3 (the brightening towards the
    horizon and the sun's glow are not cloud; smooth everywhere, the fit takes little of the clouds,
    where a per-frame radial profile took their motion near the zenith out). Outside the horizon each
    pixel repeats the nearest pixel inside along its ray, so no static edge is left there for the
    blurs and the flow to lock on to."""
    y = luma(encoded).astype(np.float64).reshape(len(encoded), -1)
    inside = g.inside.ravel()
    coef = np.linalg.lstsq(g.background, y[:, inside].T, rcond=None)[0]  # (terms, T)
    out = np.empty_like(y)
    out[:, inside] = y[:, inside] - (g.background @ coef).T
    out[:, ~inside] = out[:, g.edge_source]
    return out.reshape(len(encoded), g.n, g.n)


def _smooth(image: np.ndarray) -> np.ndarray:
    """Binomial 5-tap blur of an (n, n) image (Gaussian-pyramid filter: no aliasing when halved)."""
    return blur(image[None, None])[0, 0]


def _sample(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of (n, n) image at pixel coordinates x (columns), y (rows)."""
    n = image.shape[0]
    return bilinear(image[..., None], (x + 0.5) / n, (y + 0.5) / n, wrap_u=False)[..., 0]


# ---------------------------------------------------------------- speed


def region_flow(
    a: np.ndarray, b: np.ndarray, geometries: list[Geometry], settings: MotionSettings
) -> np.ndarray:
    """(regions, 2) displacement (x, y) in pixels of each flow region from signal a to signal b
    (what sits at p in a sits at p + d in b): Lucas-Kanade with one translation per region,
    coarse to fine over `geometries` (finest first, each half the previous size)."""
    pyramid = [(_smooth(a), _smooth(b))]
    for _ in geometries[1:]:
        pyramid.append(tuple(_smooth(x[::2, ::2]) for x in pyramid[-1]))
    d = np.zeros((geometries[0].radial.shape[0], 2))
    for level in reversed(range(len(geometries))):
        g, (la, lb) = geometries[level], pyramid[level]
        if level < len(geometries) - 1:
            d *= 2.0
        rows, cols = np.nonzero(g.region >= 0)
        label = g.region[rows, cols]
        ay, ax = (v[rows, cols] for v in np.gradient(la))
        by_img, bx_img = np.gradient(lb)
        for _ in range(settings.flow_iterations):
            qx, qy = cols + d[label, 0], rows + d[label, 1]
            ok = np.hypot(qx + 0.5 - g.n / 2, qy + 0.5 - g.n / 2) <= g.n / 2 - 1
            gx = 0.5 * (ax + _sample(bx_img, qx, qy))
            gy = 0.5 * (ay + _sample(by_img, qx, qy))
            it = _sample(lb, qx, qy) - la[rows, cols]
            w = ok.astype(float)
            m = len(d)
            sxx, sxy, syy = (np.bincount(label, w * p, minlength=m) for p in (gx * gx, gx * gy, gy * gy))
            sxt, syt = (np.bincount(label, w * p, minlength=m) for p in (gx * it, gy * it))
            ridge = 1e-3 * (sxx + syy) + 1e-12  # textureless regions stay put
            sxx, syy = sxx + ridge, syy + ridge
            det = sxx * syy - sxy * sxy
            d[:, 0] -= (syy * sxt - sxy * syt) / det
            d[:, 1] -= (sxx * syt - sxy * sxt) / det
    return d


# ---------------------------------------------------------------- sizes


def _polar(signal: np.ndarray, n: int) -> tuple[np.ndarray, float]:
    """(T, n, n) -> (T, n/2, M) samples at zenith-angle rows (one pixel apart, centres at i + 0.5 px)
    and M azimuths ~one pixel apart at the horizon; and the azimuth step (rad)."""
    m = 2 * math.ceil(math.pi * n / 2)
    phi = np.arange(m) * (2 * math.pi / m)
    r = np.arange(n // 2) + 0.5
    x = n / 2 - 0.5 + r[:, None] * np.cos(phi)
    y = n / 2 - 0.5 + r[:, None] * np.sin(phi)
    return np.stack([_sample(s, x, y) for s in signal]), 2 * math.pi / m


def _crossing(acf: np.ndarray) -> float:
    """First lag (interpolated) where acf (acf[0] = 1) falls below 1/e; NaN if it never does."""
    below = np.flatnonzero(acf < ONE_OVER_E)
    if not len(below) or below[0] == 0:
        return math.nan
    k = below[0]
    return float(k - 1 + (acf[k - 1] - ONE_OVER_E) / (acf[k - 1] - acf[k]))


@dataclass
class SizeSums:
    """Autocorrelation sums pooled over frames and sequences."""

    tangential: np.ndarray
    """(rows, M) summed power spectra of each zenith-angle row along azimuth."""
    radial: np.ndarray
    """(bands, lags, 3) sums of s_i s_j, s_i^2, s_j^2 over radial pairs (i, j = i + lag)."""
    step_rad: float

    @classmethod
    def of(cls, polar: np.ndarray, step_rad: float) -> SizeSums:
        rows = polar.shape[1]
        tangential = (np.abs(np.fft.rfft(polar, axis=2)) ** 2).sum(axis=0)
        radial = np.zeros((len(BANDS_DEG), rows, 3))
        centre_deg = (np.arange(rows) + 0.5) * 90.0 / rows
        for lag in range(1, rows):
            a, b = polar[:, :-lag], polar[:, lag:]
            mid = np.searchsorted(
                [hi for _, hi in BANDS_DEG[:-1]], centre_deg[:-lag] + lag * 45.0 / rows, "right"
            )
            for i, p in enumerate((a * b, a * a, b * b)):
                radial[:, lag, i] = np.bincount(mid, p.sum(axis=(0, 2)), minlength=len(BANDS_DEG))
        return cls(tangential, radial, step_rad)

    def __add__(self, other: SizeSums) -> SizeSums:
        return SizeSums(self.tangential + other.tangential, self.radial + other.radial, self.step_rad)

    def lengths_deg(self) -> tuple[list[float], list[float]]:
        """Per band: radial and tangential autocorrelation length (degrees of the fisheye metric)."""
        rows = self.tangential.shape[0]
        pixel_deg = 90.0 / rows
        centre_deg = (np.arange(rows) + 0.5) * pixel_deg
        acf = np.fft.irfft(self.tangential, axis=1)
        power = acf[:, 0]
        per_row = np.array([_crossing(a / max(a[0], 1e-30)) for a in acf]) * self.step_rad * centre_deg
        band = np.searchsorted([hi for _, hi in BANDS_DEG[:-1]], centre_deg, "right")
        tangential, radial = [], []
        for i in range(len(BANDS_DEG)):
            ok = (band == i) & np.isfinite(per_row)
            tangential.append(float(np.average(per_row[ok], weights=power[ok])) if ok.any() else math.nan)
            ab, aa, bb = self.radial[i].T
            pairs = np.concatenate([[True], aa[1:] > 0])
            last = int(np.argmin(pairs)) if not pairs.all() else len(pairs)  # lags with pairs in the band
            corr = np.concatenate([[1.0], ab[1:last] / np.sqrt(np.maximum(aa[1:last] * bb[1:last], 1e-30))])
            radial.append(_crossing(corr) * pixel_deg)
        return radial, tangential


# ---------------------------------------------------------------- all band figures


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise correlation of (K, P) arrays."""
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.sqrt(np.maximum((a * a).sum(axis=1) * (b * b).sum(axis=1), 1e-30))


def analysis_resolution(sizes, settings: MotionSettings = MotionSettings()) -> int:
    """The resolution both sides are measured at: the coarsest given, at most max_resolution."""
    return int(min(min(sizes), settings.max_resolution))


def motion_figures(sequences, n: int, settings: MotionSettings = MotionSettings()) -> dict:
    """Band figures of sequences [(T, N, N, 3) linear radiance, consecutive frames equally spaced],
    measured at resolution n (analysis_resolution). Lags longer than a sequence are skipped; a figure
    no sequence is long enough for is NaN."""
    g = Geometry.of(n, settings.sectors)
    levels = [Geometry.of(n >> k, settings.sectors) for k in range(settings.flow_levels) if (n >> k) >= 16]
    bands = len(BANDS_DEG)
    speeds: list[np.ndarray] = []  # (regions, 2) per sequence
    corr = {lag: [] for lag in CORRELATION_LAGS}
    change = {lag: [] for lag in CHANGE_LAGS}
    sizes = None
    for seq in sequences:
        e = encode(to_resolution(seq, n))
        s = cloud_signal(e, g)
        lag = settings.speed_lag
        if len(s) > lag:  # one motion per sequence: the mean over its frame pairs (noise averages out)
            flows = [region_flow(s[k], s[k + lag], levels, settings) for k in range(len(s) - lag)]
            speeds.append(np.mean(flows, axis=0) / lag)
        for lag in CORRELATION_LAGS:
            if len(s) > lag:
                corr[lag].append(
                    np.stack([_pearson(s[:-lag, g.band == b], s[lag:, g.band == b]) for b in range(bands)], 1)
                )
        for lag in CHANGE_LAGS:
            if len(e) > lag:
                diff = np.abs(e[lag:] - e[:-lag]).mean(axis=1)  # (K, n, n)
                per_band = [diff[:, g.band == b].mean(axis=1) for b in range(bands)]
                change[lag].append(np.stack([*per_band, diff[:, g.inside].mean(axis=1)], 1))
        polar = SizeSums.of(*_polar(s, n))
        sizes = polar if sizes is None else sizes + polar
    return _summarise(g, speeds, corr, change, sizes)


def _summarise(g: Geometry, speeds, corr, change, sizes) -> dict:
    bands = len(BANDS_DEG)
    deg = 180.0 / g.n  # degrees per pixel
    out: dict = {"bands": band_names(), "resolution": g.n, "sequences": len(speeds)}
    if speeds:
        d = np.stack(speeds)  # (K, regions, 2)
        tangent = np.stack([-g.radial[:, 1], g.radial[:, 0]], 1)
        magnitude = np.hypot(d[..., 0], d[..., 1]).mean(axis=0) * deg
        radial = np.abs((d * g.radial).sum(-1)).mean(axis=0) * deg
        tangential = np.abs((d * tangent).sum(-1)).mean(axis=0) * deg
        per_band = lambda v: [float(v[g.region_band == b].mean()) for b in range(bands)]  # noqa: E731
        speed = per_band(magnitude)
        out["speed_deg_per_step"] = speed
        out["radial_speed_deg_per_step"] = per_band(radial)
        out["tangential_speed_deg_per_step"] = per_band(tangential)
        out["relative_speed"] = [v / speed[0] if speed[0] > 0 else math.nan for v in speed]
    else:
        for key in (
            "speed_deg_per_step",
            "radial_speed_deg_per_step",
            "tangential_speed_deg_per_step",
            "relative_speed",
        ):
            out[key] = [math.nan] * bands
    radial_size, tangential_size = sizes.lengths_deg() if sizes is not None else ([math.nan] * bands,) * 2
    out["radial_size_deg"], out["tangential_size_deg"] = radial_size, tangential_size
    out["correlation"] = {
        str(lag): (np.concatenate(v).mean(axis=0).tolist() if v else [math.nan] * bands)
        for lag, v in corr.items()
    }
    out["change"] = {
        str(lag): (np.concatenate(v).mean(axis=0).tolist() if v else [math.nan] * (bands + 1))
        for lag, v in change.items()
    }
    return out


def ratios(model: dict, data: dict) -> dict:
    """Model figure / data figure, per band (change: per band, then the global value last)."""

    def div(a, b):
        return [x / y if math.isfinite(y) and y != 0 else math.nan for x, y in zip(a, b, strict=True)]

    keys = ("relative_speed", "radial_size_deg", "tangential_size_deg")
    out = {k: div(model[k], data[k]) for k in keys}
    out["correlation"] = {
        lag: div(model["correlation"][lag], data["correlation"][lag]) for lag in model["correlation"]
    }
    out["change"] = {lag: div(model["change"][lag], data["change"][lag]) for lag in model["change"]}
    return out


# ---------------------------------------------------------------- drift against the wind


def _gnomonic(n: int, half_fov_deg: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Fisheye (u, v) of an m x m straight-up gnomonic image (columns east, rows from north to
    south) with about the fisheye's pixel size at the zenith, and its pixel size (focal lengths)."""
    half = math.tan(math.radians(half_fov_deg))
    m = 2 * max(8, round(half * n / math.pi))  # fisheye: pi / n rad per pixel at the zenith
    c = ((np.arange(m) + 0.5) / m * 2 - 1) * half
    east, north = np.meshgrid(c, -c, indexing="xy")
    d = np.stack([east, np.ones_like(east), -north], -1)
    u, v, _ = direction_to_fisheye_uv(d / np.linalg.norm(d, axis=-1, keepdims=True))
    return u, v, 2 * half / m


def phase_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(rows, cols) shift s with b(p) ~ a(p - s): phase correlation (whitening floored, WHITENING_FLOOR)
    of the Hann-windowed, mean-removed images, the peak refined by a parabola along each axis."""
    h, w = a.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    fa, fb = (np.fft.fft2((x - x.mean()) * window) for x in (a, b))
    cross = fb * np.conj(fa)
    magnitude = np.abs(cross)
    c = np.fft.ifft2(cross / (magnitude + WHITENING_FLOOR * magnitude.mean() + 1e-30)).real
    peak = np.unravel_index(int(np.argmax(c)), c.shape)
    shift = []
    for axis, size in enumerate((h, w)):
        idx = list(peak)
        around = []
        for k in (-1, 0, 1):
            idx[axis] = (peak[axis] + k) % size
            around.append(c[tuple(idx)])
        lo, mid, hi = around
        denom = lo - 2 * mid + hi
        frac = 0.5 * (lo - hi) / denom if denom < 0 else 0.0
        s = peak[axis] + float(np.clip(frac, -0.5, 0.5))
        shift.append(s - size if s > size / 2 else s)
    return np.array(shift)


def drift_velocity(
    frames: np.ndarray, step_seconds: float, altitude_m: float, settings: MotionSettings = MotionSettings()
) -> np.ndarray:
    """Wind (east, north) m/s of a cloud layer at altitude_m measured from (T, N, N, 3) frames
    `step_seconds` apart: the median gnomonic shift over frame pairs at lag 1, refined by a fit
    through the origin over longer lags (up to drift_max_lag) whose shift stays within a quarter of
    the image and agrees with lag 1's (a shift too long for the window reads as a wrong, often short,
    one). NaN if T < 2."""
    if len(frames) < 2:
        return np.full(2, math.nan)
    n = min(frames.shape[1], 2 * settings.max_resolution)
    u, v, pixel = _gnomonic(n, settings.drift_half_fov_deg)
    signal = cloud_signal(encode(to_resolution(frames, n)), Geometry.of(n, settings.sectors))
    images = np.stack([_sample(y, u * n - 0.5, v * n - 0.5) for y in signal])
    m = images.shape[1]

    def shift(lag: int) -> np.ndarray:
        return np.median([phase_shift(images[k], images[k + lag]) for k in range(len(images) - lag)], axis=0)

    first = shift(1)
    num, den = first.copy(), 1.0
    for lag in range(2, min(settings.drift_max_lag, len(images) - 1) + 1):
        expected = lag * first
        if np.hypot(*expected) >= m / 4:
            break
        s = shift(lag)
        if np.hypot(*(s - expected)) <= 1.0 + 0.25 * np.hypot(*expected):
            num, den = num + lag * s, den + lag * lag
    rows, cols = num / den
    return np.array([cols, -rows]) * pixel * altitude_m / step_seconds


def wind_error(measured: np.ndarray, requested: np.ndarray) -> dict:
    """Direction error (deg) and speed ratio of a measured drift against the requested wind (east,
    north) m/s; NaN where either is unknown or the requested wind is calm (< 0.5 m/s: no direction)."""
    speed = float(np.hypot(*requested)) if np.all(np.isfinite(requested)) else math.nan
    if not math.isfinite(speed) or speed < 0.5 or not np.all(np.isfinite(measured)):
        return {"direction_error_deg": math.nan, "speed_ratio": math.nan}
    cos = float(np.dot(measured, requested) / max(np.hypot(*measured) * speed, 1e-12))
    return {
        "direction_error_deg": math.degrees(math.acos(np.clip(cos, -1.0, 1.0))),
        "speed_ratio": float(np.hypot(*measured)) / speed,
    }
