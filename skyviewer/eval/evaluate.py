"""Generate with a sky package through SkyModel and measure it against held-out data.

One path for every input: run folders are exported to a temporary package first
(commands.py), so what is measured is exactly what hosts play (ONNX Runtime, no torch).

Conditions come from the dataset's held-out metadata:
  * start frames: sample i takes the (sun_dir, cloud_cover) of a random held-out frame, seed i;
  * rollout chain c starts from held-out sequence c mod K under its first frame's conditions;
    the sun then moves as at that place and time (SunClock from the sequence's latitude,
    longitude and UTC time, advanced by the package's step_seconds per step); a sequence
    without them (e.g. an image-folder import) keeps its first sun direction. Cloud cover is
    held at the sequence's first value.
The SWD floor is held-out half A against half B with as many frames: random ones for the
start frames (their conditions are a random draw of the data's too), and for each rollout
checkpoint the frames nearest to the chains' conditions at that step (nearest_in_conditions).
The halves are dealt from the sequences ordered by sun elevation (HeldOut._split), so both hold
days, dusks and nights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skyviewer.data.store import SkyDataset
from skyviewer.errors import UserError
from skyviewer.eval import stats
from skyviewer.eval.display import motion_section
from skyviewer.eval.frames import encode, to_resolution
from skyviewer.eval.motion import BANDS_DEG, MotionSettings, analysis_resolution
from skyviewer.eval.sun import SunLocator, above_horizon, angle_deg
from skyviewer.eval.swd import SWDSettings, ratio_entry, swd
from skyviewer.eval.views import HORIZON_TARGET_BAND, ViewSettings
from skyviewer.runtime.model import SkyModel
from skyviewer.runtime.sun import SunClock
from skyviewer.sky.projection import fisheye_mask
from skyviewer.sky.solar import ASTRONOMICAL_NIGHT_DEG

DEFAULT_CLOUD_COVER = 0.5
"""Stands in for unknown (NaN) cloud cover, as in training (skyviewer.train.data)."""
SUN_STATUSES = ("found", "not_found", "below_horizon")
CURVE_POINTS = 48
"""Log-spaced bins of the rollout curves in the report."""


@dataclass(frozen=True)
class EvalConfig:
    """What to generate and how to measure it."""

    steps: int = 10_000
    """Rollout length in model steps."""
    checkpoints: tuple[int, ...] = (1, 100, 1_000, 10_000)
    """Rollout steps whose frames are compared to the data by SWD (the last is the final target)."""
    chains: int = 8
    """Parallel rollouts (run one after another), each from its own held-out sequence and seed."""
    samples: int = 128
    """Start frames drawn for the start-frame SWD and sun error."""
    seed: int = 0
    """Seeds generation (sample i uses seed + i) and the metrics' random draws."""
    providers: str = "auto"
    """ONNX Runtime providers for SkyModel."""
    swd: SWDSettings = field(default_factory=SWDSettings)
    sun: SunLocator = field(default_factory=SunLocator)
    inception: Path | None = None
    """Inception weights for the optional FID (None: no FID)."""
    views: ViewSettings = field(default_factory=ViewSettings)
    view_frames: int = 8
    """Reference frames per held-out half looked at in perspective (0: no display-view figures)."""
    motion: MotionSettings = field(default_factory=MotionSettings)
    motion_frames: int = 32
    """Consecutive rollout frames per chain measured for motion (0: no motion figures)."""
    motion_start: int = 100
    """Rollout step of the first of them (past the start's transient, near the chain's sequence's
    time of day); moved earlier when the rollout is shorter."""
    cloud_altitude_m: float = 1500.0
    """Altitude of the layer whose drift is compared with the wind (SkySim's cumulus base)."""


