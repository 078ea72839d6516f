"""The path every importer shares: decode -> check -> to the canonical fisheye -> sequences.

An importer (laval, images, video) only finds its frames and says when each was taken:
it yields `Candidate`s in capture order. `import_frames` does the rest, the same way for
all of them, and records every frame it leaves out in the ImportReport.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from itertools import compress
from typing import Literal

import numpy as np

from skyviewer.data.importers.report import (
    ASPECT,
    DUPLICATE_TIME,
    OUT_OF_ORDER,
    SHORT_SEQUENCE,
    SIZE_MISMATCH,
    ImportReport,
    SequenceSummary,
    Skip,
)
from skyviewer.data.importers.timestamps import format_time
from skyviewer.data.types import SkySequence, empty_meta
from skyviewer.sky.radiance import to_storage
from skyviewer.sky.reproject import reproject

DEFAULT_MAX_GAP_SECONDS = 600.0
"""Timestamped captures (Laval, image folders) further apart than this are separate sequences."""
IRREGULAR_GAP = 0.5
"""A gap further than this fraction from the sequence's median gap is noted in the report."""


@dataclass(frozen=True)
class ImportOptions:
    """How source frames are read, turned into canonical sky images and grouped into sequences."""

    resolution: int = 256
    """Output fisheye size N (N x N)."""
    projection: Literal["fisheye", "equirect"] = "fisheye"
    """Layout of the source frames. equirect: 2:1 full sphere or 4:1 upper hemisphere."""
    square: Literal["crop", "squash"] = "crop"
    """Non-square fisheye frames: centre-crop to the short side, or squash to a square."""
    azimuth_offset_deg: float = 0.0
    """equirect: azimuth (degrees from north towards east) that the panorama's centre column faces."""
    max_gap_seconds: float | None = None
    """A capture gap longer than this starts a new sequence; None: DEFAULT_MAX_GAP_SECONDS,
    or for video 3 x step_seconds (a gap of two or more missing frames)."""
    min_frames: int = 2
    """Shorter sequences are dropped (and reported)."""
    max_frames: int = 500
    """A longer run continues in a new sequence: bounds memory (frames are held until written)."""
    latitude: float | None = None
    """Degrees north; with longitude and known capture times, fills in the sun direction."""
    longitude: float | None = None
    """Degrees east."""
    utc_offset_hours: float = 0.0
    """How far the camera clock of zone-less times (folder/file names, EXIF) is ahead of UTC."""
    scale_nits: float = 10_000.0
    """LDR (PNG, JPEG, video): radiance in nits that sRGB white (255) decodes to."""
    hdr_scale: float = 1.0
    """HDR (EXR, .hdr): factor from file values to nits (1: the files are in nits)."""
    every_n: int = 1
    """Video: keep every n-th decoded frame."""
    step_seconds: float | None = None
    """Video: sky time one kept frame represents (a time-lapse's frame rate is not sky time)."""


@dataclass
class Source:
    """One input PATH, as an importer found it: its frames in capture order, not yet decoded."""

    path: str
    """The PATH (folder or video file)."""
    kind: str
    """laval, images or video."""
    candidates: Iterable[Candidate]
    """Frames in capture order; may be a generator (video) that decodes as it goes."""
    total: int | None
    """Number of candidates if known up front (for the progress bar's ETA)."""
    options: ImportOptions
    """The options this source is imported with (Laval forces projection=equirect)."""
    attributes: dict
    """JSON extras kept with every sequence in the dataset manifest."""


@dataclass(frozen=True)
class Candidate:
    """A frame an importer found, not yet decoded."""

    label: str
    """How the report names it: the file path, or 'clip.mp4 frame 120'."""
    time_s: float
    """Capture time in seconds for ordering, gaps and t_seconds: POSIX time, or sky time for video."""
    unix_time: float
    """Absolute UTC POSIX time, NaN if unknown."""
    decode: Callable[[], np.ndarray]
    """Returns linear radiance (H, W, 3) float32 in nits; raises report.Skip."""


