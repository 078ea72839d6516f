"""What a user sees: perspective views of fisheye frames, compared with views of sharp reference skies.

A sky is shown through a pinhole camera (skyviewer.render.camera.Camera, 60 deg vertical field of
view, 640 x 360 by default) at several pitches (most near the horizon, where a game camera looks)
and yaws. Each view pixel samples the fisheye bilinearly in linear radiance at its ray's
direction, as the dome's GL_LINEAR texture fetch does, with the sample point kept inside the
horizon circle as the dome keeps it (inner_radius), and is then encoded. Rays below the horizon are
not sky: they are -1 and left out of every figure.

Figures, model against reference (docs/eval.md):
  * view SWD: Laplacian-pyramid SWD (swd.py) of the model's views against the reference views, over
    the floor: other reference views (the same skies drawn again, other clouds and turbidity, or
    the other held-out half) against them, with as many views.
  * sharpness: mean gradient magnitude (per pixel) and high-frequency energy (mean square of the
    finest Laplacian band) of the views' luma, each as a ratio to the reference views'.
  * horizon: the views' mean luma in thin elevation bands above the horizon, model minus reference,
    in stops. The haze band there is a thin ring of the fisheye that the SWD hardly weighs, and the
    part of the sky a game camera shows most.
The reference is SkySim rendering the views' own rays where the dataset records how its skies were
made (exact: no fisheye, no resampling), else the dataset's own frames (display.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from skyviewer.eval.frames import luma
from skyviewer.eval.swd import SWDSettings, laplacian_pyramid, ratio_entry, swd
from skyviewer.render.camera import Camera
from skyviewer.sky.projection import direction_to_fisheye_uv
from skyviewer.sky.radiance import ENCODING

BELOW_HORIZON = -1.0
HORIZON_BANDS_DEG = ((0.0, 1.0), (1.0, 3.0), (3.0, 6.0))
"""Elevation bands (deg) of the horizon figure."""
HORIZON_TARGET_BAND = 1
"""The band (1-3 deg) the eval's target judges: below 1 deg the dome samples the fisheye at its
inner radius, half a degree up at 1,024 px."""


@dataclass(frozen=True)
class ViewSettings:
    """The cameras every sky is looked at through."""

    width: int = 640
    height: int = 360
    fov_y_deg: float = 60.0
    pitches_deg: tuple[float, ...] = (5.0, 12.0, 20.0, 45.0, 80.0)
    """View axis elevations: three near the horizon, one halfway, one near the zenith."""
    yaws_deg: tuple[float, ...] = (0.0, 120.0, 240.0)

    def cameras(self) -> list[Camera]:
        return [Camera(y, p, self.fov_y_deg) for p in self.pitches_deg for y in self.yaws_deg]


class Viewer:
    """Perspective views of fisheye frames through ViewSettings' cameras.

    The rays are computed once, and per fisheye size the four texel indices and weights of every
    view pixel's bilinear sample (a gather table: 15 views of a 2,048 px fisheye in ~0.5 s)."""

    def __init__(self, settings: ViewSettings = ViewSettings()):
        self.settings = settings
        rays = np.stack([c.rays(settings.width, settings.height) for c in settings.cameras()])
        self.sky = rays[..., 1] > 0.0
        """(V, H, W) rays above the horizon."""
        elevation = np.degrees(np.arcsin(np.clip(rays[..., 1], -1.0, 1.0)))
        self.horizon_bands = [self.sky & (elevation > lo) & (elevation <= hi) for lo, hi in HORIZON_BANDS_DEG]
        """Per HORIZON_BANDS_DEG band, (V, H, W) the view pixels in it."""
        u, v, _ = direction_to_fisheye_uv(rays)
        self._uv = (u - 0.5, v - 0.5)
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.rays = rays.reshape(-1, 3)
        """(V * H * W, 3) unit view rays, for renderers that take directions (SkySim.render_directions)."""
        forward = np.stack([c.axes()[2] for c in settings.cameras()])
        cos_axis = np.einsum("vhwk,vk->vhw", rays, forward).ravel()
        self.pixel_angles = settings.cameras()[0].pixel_angle(settings.height) * cos_axis**2
        """(V * H * W,) angle each view pixel spans (radially from the view's centre: p cos^2)."""

    def _table(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(4, P) flat texel indices and (4, P, 1) weights of the bilinear samples in an n px fisheye,
        with texel centres at (i + 0.5) / n and sample points kept inside the dome's inner_radius
        (texels past it blend in the black outside the horizon)."""
        if n not in self._tables:
            du, dv = (c.ravel() for c in self._uv)
            r = 2.0 * np.hypot(du, dv)
            r_max = 1.0 - 3.0 / n
            scale = np.where(r > r_max, r_max / np.maximum(r, 1e-30), 1.0)
            x, y = (0.5 + du * scale) * n - 0.5, (0.5 + dv * scale) * n - 0.5
            x0, y0 = np.floor(x), np.floor(y)
            fx, fy = x - x0, y - y0
            i0, j0 = np.clip(y0, 0, n - 1).astype(np.int64), np.clip(x0, 0, n - 1).astype(np.int64)
            i1, j1 = np.minimum(i0 + 1, n - 1), np.minimum(j0 + 1, n - 1)
            index = np.stack([i0 * n + j0, i0 * n + j1, i1 * n + j0, i1 * n + j1])
            weight = np.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx])
            self._tables[n] = index, weight.astype(np.float32)[..., None]
        return self._tables[n]

    def views(self, frame: np.ndarray) -> np.ndarray:
        """(N, N, 3) linear radiance fisheye -> (V, 3, H, W) encoded views, -1 below the horizon."""
        if frame.ndim != 3 or frame.shape[0] != frame.shape[1] or frame.shape[2] != 3:
            raise ValueError(f"expected an (N, N, 3) fisheye frame, got shape {frame.shape}")
        index, weight = self._table(frame.shape[0])
        flat = np.asarray(frame, np.float32).reshape(-1, 3)
        return self.encode(sum(w * flat[i] for i, w in zip(index, weight, strict=True)))

    def encode(self, radiance: np.ndarray) -> np.ndarray:
        """(V * H * W, 3) linear radiance along `rays` -> (V, 3, H, W) encoded views, -1 below the horizon."""
        e = ENCODING.encode(np.maximum(radiance, 0.0)).astype(np.float32)
        e = e.reshape(*self.sky.shape, 3)
        return np.where(self.sky[..., None], e, BELOW_HORIZON).transpose(0, 3, 1, 2)


@dataclass
class ViewSet:
    """Views of many frames, kept as float16 for the SWD (a 360 x 640 view is 1.4 MB so), with their
    sharpness summed at full precision as they come (float16 steps would read as gradient)."""

    viewer: Viewer
    views: list[np.ndarray] = field(default_factory=list)
    sums: dict[str, float] = field(default_factory=lambda: {"gradient": 0.0, "high_frequency": 0.0})
    horizon_sums: np.ndarray = field(default_factory=lambda: np.zeros(len(HORIZON_BANDS_DEG)))
    frames: int = 0

    def add(self, frame: np.ndarray) -> None:
        """Add the views of one (N, N, 3) linear-radiance fisheye frame."""
        self.add_views(self.viewer.views(frame))

    def add_views(self, v: np.ndarray) -> None:
        """Add (V, 3, H, W) encoded views (Viewer.views, or Viewer.encode of a rendering of its rays)."""
        for key, value in sharpness(v, self.viewer.sky).items():
            self.sums[key] += value
        y = luma(v).astype(np.float64)
        self.horizon_sums += [y[band].mean() for band in self.viewer.horizon_bands]
        self.views.append(v.astype(np.float16))
        self.frames += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(F * V, 3, H, W) views and their (F * V, H, W) sky masks."""
        return np.concatenate(self.views), np.tile(self.viewer.sky, (self.frames, 1, 1))

    def sharpness(self) -> dict[str, float]:
        """Mean over frames of sharpness()."""
        return {k: v / max(self.frames, 1) for k, v in self.sums.items()}

    def horizon(self) -> np.ndarray:
        """Mean over frames of the views' mean luma (encoded) in each HORIZON_BANDS_DEG band."""
        return self.horizon_sums / max(self.frames, 1)


def _inner(sky: np.ndarray, r: int) -> np.ndarray:
    """Sky pixels whose neighbours within r pixels (along rows and columns) are sky too."""
    out = sky.copy()
    for axis in (-2, -1):
        for k in range(1, r + 1):
            out &= np.roll(sky, k, axis) & np.roll(sky, -k, axis)
    return out


def sharpness(views: np.ndarray, sky: np.ndarray) -> dict[str, float]:
    """Mean gradient magnitude (per pixel) and high-frequency energy (mean square of the finest
    Laplacian band) of the luma of (V, 3, H, W) encoded views with (V, H, W) sky masks, over pixels
    whose neighbours are sky too (the horizon's edge is not detail)."""
    y = luma(views).astype(np.float64)
    gy, gx = np.gradient(y, axis=(1, 2))
    finest = laplacian_pyramid(y[:, None], 2)[0][:, 0]
    return {
        "gradient": float(np.hypot(gx, gy)[_inner(sky, 1)].mean()),
        "high_frequency": float((finest**2)[_inner(sky, 3)].mean()),
    }


def view_figures(
    model: ViewSet, floor: ViewSet, reference: ViewSet, settings: SWDSettings, fisheye: ViewSet | None = None
) -> dict:
    """SWD of the model's views against the reference's over the floor (the `floor` set's views
    against the reference's, as many views), and sharpness ratios to the reference data's (both
    data sets). display.view_section chooses the sets: SkySim skies under the model's conditions
    and the same skies drawn again (display.Reference), or held-out halves A and B.

    fisheye: the floor's skies as SkySim draws them into a fisheye of the model's size, viewed like
    the model's: the same figures for them (under "fisheye") say what that size alone costs, the
    best any decoder of it can score."""
    (mv, ms), (fv, fs), (rv, rs) = model.arrays(), floor.arrays(), reference.arrays()
    n = min(len(mv), len(fv))
    rng = np.random.default_rng(settings.seed)
    pick_m, pick_f = rng.permutation(len(mv))[:n], rng.permutation(len(fv))[:n]
    noise_levels = swd(fv[pick_f], rv, settings, (fs[pick_f], rs))
    a, b, frames = floor.sharpness(), reference.sharpness(), floor.frames + reference.frames
    sharp_data = {k: (a[k] * floor.frames + b[k] * reference.frames) / frames for k in a}
    horizon_data = (floor.horizon() * floor.frames + reference.horizon() * reference.frames) / frames
    per_stop = 2.0 / ENCODING.stops

    def against_data(views: ViewSet, arrays: tuple[np.ndarray, np.ndarray], pick: np.ndarray) -> dict:
        (v, s), sharp = arrays, views.sharpness()
        return {
            **ratio_entry(swd(v[pick], rv, settings, (s[pick], rs)), noise_levels),
            "sharpness": {
                "model": sharp,
                "data": sharp_data,
                "gradient_ratio": sharp["gradient"] / sharp_data["gradient"],
                "high_frequency_ratio": sharp["high_frequency"] / sharp_data["high_frequency"],
            },
            "horizon": {
                "bands_deg": [list(b) for b in HORIZON_BANDS_DEG],
                "model": views.horizon().tolist(),
                "data": horizon_data.tolist(),
                "stops": ((views.horizon() - horizon_data) / per_stop).tolist(),
            },
        }

    figures = {"views": n, **against_data(model, (mv, ms), pick_m)}
    if fisheye is not None:
        arrays = fisheye.arrays()
        figures["fisheye"] = against_data(fisheye, arrays, rng.permutation(len(arrays[0]))[:n])
    return figures