@dataclass
class HeldOut:
    """The held-out split at the model's resolution, encoded, with its conditions."""

    frames: list[np.ndarray]
    """Per sequence, (T, 3, N, N) encoded, -1 below the horizon."""
    sun_dir: list[np.ndarray]
    """Per sequence, (T, 3)."""
    cloud_cover: list[np.ndarray]
    """Per sequence, (T,); unknown read as DEFAULT_CLOUD_COVER."""
    clocks: list[SunClock | None]
    """Per sequence, its place and first frame's time when known."""
    radiance: np.ndarray
    """(F, N, N, 3) all frames, linear nits at the model's resolution (FID, motion)."""
    step_seconds: float | None
    ids: list[str] = field(default_factory=list)
    """Per sequence, its id in the dataset."""
    wind: list[np.ndarray] = field(default_factory=list)
    """Per sequence, (T, 2) cloud-level wind (east, north) m/s; NaN where unknown."""
    cirrus_cover: list[np.ndarray] = field(default_factory=list)
    """Per sequence, (T,) cirrus cover; NaN where unknown."""
    path: Path | None = None
    """The dataset."""

    def sequence_radiance(self, i: int) -> np.ndarray:
        """(T, N, N, 3) linear nits of sequence i (a view into `radiance`)."""
        start = sum(len(f) for f in self.frames[:i])
        return self.radiance[start : start + len(self.frames[i])]

    def half_indices(self) -> tuple[list[int], list[int]]:
        """Sequence indices of halves A and B (see _split)."""
        order = np.argsort([float(s[0, 1]) for s in self.sun_dir], kind="stable").tolist()
        return order[0::2], order[1::2]

    def halves(self) -> tuple[np.ndarray, np.ndarray]:
        """Frames of halves A and B of the sequences: two independent samples of the same skies."""
        return self._split(self.frames)

    def conditions_of_half_a(self) -> np.ndarray:
        """(F, 4) sun direction and cloud cover of each frame of halves()[0]."""
        per_sequence = [
            np.concatenate([s, c[:, None]], axis=1)
            for s, c in zip(self.sun_dir, self.cloud_cover, strict=True)
        ]
        return self._split(per_sequence)[0]

    def _split(self, per_sequence: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per-sequence arrays joined into those of halves A and B: the sequences ordered by their
        first sun elevation and dealt alternately, so both halves hold days, dusks and nights.

        Split by index, the 30 held-out SkySim sequences put both of their deep nights in B; the
        rollout floor at step 10 000 (chains mostly at night) then took dusk frames of A for
        night chains, and the model's night skies measured 4.1x a floor made of other skies."""
        if len(per_sequence) < 2:
            raise UserError("the noise floor needs at least 2 held-out sequences")
        a, b = self.half_indices()
        return np.concatenate([per_sequence[i] for i in a]), np.concatenate([per_sequence[i] for i in b])


def _clock(dataset: SkyDataset, seq_id: str, meta: np.ndarray) -> SunClock | None:
    scenario = dataset.records[seq_id].attributes.get("scenario", {})
    lat, lon, t0 = scenario.get("latitude_deg"), scenario.get("longitude_deg"), float(meta["unix_time"][0])
    if lat is None or lon is None or not math.isfinite(t0):
        return None
    return SunClock(float(lat), float(lon), t0)


def load_heldout(path: Path, n: int) -> HeldOut:
    """The held-out sequences of the dataset at `path`, at resolution n."""
    dataset = SkyDataset.open(path)
    if dataset.resolution < n:
        raise UserError(f"{path}: {dataset.resolution} px frames are coarser than the model's {n} px")
    ids = dataset.sequence_ids("heldout")
    if not ids:
        raise UserError(f"{path}: no held-out sequences (build it with --heldout-fraction > 0)")
    out = HeldOut([], [], [], [], np.empty((0, n, n, 3), np.float32), dataset.step_seconds, path=path)
    radiance = []
    for seq_id in ids:
        meta = dataset.meta(seq_id)
        if np.isnan(meta["sun_dir"]).any():
            raise UserError(
                f"{path}: sequence {seq_id} has no sun direction (the models are conditioned on it)"
            )
        radiance.append(to_resolution(dataset.frames(seq_id), n))
        out.frames.append(encode(radiance[-1]))
        out.sun_dir.append(np.array(meta["sun_dir"], np.float32))
        cover = np.array(meta["cloud_cover"], np.float32)
        out.cloud_cover.append(np.where(np.isnan(cover), DEFAULT_CLOUD_COVER, cover))
        out.clocks.append(_clock(dataset, seq_id, meta))
        out.ids.append(seq_id)
        out.wind.append(np.array(meta["wind"], np.float32))
        out.cirrus_cover.append(np.array(meta["cirrus_cover"], np.float32))
    out.radiance = np.concatenate(radiance)
    return out


# ---------------------------------------------------------------- generation


@dataclass
class Generated:
    """Everything generated, reduced to what the metrics need."""

    start: np.ndarray
    """(S, 3, N, N) encoded start frames."""
    start_sun: np.ndarray
    """(S, 3) requested sun directions of the start frames."""
    change: np.ndarray
    """(C, L) mean |delta| at steps 1..L of each chain."""
    means: np.ndarray
    """(C, L + 1, 3) channel means at steps 0..L."""
    nonfinite: np.ndarray
    """(C, L + 1) NaN/Inf values per frame."""
    checkpoint_frames: dict[int, np.ndarray]
    """step -> (C, 3, N, N) the chains' frames at that step."""
    checkpoint_conditions: dict[int, np.ndarray]
    """step -> (C, 4) the chains' sun direction and cloud cover at that step."""
    sun_error: np.ndarray
    """(C, L + 1) angle (deg) between requested and located sun; NaN where not measured."""
    sun_status: dict[str, int]
    """Rollout sun measurements: 'found', 'not_found', 'below_horizon' counts."""
    motion_frames: np.ndarray | None = None
    """(C, W, n, n, 3) linear nits of each chain's motion window, at the motion analysis resolution."""
    motion_sun: np.ndarray | None = None
    """(C, 3) sun direction at the start of each chain's motion window."""
    motion_wind: np.ndarray | None = None
    """(C, 2) wind (east, north) m/s requested of each chain; NaN where the package takes none."""
    step_seconds: float = math.nan
    """The package's sky time per step."""


def generate_starts(
    model: SkyModel, held: HeldOut, cfg: EvalConfig, progress
) -> tuple[np.ndarray, np.ndarray]:
    """cfg.samples start frames under conditions of random held-out frames."""
    rng = np.random.default_rng(cfg.seed)
    frames, suns = [], []
    for i in range(cfg.samples):
        s = int(rng.integers(len(held.frames)))
        t = int(rng.integers(len(held.frames[s])))
        ask_conditions(model, held, s, t)
        model.reset(cfg.seed + i)
        frames.append(model.frame_encoded().numpy()[0].copy())  # the next reset draws into the same buffer
        suns.append(model.conditions()["sun_dir"])
        progress.update(1)
    return np.stack(frames), np.stack(suns)


def sun_path(held: HeldOut, seq: int, steps: int, step_seconds: float) -> np.ndarray:
    """(steps + 1, 3) sun directions of a chain started from held-out sequence `seq`."""
    clock = held.clocks[seq]
    if clock is None:
        return np.repeat(held.sun_dir[seq][:1], steps + 1, axis=0)
    t0 = clock.unix_time
    path = []
    for k in range(steps + 1):
        clock.unix_time = t0 + k * step_seconds
        path.append(clock.direction())
    clock.unix_time = t0
    return np.stack(path)


def sun_steps(steps: int, checkpoints: tuple[int, ...]) -> set[int]:
    """Rollout steps where the sun is located: log-spaced, plus the checkpoints."""
    spaced = np.unique(np.geomspace(1, max(steps, 1), CURVE_POINTS).astype(int))
    return {int(k) for k in spaced} | {k for k in checkpoints if k <= steps}


def measure_sun(locator: SunLocator, frame: np.ndarray, requested: np.ndarray) -> tuple[str, float]:
    """('found', error deg) | ('not_found', nan) | ('below_horizon', nan)."""
    if not above_horizon(requested):
        return "below_horizon", math.nan
    found = locator.locate(frame)
    if found is None:
        return "not_found", math.nan
    return "found", float(angle_deg(found, requested))


def generate(model: SkyModel, held: HeldOut, cfg: EvalConfig, progress) -> Generated:
    """Start frames, then cfg.chains rollouts of cfg.steps steps with the sun moving."""
    start, start_sun = generate_starts(model, held, cfg, progress)
    c, length, n = cfg.chains, cfg.steps, model.resolution
    mask = fisheye_mask(n)
    g = Generated(
        start,
        start_sun,
        np.zeros((c, length)),
        np.zeros((c, length + 1, 3)),
        np.zeros((c, length + 1), int),
        {k: np.zeros((c, 3, n, n), np.float32) for k in cfg.checkpoints if k <= length},
        {k: np.zeros((c, 4), np.float32) for k in cfg.checkpoints if k <= length},
        np.full((c, length + 1), math.nan),
        dict.fromkeys(SUN_STATUSES, 0),
        step_seconds=model.step_seconds,
    )
    measured = sun_steps(length, cfg.checkpoints)
    window = motion_window(cfg)
    nm = analysis_resolution([n], cfg.motion)
    if window:
        g.motion_frames = np.zeros((c, len(window), nm, nm, 3), np.float32)
        g.motion_sun, g.motion_wind = np.zeros((c, 3)), np.full((c, 2), math.nan)
    for chain in range(c):
        seq = chain % len(held.frames)
        path = sun_path(held, seq, length, model.step_seconds)
        wind = ask_conditions(model, held, seq, 0)
        model.set_conditions(sun_dir=path[0])
        if window:
            g.motion_wind[chain] = wind
            g.motion_sun[chain] = path[window.start]
        model.reset(cfg.seed + cfg.samples + chain)
        prev = model.frame_encoded().numpy()  # (1, 3, N, N)
        g.means[chain, 0] = stats.channel_means(prev, mask)[0]
        g.nonfinite[chain, 0] = stats.nonfinite(prev)[0]
        for k in range(1, length + 1):
            model.set_conditions(sun_dir=path[k])
            cur = model.step_encoded().numpy()
            g.change[chain, k - 1] = stats.changes(np.concatenate([prev, cur]), mask)[0]
            g.means[chain, k] = stats.channel_means(cur, mask)[0]
            g.nonfinite[chain, k] = stats.nonfinite(cur)[0]
            if k in g.checkpoint_frames:
                g.checkpoint_frames[k][chain] = cur[0]
                g.checkpoint_conditions[k][chain] = [*path[k], held.cloud_cover[seq][0]]
            if k in measured:
                status, error = measure_sun(cfg.sun, cur[0], model.conditions()["sun_dir"])
                g.sun_status[status] += 1
                g.sun_error[chain, k] = error
            if k in window:
                radiance = model.encoding.decode(cur[0].transpose(1, 2, 0))
                g.motion_frames[chain, k - window.start] = to_resolution(radiance[None], nm)[0]
            prev = cur
            progress.update(1)
    return g


def motion_window(cfg: EvalConfig) -> range:
    """Rollout steps whose frames are kept for the motion figures (empty: none)."""
    count = min(cfg.motion_frames, cfg.steps)
    if count < 2:
        return range(0)
    first = max(1, min(cfg.motion_start, cfg.steps - count + 1))
    return range(first, first + count)


def ask_conditions(model: SkyModel, held: HeldOut, seq: int, t: int) -> np.ndarray:
    """Set the model's conditions to held-out frame t of sequence seq's: sun and cloud cover, and
    cirrus cover and wind where the package takes them and the data knows them. Returns the wind
    asked, (east, north) m/s, NaN where none was (the drift then has nothing to meet)."""
    model.set_conditions(sun_dir=held.sun_dir[seq][t], cloud_cover=held.cloud_cover[seq][t])
    cirrus = float(held.cirrus_cover[seq][t])
    if "cirrus_cover" in model.conditions() and math.isfinite(cirrus):
        model.set_conditions(cirrus_cover=cirrus)
    return request_wind(model, held.wind[seq][t])


def request_wind(model: SkyModel, wind: np.ndarray) -> np.ndarray:
    """Ask a package that takes the wind (format 3: `wind_speed`, `wind_towards`) for the wind
    (east, north) m/s and return what was asked; NaN for packages without a wind condition
    (format 2) or an unknown wind."""
    if not {"wind_speed", "wind_towards"} <= model.conditions().keys() or not np.all(np.isfinite(wind)):
        return np.full(2, math.nan)
    east, north = (float(v) for v in wind)
    towards = math.degrees(math.atan2(east, north)) % 360.0  # from north towards east
    model.set_conditions(wind_speed=math.hypot(east, north), wind_towards=towards)
    return np.array([east, north])


# ---------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Target:
    """One pass/fail target: `value` must lie in [lo, hi]; the aim is the tighter [aim_lo, aim_hi]."""

    what: str
    lo: float
    hi: float
    aim_lo: float
    aim_hi: float

    def judge(self, value: float) -> dict:
        ok = math.isfinite(value) and self.lo <= value <= self.hi
        aim = math.isfinite(value) and self.aim_lo <= value <= self.aim_hi
        return {
            "what": self.what,
            "value": value,
            "limit": [self.lo, self.hi],
            "aim": [self.aim_lo, self.aim_hi],
            "pass": ok,
            "aim_met": aim,
        }


TARGETS = {
    "start_swd_vs_floor": Target("start-frame SWD / held-out floor", 0, 2.0, 0, 1.5),
    "rollout_nonfinite": Target("NaN/Inf values over the whole rollout", 0, 0, 0, 0),
    "final_change_vs_data": Target("frame-to-frame change at the last step / data's", 0.5, 2.0, 0.75, 1.33),
    "final_swd_vs_floor": Target("SWD at the last checkpoint / held-out floor", 0, 3.0, 0, 3.0),
    "sun_error_start_deg": Target("median sun direction error of start frames (deg)", 0, 5.0, 0, 2.0),
    "sun_error_rollout_deg": Target("median sun direction error along the rollout (deg)", 0, 5.0, 0, 2.0),
    # Display views (issue 14): what a user sees through a 60 deg camera, against sharp references.
    "view_swd_vs_floor": Target("display-view SWD / floor (high-res reference)", 0, 3.0, 0, 1.5),
    "view_sharpness_vs_data": Target("display-view mean gradient / reference's", 0.7, math.inf, 0.9, 1.1),
    "view_horizon_stops": Target(
        "display-view brightness 1-3 deg above the horizon, model - reference (stops)", -0.5, 0.5, -0.25, 0.25
    ),
    # Motion (issue 15): per zenith-angle band, model / data.
    "motion_speed_30_50_vs_data": Target(
        "speed rel. to 0-30 deg, 30-50 deg band / data's", 0.7, 1.3, 0.7, 1.3
    ),
    "motion_speed_50_65_vs_data": Target(
        "speed rel. to 0-30 deg, 50-65 deg band / data's", 0.7, 1.3, 0.7, 1.3
    ),
    "motion_speed_65_80_vs_data": Target(
        "speed rel. to 0-30 deg, 65-80 deg band / data's", 0.7, 1.3, 0.7, 1.3
    ),
    "motion_radial_size_65_80_vs_data": Target(
        "radial cloud size at 65-80 deg / data's", 0.75, 1.33, 0.75, 1.33
    ),
    "motion_lag1_correlation_vs_data": Target(
        "lag-1 correlation / data's, worst band to 80 deg", 0.85, math.inf, 0.85, math.inf
    ),
    "motion_change_1_vs_data": Target("change over 1 step / data's", 0.75, 1.33, 0.75, 1.33),
    "motion_change_10_vs_data": Target("change over 10 steps / data's", 0.75, 1.33, 0.75, 1.33),
    "wind_direction_error_deg": Target("drift direction vs requested wind (deg, median)", 0, 15.0, 0, 15.0),
    "wind_speed_vs_requested": Target("drift speed / requested wind speed (median)", 0.75, 1.25, 0.75, 1.25),
}


def swd_entry(
    images: np.ndarray,
    half_a: np.ndarray,
    half_b: np.ndarray,
    settings: SWDSettings,
    floor_images: np.ndarray | None = None,
) -> dict:
    """SWD of `images` against held-out half B, beside the floor: floor_images (default: as many
    random frames of half A) against B."""
    n = min(len(images), len(half_a))
    rng = np.random.default_rng(settings.seed)
    gen = swd(images[rng.permutation(len(images))[:n]], half_b, settings)
    if floor_images is None:
        floor_images = half_a[rng.permutation(len(half_a))[:n]]
    return {"images": n, **ratio_entry(gen, swd(floor_images, half_b, settings))}


def nearest_in_conditions(frames: np.ndarray, conditions: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each of `wanted` (C, 4) sun direction + cover, the frame of `frames` (F, 3, N, N) whose
    `conditions` (F, 4) are nearest, with twilight stretched (_twilight_stretched): (C, 3, N, N).

    The rollout floor. A few chains hours into their rollout share no time of day with a random
    draw of the data (at 10 000 steps 6 of 8 chains were at night), and SWD counts that mismatch
    as error; held-out frames under the chains' own conditions measure the same mix of skies."""
    wanted, conditions = _twilight_stretched(wanted), _twilight_stretched(conditions)
    distance = ((wanted[:, None, :] - conditions[None, :, :]) ** 2).sum(axis=-1)  # (C, F)
    return frames[distance.argmin(axis=1)]


def _twilight_stretched(conditions: np.ndarray) -> np.ndarray:
    """(K, 4) conditions with sun elevations in [ASTRONOMICAL_NIGHT_DEG, 0] stretched over [-90, 0]
    deg (azimuth kept) and deeper suns at the nadir.

    The sky goes from day to night within 18 deg below the horizon (its brightness falls six
    decades), and below that the sun no longer lights it at all (SkySim's twilight ends there
    too). Measured as plain directions, a night chain at -67 deg found a dusk frame at -13 deg
    nearer than a night frame at -38 deg in another azimuth; stretched, every night is one
    condition, and twilight suns differ by how far through twilight they are."""
    out = conditions.astype(np.float64)
    sun = out[:, :3]
    elevation = np.arcsin(np.clip(sun[:, 1], -1.0, 1.0))
    night = math.radians(ASTRONOMICAL_NIGHT_DEG)
    stretched = np.where(elevation < 0, np.maximum(elevation, night) * (-math.pi / 2 / night), elevation)
    horizontal = sun[:, [0, 2]] / np.maximum(np.linalg.norm(sun[:, [0, 2]], axis=1, keepdims=True), 1e-12)
    sun[:, [0, 2]] = horizontal * np.cos(stretched)[:, None]
    sun[:, 1] = np.sin(stretched)
    return out


def sun_summary(errors: np.ndarray, status: dict[str, int]) -> dict:
    """Counts and error statistics (deg) of sun measurements (errors: NaN where not found)."""
    found = errors[np.isfinite(errors)]
    quant = (lambda q: float(np.percentile(found, q))) if found.size else (lambda q: math.nan)
    return {
        **status,
        "median_deg": quant(50),
        "p90_deg": quant(90),
        "mean_deg": float(found.mean()) if found.size else math.nan,
    }


def sun_of_frames(locator: SunLocator, frames: np.ndarray, suns: np.ndarray) -> dict:
    """sun_summary of (F, 3, N, N) frames against their requested (F, 3) sun directions; on the
    held-out frames it is the locator's own error, the floor of the generated frames' error."""
    measured = [measure_sun(locator, f, s) for f, s in zip(frames, suns, strict=True)]
    status = {k: sum(1 for s, _ in measured if s == k) for k in SUN_STATUSES}
    return sun_summary(np.array([e for _, e in measured]), status)


def log_bins(length: int, count: int = CURVE_POINTS) -> list[tuple[int, int]]:
    """Steps 1..length in about `count` log-spaced bins [lo, hi)."""
    edges = np.unique(np.geomspace(1, length + 1, count + 1).astype(int))
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def curves(g: Generated) -> dict:
    """Rollout curves binned on a log step axis, averaged over chains (sun error: median)."""
    out = {k: [] for k in ("step", "change", "brightness", "blue_red", "nonfinite", "sun_error_deg")}
    for lo, hi in log_bins(g.change.shape[1]):
        means = g.means[:, lo:hi]
        sun = g.sun_error[:, lo:hi]
        sun = sun[np.isfinite(sun)]
        out["step"].append(math.sqrt(lo * (hi - 1)))
        out["change"].append(float(g.change[:, lo - 1 : hi - 1].mean()))
        out["brightness"].append(float(stats.brightness(means).mean()))
        out["blue_red"].append(float(stats.blue_red(means).mean()))
        out["nonfinite"].append(int(g.nonfinite[:, lo:hi].sum()))
        out["sun_error_deg"].append(float(np.median(sun)) if sun.size else math.nan)
    return out


def summarise(g: Generated, held: HeldOut, cfg: EvalConfig, views: dict | None = None) -> dict:
    """The report's metrics and targets (model and data descriptions are added by the caller).
    views: display.view_section's figures, when measured; motion is measured when g has windows."""
    half_a, half_b = held.halves()
    mask = fisheye_mask(held.frames[0].shape[-1])
    bands = stats.data_bands(held.frames, mask)
    window = max(1, math.ceil(cfg.steps / 100))  # the last 1 % of steps: one step is too noisy
    final_change = float(g.change[:, -window:].mean())
    conditions_a = held.conditions_of_half_a()
    swd_rollout = {
        str(k): swd_entry(
            f,
            half_a,
            half_b,
            cfg.swd,
            nearest_in_conditions(half_a, conditions_a, g.checkpoint_conditions[k]),
        )
        for k, f in g.checkpoint_frames.items()
    }
    report = {
        "swd": {"start": swd_entry(g.start, half_a, half_b, cfg.swd), "rollout": swd_rollout},
        "rollout": {
            "steps": cfg.steps,
            "chains": cfg.chains,
            "nonfinite": int(g.nonfinite.sum()),
            "final_change": final_change,
            "final_change_window_steps": window,
            "curves": curves(g),
        },
        "data_bands": {k: vars(b) for k, b in bands.items()},
        "sun": {
            "start": sun_of_frames(cfg.sun, g.start, g.start_sun),
            "rollout": sun_summary(g.sun_error, g.sun_status),
            "data": sun_of_frames(cfg.sun, np.concatenate(held.frames), np.concatenate(held.sun_dir)),
        },
    }
    last = str(max(g.checkpoint_frames)) if g.checkpoint_frames else None
    values = {
        "start_swd_vs_floor": report["swd"]["start"]["ratio"],
        "rollout_nonfinite": float(report["rollout"]["nonfinite"]),
        "final_change_vs_data": final_change / bands["change"].mean,
        "final_swd_vs_floor": swd_rollout[last]["ratio"] if last else math.nan,
        "sun_error_start_deg": report["sun"]["start"]["median_deg"],
        "sun_error_rollout_deg": report["sun"]["rollout"]["median_deg"],
    }
    if views is not None:
        report["views"] = views
        values["view_swd_vs_floor"] = views["ratio"]
        values["view_sharpness_vs_data"] = views["sharpness"]["gradient_ratio"]
        values["view_horizon_stops"] = views["horizon"]["stops"][HORIZON_TARGET_BAND]
    if g.motion_frames is not None:
        report["motion"] = motion_section(g, held, cfg, g.step_seconds)
        values.update(motion_values(report["motion"]))
    report["targets"] = {k: TARGETS[k].judge(v) for k, v in values.items()}
    report["passed"] = all(t["pass"] for t in report["targets"].values())
    return report


def motion_values(section: dict) -> dict[str, float]:
    """The motion targets' values from display.motion_section's figures."""
    r = section["ratios"]
    values = {
        f"motion_speed_{lo:g}_{hi:g}_vs_data": r["relative_speed"][i]
        for i, (lo, hi) in enumerate(BANDS_DEG)
        if i in (1, 2, 3)
    }
    values["motion_radial_size_65_80_vs_data"] = r["radial_size_deg"][3]
    lag1 = r["correlation"]["1"][:4]  # every band up to 80 deg
    values["motion_lag1_correlation_vs_data"] = min(lag1) if all(map(math.isfinite, lag1)) else math.nan
    values["motion_change_1_vs_data"] = r["change"]["1"][-1]  # the global figure
    values["motion_change_10_vs_data"] = r["change"]["10"][-1]
    values["wind_direction_error_deg"] = section["drift"]["model"]["direction_error_deg"]
    values["wind_speed_vs_requested"] = section["drift"]["model"]["speed_ratio"]
    return values