def _size(shape: tuple[int, ...]) -> str:
    """WxH of an (H, W, C) shape."""
    return f"{shape[1]}x{shape[0]}"


def to_canonical(image: np.ndarray, options: ImportOptions) -> np.ndarray:
    """(H, W, 3) source frame -> (N, N, 3) float32 canonical fisheye; raises Skip (aspect)."""
    if options.projection == "equirect":
        return reproject(
            _full_sphere(image, options.azimuth_offset_deg), "equirect", "fisheye", options.resolution
        )
    h, w = image.shape[:2]
    if options.square == "crop" and h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        image = image[top : top + s, left : left + s]
    # reproject reads fisheye coordinates relative to the image's own width and height,
    # so an uncropped rectangle is squashed onto the square; its box filter does the resize.
    return reproject(image, "fisheye", "fisheye", options.resolution)


def _full_sphere(image: np.ndarray, azimuth_offset_deg: float) -> np.ndarray:
    """A 2:1 canonical panorama (centre column north) from a 2:1 or 4:1 (upper-half) one."""
    h, w = image.shape[:2]
    if abs(w - 4 * h) <= 2:  # upper hemisphere only: the ground is black
        image = np.concatenate([image, np.zeros_like(image)], axis=0)
    elif abs(w - 2 * h) > 2:
        raise Skip(ASPECT, f"{w}x{h} is neither 2:1 (full sphere) nor 4:1 (upper hemisphere) lat-long")
    # Canonical column u faces azimuth (u - 0.5) * 360; the source's faces that plus the offset.
    shift = round(azimuth_offset_deg / 360.0 * image.shape[1])
    return np.roll(image, shift, axis=1) if shift else image


@dataclass
class _Run:
    """Frames of the sequence being collected."""

    frames: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    unix_times: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    source_shapes: list[tuple[int, ...]] = field(default_factory=list)


