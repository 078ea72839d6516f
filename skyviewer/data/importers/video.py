"""Video files (e.g. SkyTimelapse mp4s), decoded one frame at a time with PyAV.

Frames are sRGB-decoded like LDR images. Sky time comes from each frame's pts: a kept
frame advances the sky by --step-seconds, so time = (pts - first pts) / (n / fps) * step,
and a dropped or duplicated frame in the stream shows up as an irregular gap.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from skyviewer.data.importers.pipeline import Candidate, ImportOptions, Source
from skyviewer.data.importers.report import NO_TIMESTAMP, UNREADABLE, ImportReport
from skyviewer.sky.tonemap import srgb_decode

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm")


def frame_to_linear(frame, scale_nits: float) -> np.ndarray:
    """(H, W, 3) float32 linear radiance of a PyAV VideoFrame (sRGB; 16-bit keeps 10/12-bit precision)."""
    encoded = frame.to_ndarray(format="rgb48le").astype(np.float32) / 65535.0
    return srgb_decode(encoded).astype(np.float32) * np.float32(scale_nits)


def _frame_count(path: Path, every_n: int) -> int | None:
    """Kept frames according to the container header (for the ETA), or None if it does not say."""
    import av

    try:
        with av.open(str(path)) as container:
            n = container.streams.video[0].frames if container.streams.video else 0
    except av.FFmpegError:
        return None  # the decode pass reports it
    return math.ceil(n / every_n) if n else None


def _candidates(path: Path, options: ImportOptions, report: ImportReport) -> Iterator[Candidate]:
    """Kept frames of the first video stream, decoded lazily; a decode error ends the file."""
    import av

    try:
        container = av.open(str(path))
    except av.FFmpegError as e:
        report.skip(str(path), UNREADABLE, f"cannot open video: {e}")
        return
    with container:
        if not container.streams.video:
            report.skip(str(path), UNREADABLE, "no video stream")
            return
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or 1
        kept_interval = options.every_n / float(rate)  # stream seconds between kept frames
        first_pts_s = None
        index = -1
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index % options.every_n:
                    continue
                label = f"{path} frame {index}"
                if frame.pts is None:
                    report.skip(label, NO_TIMESTAMP, "frame has no pts")
                    continue
                pts_s = float(frame.pts * stream.time_base)
                first_pts_s = pts_s if first_pts_s is None else first_pts_s
                sky_s = (pts_s - first_pts_s) / kept_interval * options.step_seconds
                # The frame is converted only when the pipeline decodes this candidate,
                # before the next one is demuxed: one decoded frame in memory at a time.
                yield Candidate(
                    label, sky_s, math.nan, lambda f=frame: frame_to_linear(f, options.scale_nits)
                )
        except av.FFmpegError as e:
            report.skip(
                f"{path} frame {index + 1}", UNREADABLE, f"decoding stopped, rest of the file left out: {e}"
            )


def find_video(path: Path, options: ImportOptions, report: ImportReport) -> Source:
    """One video file as a source; options.step_seconds must be set."""
    attributes = {
        "kind": "video",
        "projection": options.projection,
        "square": options.square,
        "scale_nits": options.scale_nits,
        "every_n": options.every_n,
    }
    if options.max_gap_seconds is None:
        options = replace(options, max_gap_seconds=3 * options.step_seconds)
    total = _frame_count(path, options.every_n)
    return Source(str(path), "video", _candidates(path, options, report), total, options, attributes)
