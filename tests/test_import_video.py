"""Video import: frames decoded back in order with the right count, sky time, colour; bad input.

The fixture video is written by the test with PyAV (H.264, yuv420p, like SkyTimelapse's
mp4s): flat frames whose grey level rises frame by frame, so order and count can be read
back from the pixels.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import av
import numpy as np
import pytest

from skyviewer.cli import main
from skyviewer.data.importers.pipeline import Candidate, ImportOptions, Source, import_frames
from skyviewer.data.importers.report import ImportReport
from skyviewer.data.importers.video import find_video
from skyviewer.data.store import SkyDataset
from skyviewer.sky.tonemap import srgb_encode

N = 16
SCALE = 10_000.0
FIRST_COLOUR = (200, 100, 50)
LEVELS = [20 + 15 * k for k in range(12)]  # grey level of frames 1..12 (frame 0 is FIRST_COLOUR)


def write_video(path: Path, fps: int = 24, width: int = 64, height: int = 48) -> None:
    """13 flat frames: FIRST_COLOUR, then greys at LEVELS."""
    colours = [FIRST_COLOUR] + [(v, v, v) for v in LEVELS]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for colour in colours:
            rgb = np.full((height, width, 3), colour, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())


def encoded_levels(frames: np.ndarray) -> np.ndarray:
    """8-bit sRGB levels (T, 3) of the centre pixels: the inverse of the import's decoding."""
    centre = frames[:, N // 2, N // 2].astype(np.float64) / SCALE
    return srgb_encode(centre) * 255.0


def import_video(path: Path, **options) -> tuple[list, ImportReport]:
    report = ImportReport("video", [str(path)], {})
    source = find_video(path, ImportOptions(resolution=N, **options), report)
    return list(import_frames(source, report)), report


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path)
    return path


def test_frames_come_back_in_order_with_sky_time(video):
    (seq,), report = import_video(video, step_seconds=30.0)
    assert report.skipped == [] and report.notes == []
    assert seq.frames.shape == (13, N, N, 3) and seq.step_seconds == 30.0
    np.testing.assert_allclose(seq.meta["t_seconds"], 30.0 * np.arange(13))
    assert np.isnan(seq.meta["unix_time"]).all() and np.isnan(seq.meta["sun_dir"]).all()
    levels = encoded_levels(seq.frames)
    # yuv420p limited-range round trip: within 3 levels of what was encoded.
    np.testing.assert_allclose(levels[0], FIRST_COLOUR, atol=3)
    np.testing.assert_allclose(levels[1:, 1], LEVELS, atol=3)
    assert np.all(np.diff(levels[1:, 1]) > 0)
    assert seq.attributes["first"] == f"{video} frame 0" and seq.attributes["last"] == f"{video} frame 12"


def test_every_n_keeps_every_nth_frame(video):
    (seq,), _ = import_video(video, step_seconds=60.0, every_n=4)
    assert len(seq.frames) == 4  # frames 0, 4, 8, 12
    np.testing.assert_allclose(seq.meta["t_seconds"], [0, 60, 120, 180])
    np.testing.assert_allclose(encoded_levels(seq.frames)[1:, 1], LEVELS[3::4], atol=3)


def test_corrupt_video_is_skipped(tmp_path, video):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    truncated = tmp_path / "truncated.mp4"  # the mp4 index (moov) is at the end: cut off
    truncated.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    for path in (junk, truncated):
        seqs, report = import_video(path, step_seconds=30.0)
        assert seqs == []
        (skip,) = report.skipped
        assert (skip.path, skip.code) == (str(path), "unreadable")
        assert skip.reason.startswith("cannot open video:")


def flat_candidate(label: str, time_s: float, value: float = 1.0, size: int = 8) -> Candidate:
    return Candidate(label, time_s, math.nan, lambda: np.full((size, size, 3), value, np.float32))


def test_duplicate_and_out_of_order_times_are_skipped():
    times = [0.0, 10.0, 10.0, 5.0, 20.0, 30.0, 40.0, 100.0]
    candidates = [flat_candidate(f"frame {i}", t) for i, t in enumerate(times)]
    candidates[6] = flat_candidate("frame 6", 40.0, size=12)  # a different size mid-sequence
    options = ImportOptions(resolution=N, max_gap_seconds=30.0)
    report = ImportReport("video", [], {})
    seqs = list(import_frames(Source("clip", "video", candidates, len(candidates), options, {}), report))
    assert [(s.path, s.code) for s in report.skipped] == [
        ("frame 2", "duplicate_time"),
        ("frame 3", "out_of_order"),
        ("frame 6", "size_mismatch"),
        ("frame 7", "short_sequence"),  # alone after the 60 s gap
    ]
    assert report.skipped[0].reason == "t=10 s: same time as frame 1 (kept)"
    assert report.skipped[1].reason == "t=5 s: earlier than frame 1 (kept)"
    (seq,) = seqs
    np.testing.assert_array_equal(seq.meta["t_seconds"], [0, 10, 20, 30])


def test_cli_imports_a_folder_of_videos(tmp_path, video, capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(video.read_bytes())
    (folder / "b.mp4").write_bytes(b"junk")
    out = tmp_path / "ds"
    base = ["dataset", "import", str(folder), "--out", str(out), "--resolution", str(N)]
    assert main(base) == 2
    assert "--step-seconds is required" in capsys.readouterr().err
    assert main([*base, "--step-seconds", "30", "--every-n", "2"]) == 0
    ds = SkyDataset.open(out)
    (seq_id,) = ds.sequence_ids()
    assert ds.num_frames == 7 and ds.step_seconds == 30.0
    np.testing.assert_allclose(ds.meta(seq_id)["t_seconds"], 30.0 * np.arange(7))
    report = json.loads((tmp_path / "ds.import-report.json").read_text())
    assert report["counts"]["skipped"] == {"unreadable": 1}
    assert report["skipped"][0]["path"] == str(folder / "b.mp4")
