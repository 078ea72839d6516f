"""The dataset store: write -> read round trips, shards, splits, interruption and resume, corruption."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from skyviewer.data.store import DatasetWriter, SkyDataset, is_heldout
from skyviewer.data.types import FRAME_META_DTYPE, SkySequence, empty_meta
from skyviewer.errors import UserError
from skyviewer.sky.radiance import to_storage

N, T = 16, 3
SEQ_BYTES = T * N * N * 3 * 2
PER_SHARD = 2  # shard_max_bytes below makes every shard hold two sequences


def make_sequence(i: int) -> SkySequence:
    """Sequence i of the test source: random HDR frames, reproducible by index."""
    rng = np.random.default_rng(i)
    frames = (rng.random((T, N, N, 3)) * 10.0 ** rng.uniform(-3, 4)).astype(np.float32)
    frames[0, N // 2, N // 2] = 1e9  # a sun far beyond float16: must be clamped, not inf
    meta = empty_meta(T)
    meta["t_seconds"] = np.arange(T) * 30.0
    meta["cloud_cover"] = rng.random()
    return SkySequence(frames, meta, 30.0, f"test {i}", {"index": i})


def write(path: Path, count: int, **kwargs) -> None:
    with DatasetWriter(path, N, shard_max_bytes=PER_SHARD * SEQ_BYTES, **kwargs) as w:
        for i in range(w.next_index, count):
            w.add(make_sequence(i))


@pytest.fixture
def dataset(tmp_path) -> Path:
    path = tmp_path / "ds"
    write(path, 5, provenance={"args": {"n": 5}})
    return path


def test_round_trip(dataset):
    ds = SkyDataset.open(dataset)
    assert (ds.resolution, ds.num_sequences, ds.num_frames, ds.step_seconds) == (N, 5, 5 * T, 30.0)
    assert len(ds.manifest["shards"]) == 3  # 2 + 2 + 1 sequences
    for k, seq_id in enumerate(ds.sequence_ids()):
        expected = make_sequence(k)
        frames = ds.frames(seq_id)
        assert isinstance(frames, np.memmap) and frames.dtype == np.float16 and frames.shape == (T, N, N, 3)
        np.testing.assert_array_equal(frames, to_storage(expected.frames))
        assert frames.max() == 65504.0  # the clamped sun
        assert ds.meta(seq_id).tobytes() == expected.meta.tobytes()  # NaN-aware equality
        assert ds.meta(seq_id).dtype == FRAME_META_DTYPE
        record = ds.records[seq_id]
        assert (record.source, record.attributes) == (expected.source, expected.attributes)
        assert record.luminance["max"] == pytest.approx(65504.0)
    assert ds.sequence_ids("heldout") == ["seq-00000"]
    assert ds.sequence_ids("train") == [f"seq-{i:05d}" for i in range(1, 5)]
    ds.verify()


def test_split_rule_is_exact_and_streaming():
    assert sum(is_heldout(i, 0.1) for i in range(100)) == 10
    assert sum(is_heldout(i, 0.25) for i in range(8)) == 2
    assert not any(is_heldout(i, 0.0) for i in range(50))
    assert all(is_heldout(i, 1.0) for i in range(50))


def test_bad_sequences_are_refused(tmp_path):
    with pytest.raises(ValueError, match="NaN"), DatasetWriter(tmp_path / "a", N) as w:
        seq = make_sequence(0)
        seq.frames[1, 2, 3, 0] = np.nan
        w.add(seq)
    with pytest.raises(ValueError, match="32 px"), DatasetWriter(tmp_path / "b", N) as w:
        w.add(SkySequence(np.zeros((1, 32, 32, 3)), empty_meta(1), 1.0, "x"))
    with pytest.raises(ValueError, match="duplicate"), DatasetWriter(tmp_path / "c", N) as w:
        w.add(make_sequence(0), "same")
        w.add(make_sequence(1), "same")


def test_existing_dataset_is_refused_without_overwrite(dataset):
    with pytest.raises(UserError, match="already exists.*--overwrite"):
        DatasetWriter(dataset, N)


def test_overwrite_refuses_a_folder_that_is_not_a_dataset(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(UserError, match="notes is not a skyviewer dataset"):
        DatasetWriter(tmp_path / "notes", N, overwrite=True)
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def test_failed_overwrite_keeps_the_old_dataset(dataset):
    before = SkyDataset.open(dataset).frames("seq-00004").copy()
    with (
        pytest.raises(RuntimeError),
        DatasetWriter(dataset, N, overwrite=True, shard_max_bytes=SEQ_BYTES) as w,
    ):
        for i in range(3):
            w.add(make_sequence(10 + i))
        raise RuntimeError("source failed")
    ds = SkyDataset.open(dataset)
    assert ds.num_sequences == 5
    np.testing.assert_array_equal(ds.frames("seq-00004"), before)
    # a later overwrite that succeeds replaces it and leaves no leftovers
    write(dataset, 2, overwrite=True)
    assert SkyDataset.open(dataset).num_sequences == 2
    assert sorted(p.name for p in dataset.parent.iterdir()) == ["ds"]


CHILD_BLOCKS_AT = 5  # the child stops before adding this sequence: shards 0-1 written, seq 4 buffered


def test_kill_mid_write_then_resume_matches_uninterrupted_run(tmp_path):
    path = tmp_path / "ds"
    child = subprocess.Popen([sys.executable, __file__, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "blocked"
        child.kill()
    finally:
        child.wait(timeout=30)
    assert not path.exists()
    with pytest.raises(UserError, match="no such dataset"):
        SkyDataset.open(path)
    partial = tmp_path / "ds.partial"
    with pytest.raises(UserError, match="incomplete"):
        SkyDataset.open(partial)
    with pytest.raises(UserError, match="--resume"):
        DatasetWriter(path, N)
    with pytest.raises(UserError, match="different settings"):
        DatasetWriter(path, N, resume=True, provenance={"args": {"n": 6}})

    with DatasetWriter(path, N, resume=True, shard_max_bytes=PER_SHARD * SEQ_BYTES, provenance=ARGS) as w:
        assert w.next_index == 4  # the buffered sequence 4 was lost with the process
        for i in range(w.next_index, 7):
            w.add(make_sequence(i))
    write(tmp_path / "ref", 7, provenance=ARGS)

    resumed, ref = SkyDataset.open(path), SkyDataset.open(tmp_path / "ref")
    assert resumed.manifest["shards"] == ref.manifest["shards"]  # same files, same sha256
    assert resumed.manifest["sequences"] == ref.manifest["sequences"]
    for seq_id in ref.sequence_ids():
        np.testing.assert_array_equal(resumed.frames(seq_id), ref.frames(seq_id))
    resumed.verify()


ARGS = {"args": {"n": 7}}


def child_main(path: str) -> None:
    """The killed writer of the test above: writes until CHILD_BLOCKS_AT, then waits to be killed."""
    with DatasetWriter(path, N, shard_max_bytes=PER_SHARD * SEQ_BYTES, provenance=ARGS) as w:
        for i in range(7):
            if i == CHILD_BLOCKS_AT:
                print("blocked", flush=True)
                time.sleep(60)
            w.add(make_sequence(i))


# ---------------------------------------------------------------- corruption


def edit_manifest(**changes):
    def edit(ds: Path) -> None:
        m = json.loads((ds / "manifest.json").read_text())
        for key, value in changes.items():
            target = m
            *parents, last = key.split(".")
            for p in parents:
                target = target[int(p)] if p.isdigit() else target[p]
            if value is None:
                del target[last]
            else:
                target[last] = value
        (ds / "manifest.json").write_text(json.dumps(m))

    return edit


def truncate(name: str, keep: int):
    def edit(ds: Path) -> None:
        f = ds / name
        f.write_bytes(f.read_bytes()[:keep])

    return edit


def replace_npy(name: str, array: np.ndarray):
    return lambda ds: np.save(ds / "shards" / name, array)


def unlink(name: str):
    return lambda ds: (ds / name).unlink()


def overwrite(name: str, data: bytes):
    return lambda ds: (ds / name).write_bytes(data)


CORRUPTIONS = {
    "no manifest": (unlink("manifest.json"), "manifest.json: not found"),
    "bad json": (truncate("manifest.json", 100), "manifest.json: unreadable manifest"),
    "wrong format": (edit_manifest(format="other"), "manifest.json: format is 'other'"),
    "wrong version": (edit_manifest(version=99), "manifest.json: version 99 unsupported"),
    "incomplete": (edit_manifest(complete=False), "manifest.json: the dataset is incomplete"),
    "missing key": (edit_manifest(sequences=None), "manifest.json: malformed manifest"),
    "count mismatch": (edit_manifest(**{"shards.0.count": 5}), "manifest.json: shard 0 holds 5 frames"),
    "unsafe name": (edit_manifest(**{"shards.1.frames": "../../x.npy"}), "'../../x.npy' is not a plain file"),
    "missing shard": (
        lambda ds: (ds / "shards/frames-00001.npy").unlink(),
        "frames-00001.npy: shard file is missing",
    ),
    "truncated shard": (
        truncate("shards/frames-00000.npy", 1000),
        "frames-00000.npy: is 1000 bytes, expected",
    ),
    "not npy": (
        lambda ds: (ds / "shards/meta-00002.npy").write_bytes(b"junk" * 50),
        "meta-00002.npy: not a valid",
    ),
    "wrong resolution": (edit_manifest(resolution=32), "frames-00000.npy: holds (6, 16, 16, 3) float16"),
    "wrong dtype": (
        replace_npy("frames-00002.npy", np.zeros((T, N, N, 3), np.float32)),
        "frames-00002.npy: holds",
    ),
    "wrong meta": (replace_npy("meta-00000.npy", np.zeros(2 * T)), "meta-00000.npy: holds (6,) float64"),
}


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_corruption_gives_a_clear_error_naming_the_file(dataset, case):
    corrupt, message = CORRUPTIONS[case]
    corrupt(dataset)
    with pytest.raises(UserError, match=re.escape(message)):
        SkyDataset.open(dataset)


def test_verify_detects_flipped_bytes(dataset):
    shard = dataset / "shards" / "frames-00001.npy"
    data = bytearray(shard.read_bytes())
    data[-7] ^= 0x40
    shard.write_bytes(bytes(data))
    ds = SkyDataset.open(dataset)  # shapes and sizes still match: only the hash can tell
    with pytest.raises(UserError, match="frames-00001.npy: sha256 does not match"):
        ds.verify()


# ---------------------------------------------------------------- older meta, patches

OLD_META_FIELDS = ["t_seconds", "unix_time", "sun_dir", "cloud_cover", "wind"]  # before the wind fields


def test_a_dataset_written_before_the_wind_fields_reads_them_as_nan(dataset):
    """Rewrite every meta shard (and the manifest's frame_meta) the way older skyviewers wrote them."""
    manifest = json.loads((dataset / "manifest.json").read_text())
    old = np.dtype([(name, *FRAME_META_DTYPE.fields[name][:1]) for name in OLD_META_FIELDS])
    for shard in manifest["shards"]:
        path = dataset / "shards" / shard["meta"]
        stored = np.load(path)
        np.save(path, np.array(stored[OLD_META_FIELDS], dtype=old))
    manifest["frame_meta"] = [f for f in manifest["frame_meta"] if f["name"] in OLD_META_FIELDS]
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    ds = SkyDataset.open(dataset)
    for k, seq_id in enumerate(ds.sequence_ids()):
        meta = ds.meta(seq_id)
        assert meta.dtype == FRAME_META_DTYPE
        np.testing.assert_array_equal(meta["t_seconds"], make_sequence(k).meta["t_seconds"])
        np.testing.assert_array_equal(meta["cloud_cover"], make_sequence(k).meta["cloud_cover"])
        assert np.isnan(meta["wind_speed_mps"]).all() and np.isnan(meta["wind_towards_deg"]).all()
    manifest["frame_meta"][0]["dtype"] = "<i2"  # a field this skyviewer does not know like that
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="frame_meta field 't_seconds'"):
        SkyDataset.open(dataset)