class SequenceBuilder:
    """Collects checked frames into runs and turns each run into a SkySequence."""

    def __init__(self, source: str, attributes: dict, options: ImportOptions, report: ImportReport) -> None:
        self.source, self.attributes, self.options, self.report = source, attributes, options, report
        self.run = _Run()
        self.last: tuple[float, str] | None = None  # (time, label) of the last frame kept, any run

    def check_order(self, c: Candidate) -> None:
        """Raise Skip if c is not strictly later than the last frame kept."""
        if self.last is None or c.time_s > self.last[0]:
            return
        code = DUPLICATE_TIME if c.time_s == self.last[0] else OUT_OF_ORDER
        word = "same time as" if code == DUPLICATE_TIME else "earlier than"
        raise Skip(code, f"{self._when(c.time_s, c.unix_time)}: {word} {self.last[1]} (kept)")

    def ends_run(self, c: Candidate) -> bool:
        """Whether c starts a new sequence: a capture gap over max_gap_seconds, or the run is full."""
        run, max_gap = self.run, self.options.max_gap_seconds
        max_gap = DEFAULT_MAX_GAP_SECONDS if max_gap is None else max_gap
        return bool(run.times) and (
            c.time_s - run.times[-1] > max_gap or len(run.frames) >= self.options.max_frames
        )

    def append(self, c: Candidate, source_shape: tuple[int, ...], frame: np.ndarray) -> None:
        run = self.run
        run.frames.append(to_storage(frame))
        run.times.append(c.time_s)
        run.unix_times.append(c.unix_time)
        run.labels.append(c.label)
        run.source_shapes.append(source_shape)
        self.last = (c.time_s, c.label)

    def keep_common_size(self, run: _Run) -> _Run:
        """The run's frames of the source size most of them have; the others are skipped.

        Decided over the whole run, not by its first frame, so one odd frame anywhere costs
        only itself; a tie goes to the size seen first. The choice is noted in the report.
        """
        counts = Counter(run.source_shapes)  # in first-seen order, which most_common keeps for ties
        if len(counts) == 1:
            return run
        shape, n = counts.most_common(1)[0]
        keep = [s == shape for s in run.source_shapes]
        why = f"the size of {n} of its {len(keep)} frames"
        for label, other in zip(run.labels, run.source_shapes, strict=True):
            if other != shape:
                self.report.skip(
                    label, SIZE_MISMATCH, f"{_size(other)} differs from its sequence's {_size(shape)} ({why})"
                )
        sizes = ", ".join(f"{_size(s)}: {k}" for s, k in counts.items())
        self.report.note(
            run.labels[keep.index(True)],
            f"frames of {len(counts)} sizes ({sizes}): the sequence is {_size(shape)}, {why}"
            f" (the most common; a tie goes to the first seen); {len(keep) - n} skipped as {SIZE_MISMATCH}",
        )
        return _Run(**{f.name: list(compress(getattr(run, f.name), keep)) for f in fields(run)})

    def finish_run(self) -> Iterator[SkySequence]:
        """Yield the collected run as a SkySequence (if long enough) and start a new one."""
        run, self.run = self.run, _Run()
        if not run.frames:
            return
        run = self.keep_common_size(run)
        if len(run.frames) < self.options.min_frames:
            self.report.skip(
                run.labels[0],
                SHORT_SEQUENCE,
                f"sequence of {len(run.frames)} frame(s) < --min-frames {self.options.min_frames}",
            )
            return
        times = np.asarray(run.times)
        gaps = np.sort(np.diff(times))
        # The lower median: a missing frame makes a gap longer, never shorter, so with two
        # gaps of 120 s and 240 s the step is 120 s, not their mean.
        step = float(gaps[(len(gaps) - 1) // 2])
        self._note_irregular_gaps(run, step)
        meta = empty_meta(len(times))
        meta["t_seconds"] = times - times[0]
        meta["unix_time"] = run.unix_times
        meta["sun_dir"] = self._sun_directions(np.asarray(run.unix_times))
        self.report.sequences.append(
            SequenceSummary(self.source, run.labels[0], run.labels[-1], len(times), step)
        )
        attributes = {**self.attributes, "first": run.labels[0], "last": run.labels[-1]}
        yield SkySequence(np.stack(run.frames), meta, step, self.source, attributes)

    def _note_irregular_gaps(self, run: _Run, step: float) -> None:
        for i, gap in enumerate(np.diff(run.times), start=1):
            if abs(gap - step) > IRREGULAR_GAP * step:
                self.report.note(
                    run.labels[i],
                    f"gap {gap:.4g} s from the previous frame; the sequence step is {step:.4g} s",
                )

    def _sun_directions(self, unix_times: np.ndarray) -> np.ndarray:
        """(T, 3) sun directions where place and time are known, NaN elsewhere."""
        out = np.full((len(unix_times), 3), np.nan, dtype=np.float32)
        known = np.isfinite(unix_times)
        if self.options.latitude is None or self.options.longitude is None or not known.any():
            return out
        from skyviewer.sky.solar import sun_direction

        out[known] = sun_direction(self.options.latitude, self.options.longitude, unix_times[known])
        return out

    @staticmethod
    def _when(time_s: float, unix_time: float) -> str:
        return format_time(unix_time) if math.isfinite(unix_time) else f"t={time_s:.6g} s"


def import_frames(source: Source, report: ImportReport, progress: bool = False) -> Iterator[SkySequence]:
    """Decode, check and reproject a source's candidates into SkySequences.

    Streams: holds one decoded source frame and at most one run of canonical frames.
    Every frame left out is recorded in `report` with its reason.
    """
    from tqdm import tqdm

    options = source.options
    builder = SequenceBuilder(source.path, source.attributes, options, report)
    bar = tqdm(source.candidates, total=source.total, desc=source.path, unit="frame", disable=not progress)
    for c in bar:
        try:
            builder.check_order(c)
            image = c.decode()
            frame = to_canonical(image, options)  # checks the frame itself before its sequence
            if builder.ends_run(c):
                yield from builder.finish_run()
        except Skip as e:
            report.skip(c.label, e.code, e.message)
            continue
        builder.append(c, image.shape, frame)
    yield from builder.finish_run()
