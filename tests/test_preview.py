"""Dataset previews: captions, exposure, and the PNG/GIF files (decoded back with Pillow)."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from itertools import pairwise

import numpy as np
import pytest
from PIL import Image

from skyviewer.data import preview
from skyviewer.data.store import DatasetWriter, SkyDataset
from skyviewer.data.types import SkySequence, empty_meta
from skyviewer.errors import UserError

N, T = 24, 4
NOON_UTC = datetime(2024, 6, 21, 12, 0, tzinfo=timezone.utc).timestamp()


def darkening_sequence(i: int, longitude: float | None) -> SkySequence:
    """A smooth sky that loses one stop per frame, with known time, sun and cloud cover."""
    rng = np.random.default_rng(i)
    base = 2000.0 * (0.5 + rng.random((1, N, N, 3)))
    frames = (base * 0.5 ** np.arange(T)[:, None, None, None]).astype(np.float32)
    meta = empty_meta(T)
    meta["t_seconds"] = np.arange(T) * 60.0
    meta["unix_time"] = NOON_UTC + meta["t_seconds"]
    meta["sun_dir"] = [0.0, math.sin(math.radians(30)), -math.cos(math.radians(30))]
    meta["cloud_cover"] = 0.25
    attributes = {} if longitude is None else {"scenario": {"longitude_deg": longitude}}
    return SkySequence(frames, meta, 60.0, "test", attributes)


@pytest.fixture
def dataset(tmp_path):
    with DatasetWriter(tmp_path / "ds", N) as w:
        w.add(darkening_sequence(0, longitude=30.0))
        w.add(darkening_sequence(1, longitude=None))
        seq = darkening_sequence(2, longitude=None)
        seq.meta["unix_time"] = np.nan
        w.add(seq)
    return SkyDataset.open(tmp_path / "ds")


def test_captions(dataset):
    assert preview.frame_clock(dataset, "seq-00000", 1) == "14:01:00"  # 12:01 UTC + 30 deg east = 2 h
    assert preview.frame_clock(dataset, "seq-00001", 0) == "12:00:00Z"  # place unknown: UTC
    assert preview.frame_clock(dataset, "seq-00002", 2) == "+120s"  # time unknown: sky time
    assert preview.sequence_caption(dataset, "seq-00000") == "seq-00000 heldout  cloud 0.25  sun 30°"


def test_one_exposure_per_sequence_shows_darkening(dataset):
    images = preview.animation(dataset, "seq-00001", size=64)
    centre = [np.asarray(im)[24:40, 24:40].mean() for im in images]
    assert all(a > b + 5 for a, b in pairwise(centre))  # each frame a stop darker
    assert 30 < centre[1] < 225  # exposed around the middle: neither black nor blown out
    assert np.asarray(images[0])[0, 0].max() == 0  # below the horizon: black


def test_write_preview_files(dataset, tmp_path):
    sheet_path, gif_path = preview.write_preview(dataset.path, tmp_path / "out", "seq-00002")
    assert (sheet_path.name, gif_path.name) == ("contact-sheet.png", "seq-00002.gif")
    with Image.open(sheet_path) as sheet:
        assert sheet.size == (T * preview.TILE, 3 * (preview.HEADER + preview.TILE))
        assert np.asarray(sheet.convert("RGB")).mean() > 20
    with Image.open(gif_path) as gif:
        assert gif.size == (preview.GIF_SIZE, preview.GIF_SIZE)
        assert gif.n_frames == T


def test_unknown_sequence_is_a_user_error(dataset, tmp_path):
    with pytest.raises(UserError, match="no sequence 'nope'"):
        preview.write_preview(dataset.path, tmp_path / "out", "nope")