PATCHES = {"resolution": 64, "size": 8, "per_frame": 3}


def with_patches(i: int) -> SkySequence:
    seq = make_sequence(i)
    rng = np.random.default_rng(100 + i)
    seq.patches = (rng.random((T, 3, 8, 8, 3)) * 100.0).astype(np.float32)
    seq.patch_positions = rng.integers(0, 64 - 8 + 1, (T, 3, 2))
    return seq


def test_patches_round_trip_and_are_checked(tmp_path):
    path = tmp_path / "ds"
    with DatasetWriter(path, N, shard_max_bytes=PER_SHARD * SEQ_BYTES, patches=PATCHES) as w:
        for i in range(3):
            w.add(with_patches(i))
        with pytest.raises(ValueError, match="has no patches"):
            w.add(make_sequence(9))
        bad = with_patches(9)
        bad.patch_positions[0, 0] = [0, 57]
        with pytest.raises(ValueError, match="outside the 64 px frame"):
            w.add(bad)
    ds = SkyDataset.open(path)
    assert ds.patch_spec["resolution"] == 64 and ds.patch_spec["per_frame"] == 3
    assert "patches     3 per frame, 8 x 8 px of the 64 px frame" in ds.summary()
    for k, seq_id in enumerate(ds.sequence_ids()):
        expected = with_patches(k)
        assert isinstance(ds.patches(seq_id), np.memmap)
        np.testing.assert_array_equal(ds.patches(seq_id), to_storage(expected.patches))
        np.testing.assert_array_equal(ds.patch_positions(seq_id), expected.patch_positions)
    ds.verify()
    with pytest.raises(ValueError, match="started without"):
        with DatasetWriter(tmp_path / "other", N) as w:
            w.add(with_patches(0))
    write(tmp_path / "plain", 1)
    plain = SkyDataset.open(tmp_path / "plain")
    with pytest.raises(UserError, match="has no patches"):
        plain.patches(plain.sequence_ids()[0])
    truncate("shards/patches-00001.npy", 500)(path)
    with pytest.raises(UserError, match="patches-00001.npy: is 500 bytes"):
        SkyDataset.open(path)


def test_resume_refuses_other_patch_settings(tmp_path):
    path = tmp_path / "ds"
    writer = DatasetWriter(path, N, shard_max_bytes=PER_SHARD * SEQ_BYTES, patches=PATCHES)
    for i in range(3):
        writer.add(with_patches(i))
    writer.flush()  # killed here: the partial holds the shards so far
    with pytest.raises(UserError, match="different settings"):
        DatasetWriter(path, N, resume=True, patches={**PATCHES, "size": 16})
    resumed = DatasetWriter(path, N, shard_max_bytes=PER_SHARD * SEQ_BYTES, resume=True, patches=PATCHES)
    assert resumed.next_index == 3


if __name__ == "__main__":
    child_main(sys.argv[1])
