"""`skyviewer dataset synth`: a dataset of simulated skies (skyviewer.data.skysim).

Every sequence gets its own seed, derived from (--seed, sequence index); that seed
draws the scenario (place, date, time of day, clouds, wind, haze) and drives the
simulator. A sequence is therefore reproducible from its index alone, which is what
lets `--resume` continue an interrupted build with identical results, and what makes
the output independent of --workers.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from skyviewer.data.types import SkySequence
from skyviewer.errors import UserError

PHASES = {
    "day": (10.0, 90.0),
    "sunrise_sunset": (-1.0, 10.0),
    "twilight": (-18.0, -1.0),
    "night": (-90.0, -18.0),
}
"""Times of day by apparent solar elevation (degrees): [low, high)."""
PATCH_STREAM = 7
"""Random stream (with the sequence seed) of the patch positions; SkySim's own streams are 1-4."""


@dataclass(frozen=True)
class ScenarioRanges:
    """What synth draws scenarios from. Ranges are (low, high), sampled uniformly."""

    latitude_deg: tuple[float, float] = (-60.0, 70.0)
    """Observer latitude, degrees north: where people live and skies are photographed."""
    longitude_deg: tuple[float, float] = (-180.0, 180.0)
    """Observer longitude, degrees east (it sets which UTC time is local noon)."""
    year: int = 2024
    """Dates are drawn uniformly over the days of this year (seasons set the sun's path)."""
    phase_weights: dict[str, float] = field(
        default_factory=lambda: {"day": 0.6, "sunrise_sunset": 0.15, "twilight": 0.15, "night": 0.1}
    )
    """Probability of each time of day (PHASES); a phase the date does not have (polar
    summer nights) is left out and the others renormalised (all equal if none is left)."""
    turbidity: tuple[float, float] = (1.8, 6.0)
    """Preetham turbidity: very clear to hazy."""
    cloud_cover: tuple[float, float] = (0.0, 1.0)
    """Cumulus cover, clear to overcast."""
    cirrus_cover: tuple[float, float] = (0.0, 1.0)
    """High cirrus cover, none to full."""
    wind_speed_mps: tuple[float, float] = (0.0, 20.0)
    """Wind at the cumulus layer, calm to strong (m/s)."""
    wind_towards_deg: tuple[float, float] = (0.0, 360.0)
    """Azimuth the clouds drift towards, from north to east."""


@dataclass(frozen=True)
class Scenario:
    """One sampled sky; kept in the dataset manifest as the sequence's attributes."""

    latitude_deg: float
    """Observer latitude, degrees north."""
    longitude_deg: float
    """Observer longitude, degrees east."""
    start_utc: str
    """UTC date and time of the first frame, ISO 8601."""
    phase: str
    """Time of day of the first frame: a key of PHASES."""
    sun_elevation_deg: float
    """Apparent solar elevation at the first frame."""
    turbidity: float
    """Preetham turbidity."""
    cloud_cover: float
    """Cumulus cover, 0..1."""
    cirrus_cover: float
    """Cirrus cover, 0..1."""
    wind_speed_mps: float
    """Wind speed at the cumulus layer (m/s)."""
    wind_towards_deg: float
    """Azimuth the clouds drift towards."""


@dataclass(frozen=True)
class SynthSettings:
    """What fixes a synthetic dataset's content (stored in the manifest; --resume must match)."""

    sequences: int = 64
    """Number of sequences."""
    frames: int = 48
    """Frames per sequence."""
    resolution: int = 256
    """Side N of the N x N fisheye frames (pixels)."""
    step_seconds: float = 20.0
    """Sky time between frames."""
    seed: int = 0
    """Master seed; sequence i uses sequence_seed(seed, i)."""
    heldout_fraction: float = 0.1
    """Fraction of sequences in the held-out split."""
    ranges: ScenarioRanges = field(default_factory=ScenarioRanges)
    """Where scenarios are drawn from."""
    patch_resolution: int = 0
    """With > 0: each frame also gets patches_per_frame patches of the frame as it would be at this
    resolution (full-resolution detail without storing huge frames); 0 = no patches."""
    patch_size: int = 64
    """Side of each patch (pixels at patch_resolution)."""
    patches_per_frame: int = 8
    """Patches per frame (random positions whose centres lie inside the horizon circle)."""

    @property
    def patches(self) -> dict | None:
        """The dataset's patch spec (DatasetWriter's patches), or None."""
        if not self.patch_resolution:
            return None
        return {
            "resolution": self.patch_resolution,
            "size": self.patch_size,
            "per_frame": self.patches_per_frame,
        }

    def __post_init__(self) -> None:
        checks = [
            (self.sequences >= 1, "--sequences must be >= 1"),
            (self.frames >= 1, "--frames must be >= 1"),
            (self.resolution >= 8, "--resolution must be >= 8"),
            (self.step_seconds > 0, "--step-seconds must be > 0"),
            (0.0 <= self.heldout_fraction <= 1.0, "--heldout-fraction must be in [0, 1]"),
            (self.patch_resolution >= 0, "--patch-resolution must be >= 0 (0: no patches)"),
            (
                not self.patch_resolution or self.patch_resolution >= self.resolution,
                "--patch-resolution must be >= --resolution",
            ),
            (
                not self.patch_resolution or 1 <= self.patch_size <= self.patch_resolution,
                "--patch-size must be in [1, --patch-resolution]",
            ),
            (not self.patch_resolution or self.patches_per_frame >= 1, "--patches-per-frame must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)


def sequence_seed(seed: int, index: int) -> int:
    """Independent 32-bit seed of sequence `index` (numpy SeedSequence spawning, not seed + index)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return round(float(rng.uniform(*bounds)), 4)


def _sample_start(rng: np.random.Generator, ranges: ScenarioRanges, lat: float, lon: float):
    """(start POSIX time, phase, solar elevation): a minute of a random day in a weighted phase."""
    from skyviewer.sky.solar import solar_position

    day = datetime(ranges.year, 1, 1, tzinfo=timezone.utc).timestamp() + 86400 * rng.integers(365)
    minutes = day + 60.0 * np.arange(24 * 60)
    elevation = solar_position(lat, lon, minutes)[0]
    in_phase = {p: (elevation >= lo) & (elevation < hi) for p, (lo, hi) in PHASES.items()}
    phases = [p for p in PHASES if in_phase[p].any()]
    weights = np.array([ranges.phase_weights.get(p, 0.0) for p in phases])
    if weights.sum() == 0:  # the day has none of the wanted phases (polar day or night): take any
        weights[:] = 1.0
    phase = phases[rng.choice(len(phases), p=weights / weights.sum())]
    minute = rng.choice(np.flatnonzero(in_phase[phase]))
    return float(minutes[minute]), phase, round(float(elevation[minute]), 2)


def sample_scenario(rng: np.random.Generator, ranges: ScenarioRanges) -> Scenario:
    """Draw one scenario; all randomness comes from rng."""
    lat, lon = _uniform(rng, ranges.latitude_deg), _uniform(rng, ranges.longitude_deg)
    start, phase, elevation = _sample_start(rng, ranges, lat, lon)
    return Scenario(
        latitude_deg=lat,
        longitude_deg=lon,
        start_utc=datetime.fromtimestamp(start, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        phase=phase,
        sun_elevation_deg=elevation,
        turbidity=_uniform(rng, ranges.turbidity),
        cloud_cover=_uniform(rng, ranges.cloud_cover),
        cirrus_cover=_uniform(rng, ranges.cirrus_cover),
        wind_speed_mps=_uniform(rng, ranges.wind_speed_mps),
        wind_towards_deg=_uniform(rng, ranges.wind_towards_deg),
    )


def scenario_config(scenario: dict, resolution: int, step_seconds: float):
    """The SimConfig of a scenario (a Scenario's fields, as synth stores them in the manifest): its
    sky can be rendered again at any resolution (eval renders held-out skies at 2,048 px)."""
    from skyviewer.data.skysim import SimConfig

    drawn = [k for k in Scenario.__dataclass_fields__ if k not in ("phase", "sun_elevation_deg")]
    fields = {k: scenario[k] for k in drawn}
    return SimConfig(resolution=resolution, step_seconds=step_seconds, **fields)


def patch_positions(rng: np.random.Generator, resolution: int, size: int, shape: tuple) -> np.ndarray:
    """Top-left (row, col) (*shape, 2) int32 of size x size patches of a resolution-px fisheye whose
    centres are uniform over the horizon disc (clamped into the frame): patches see sky, and every
    zenith angle gets its share of the sky's area."""
    radius = 0.5 * resolution * np.sqrt(rng.uniform(size=shape))
    angle = rng.uniform(0.0, 2.0 * np.pi, size=shape)
    centre = 0.5 * resolution + radius[..., None] * np.stack([np.sin(angle), np.cos(angle)], axis=-1)
    return np.clip(np.rint(centre - 0.5 * size), 0, resolution - size).astype(np.int32)


def render_sequence(settings: SynthSettings, index: int) -> SkySequence:
    """Sequence `index` of the dataset `settings` describe (runs in a worker process)."""
    from skyviewer.data.skysim import SkySim
    from skyviewer.sky.radiance import to_storage

    seed = sequence_seed(settings.seed, index)
    rng = np.random.default_rng(seed)
    scenario = sample_scenario(rng, settings.ranges)
    config = scenario_config(asdict(scenario), settings.resolution, settings.step_seconds)
    sim = SkySim(config, seed)
    seq = sim.sequence(settings.frames)
    seq.attributes = {**seq.attributes, "scenario": asdict(scenario), "seed": seed}
    if spec := settings.patches:
        shape = (settings.frames, spec["per_frame"])
        seq.patch_positions = patch_positions(
            np.random.default_rng([seed, PATCH_STREAM]), spec["resolution"], spec["size"], shape
        )
        seq.patches = np.stack(
            [
                to_storage(sim.fisheye_patches(k, spec["resolution"], seq.patch_positions[k], spec["size"]))
                for k in range(settings.frames)
            ]
        )
        seq.__post_init__()  # check the shapes
    return seq


def _render_job(job: tuple[SynthSettings, int]) -> SkySequence:
    return render_sequence(*job)


def _ignore_sigint() -> None:
    # Ctrl-C goes to the whole process group: let the parent handle it and terminate
    # the pool, instead of every worker printing its own traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _render_all(jobs: list[tuple[SynthSettings, int]], workers: int) -> Iterator[SkySequence]:
    """The sequences of `jobs`, in order (the shard layout must not depend on timing)."""
    if workers == 1 or len(jobs) <= 1:
        yield from map(_render_job, jobs)
        return
    ctx = multiprocessing.get_context("spawn")  # no fork of a parent that may hold threads
    with ctx.Pool(min(workers, len(jobs)), initializer=_ignore_sigint) as pool:  # exit terminates
        yield from pool.imap(_render_job, jobs)


def synthesize(
    settings: SynthSettings,
    out: str | Path,
    *,
    workers: int = 1,
    resume: bool = False,
    overwrite: bool = False,
    command: str = "",
    progress: bool = True,
) -> Path:
    """Render the dataset into `out` (see DatasetWriter for the interruption guarantees)."""
    from tqdm import tqdm

    from skyviewer.data.store import DatasetWriter

    if workers < 1:
        raise UserError("--workers must be >= 1")
    provenance = {"tool": "skyviewer dataset synth", "command": command, "args": asdict(settings)}
    writer = DatasetWriter(
        out,
        settings.resolution,
        heldout_fraction=settings.heldout_fraction,
        overwrite=overwrite,
        resume=resume,
        provenance=provenance,
        patches=settings.patches,
    )
    jobs = [(settings, i) for i in range(writer.next_index, settings.sequences)]
    bar = tqdm(
        total=settings.sequences * settings.frames,
        initial=writer.next_index * settings.frames,
        unit="frame",
        desc="synth",
        disable=not progress,
        file=sys.stderr,
    )
    with writer, bar, closing(_render_all(jobs, workers)) as sequences:
        for seq in sequences:
            writer.add(seq)
            bar.update(len(seq.frames))
    return writer.path
