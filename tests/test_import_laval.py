"""Laval HDR sky database import: layout, reprojection geometry, sequences, sun, bad captures.

Fixtures are small lat-long EXRs written with OpenEXR: a uniform sky plus a bright spot
at a known direction, which must land at that direction's canonical fisheye pixel.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import numpy as np
import OpenEXR
import pytest

from skyviewer.cli import build_parser, main
from skyviewer.data.importers.laval import find_laval
from skyviewer.data.importers.pipeline import ImportOptions, import_frames
from skyviewer.data.importers.report import ImportReport
from skyviewer.data.store import SkyDataset
from skyviewer.sky import projection as proj
from skyviewer.sky.solar import sun_direction

N = 32  # output fisheye size
H = 64  # lat-long panorama height (full sphere: H x 2H)
SKY_NITS = 1000.0
SPOT_NITS = 50_000.0
SPOT_ZENITH_DEG, SPOT_AZIMUTH_DEG = 40.0, 60.0  # north-east, above the horizon
SPOT_RADIUS_DEG = 6.0


def write_exr(path, channels: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in channels.items()}).write(
        str(path)
    )


def panorama(height: int = H, upper_half: bool = False, azimuth_offset_deg: float = 0.0) -> np.ndarray:
    """(h, 2h or 4h, 3) lat-long sky: SKY_NITS above the horizon, a spot at the known direction.

    azimuth_offset_deg: the azimuth the panorama's centre column faces (as --azimuth-offset-deg).
    """
    rows = height if not upper_half else 2 * height  # rows of the full sphere
    u, v = np.meshgrid((np.arange(2 * rows) + 0.5) / (2 * rows), (np.arange(rows) + 0.5) / rows)
    d = proj.equirect_uv_to_direction(u, v)
    zenith, azimuth = proj.angles_from_direction(d)
    spot = proj.direction_from_angles(
        math.radians(SPOT_ZENITH_DEG), math.radians(SPOT_AZIMUTH_DEG - azimuth_offset_deg)
    )
    angle = np.degrees(np.arccos(np.clip(d @ spot, -1, 1)))
    radiance = np.where(zenith < math.pi / 2, SKY_NITS, 0.0) + SPOT_NITS * (angle < SPOT_RADIUS_DEG)
    image = np.repeat(radiance[..., None], 3, axis=-1) * [1.0, 0.9, 0.8]
    return image[:height] if upper_half else image


def rgb(image: np.ndarray) -> dict[str, np.ndarray]:
    return {"R": image[..., 0], "G": image[..., 1], "B": image[..., 2]}


def expected_spot_pixel() -> tuple[float, float]:
    """(row, col) of the spot direction in the canonical N x N fisheye (pixel-centre units)."""
    d = proj.direction_from_angles(math.radians(SPOT_ZENITH_DEG), math.radians(SPOT_AZIMUTH_DEG))
    u, v, _ = proj.direction_to_fisheye_uv(d)
    return float(v) * N - 0.5, float(u) * N - 0.5


def spot_centroid(frame: np.ndarray) -> tuple[float, float]:
    y = frame[..., 1].astype(np.float64)
    weight = np.where(y > 2 * SKY_NITS, y, 0.0)
    rows, cols = np.indices(y.shape)
    return float((weight * rows).sum() / weight.sum()), float((weight * cols).sum() / weight.sum())


def import_laval(root, **options) -> tuple[list, ImportReport]:
    report = ImportReport("laval", [str(root)], {})
    source = find_laval(root, ImportOptions(resolution=N, **options), report)
    return list(import_frames(source, report)), report


# Two runs two hours apart; the second has one late capture (a 5-minute gap in 2-minute steps).
RUN_A = ["120000", "120200", "120400", "120600"]
RUN_B = ["140000", "140200", "140400", "140900"]


@pytest.fixture
def laval_root(tmp_path):
    root = tmp_path / "laval"
    for clock in RUN_A + RUN_B:
        write_exr(root / "20240501" / clock / "envmap.exr", rgb(panorama()))
    return root


def test_two_sequences_split_at_the_gap_with_median_step(laval_root):
    seqs, report = import_laval(laval_root)
    assert [len(s.frames) for s in seqs] == [4, 4]
    assert [s.step_seconds for s in seqs] == [120.0, 120.0]
    assert seqs[0].frames.shape == (4, N, N, 3)
    t0 = 1714564800.0  # 2024-05-01T12:00:00Z
    np.testing.assert_array_equal(seqs[0].meta["unix_time"], t0 + np.array([0, 120, 240, 360]))
    np.testing.assert_array_equal(seqs[1].meta["t_seconds"], [0, 120, 240, 540])
    assert np.isnan(seqs[0].meta["sun_dir"]).all()  # no --latitude/--longitude
    assert [n.path.split("/")[-2] for n in report.notes] == ["140900"]  # the late capture
    assert "gap 300 s" in report.notes[0].message
    assert report.skipped == []


@pytest.mark.parametrize("upper_half", [False, True], ids=["full-sphere", "upper-half"])
def test_bright_spot_lands_at_its_fisheye_pixel(tmp_path, upper_half):
    root = tmp_path / "laval"
    for clock in RUN_A[:2]:
        write_exr(root / "20240501" / clock / "envmap.exr", rgb(panorama(upper_half=upper_half)))
    (seq,), _ = import_laval(root)
    frame = seq.frames[0].astype(np.float32)
    np.testing.assert_allclose(spot_centroid(frame), expected_spot_pixel(), atol=0.5)
    # North-east is up and to the LEFT in the canonical image (east is left, seen from below).
    assert spot_centroid(frame)[0] < N / 2 and spot_centroid(frame)[1] < N / 2
    centre = frame[N // 2, N // 2]
    np.testing.assert_allclose(centre, SKY_NITS * np.array([1.0, 0.9, 0.8]), rtol=1e-3)


def test_azimuth_offset_turns_the_panorama_to_north(tmp_path):
    root = tmp_path / "laval"
    for clock in RUN_A[:2]:  # the camera's panorama centre faces east
        write_exr(root / "20240501" / clock / "envmap.exr", rgb(panorama(azimuth_offset_deg=90.0)))
    (seq,), _ = import_laval(root, azimuth_offset_deg=90.0)
    np.testing.assert_allclose(
        spot_centroid(seq.frames[0].astype(np.float32)), expected_spot_pixel(), atol=0.5
    )


def test_sun_direction_from_latitude_longitude(laval_root):
    seqs, _ = import_laval(laval_root, latitude=46.8, longitude=-71.2)  # Quebec City
    meta = seqs[0].meta
    np.testing.assert_allclose(meta["sun_dir"], sun_direction(46.8, -71.2, meta["unix_time"]), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(meta["sun_dir"], axis=-1), 1.0, atol=1e-5)


def test_bad_captures_are_skipped_with_reasons(laval_root):
    day = laval_root / "20240501"
    good = day / "120000" / "envmap.exr"
    data = good.read_bytes()
    (day / "120100").mkdir()  # no envmap.exr
    (day / "120130" / "envmap.exr").parent.mkdir()
    (day / "120130" / "envmap.exr").write_bytes(data[: len(data) // 2])  # truncated
    (day / "120140" / "envmap.exr").parent.mkdir()
    (day / "120140" / "envmap.exr").write_bytes(b"not an exr at all")  # corrupt
    bad = {
        "120150": rgb(np.where(np.indices((H, 2 * H, 3))[1] == 5, np.nan, panorama())),
        "120210": rgb(np.where(np.indices((H, 2 * H, 3))[1] == 5, np.inf, panorama())),
        "120220": rgb(panorama() - 2000.0),
        "120230": {"R": panorama()[..., 0], "G": panorama()[..., 1]},  # 2 channels
        "120240": {**rgb(panorama()), "A": np.full((H, 2 * H), 0.5)},  # masked (4 channels)
        "120250": rgb(panorama()[:, : 3 * H // 2]),  # 3:2, no lat-long
        "120300": rgb(panorama(height=H // 2)),  # half the size of its sequence
    }
    for clock, channels in bad.items():
        write_exr(day / clock / "envmap.exr", channels)
    write_exr(day / "120310" / "envmap.exr", {**rgb(panorama()), "A": np.ones((H, 2 * H))})  # opaque: fine
    seqs, report = import_laval(laval_root)

    reasons = {
        s.path.split("/")[-2] if s.path.endswith(".exr") else s.path.split("/")[-1]: s for s in report.skipped
    }
    codes = {clock: s.code for clock, s in reasons.items()}
    assert codes == {
        "120100": "missing_file",
        "120130": "unreadable",
        "120140": "unreadable",
        "120150": "non_finite",
        "120210": "non_finite",
        "120220": "negative",
        "120230": "channels",
        "120240": "channels",
        "120250": "aspect",
        "120300": "size_mismatch",
    }
    assert "64 pixel(s) with NaN and 0 with Inf" in reasons["120150"].reason
    assert "0 pixel(s) with NaN and 64 with Inf" in reasons["120210"].reason
    assert "pixel(s) with negative radiance, min -2000" in reasons["120220"].reason
    assert "G,R" in reasons["120230"].reason and "not opaque" in reasons["120240"].reason
    assert "64x32 differs from its sequence's 128x64" in reasons["120300"].reason
    assert [len(s.frames) for s in seqs] == [5, 4]  # the good ones, opaque RGBA included


def test_cli_writes_a_dataset_and_report(laval_root, tmp_path, capsys):
    out = tmp_path / "sky"
    args = ["dataset", "import", str(laval_root), "--out", str(out), "--resolution", str(N)]
    assert main([*args, "--latitude", "46.8", "--longitude", "-71.2"]) == 0
    ds = SkyDataset.open(out)
    assert ds.num_sequences == 2 and ds.num_frames == 8 and ds.step_seconds == 120.0
    first = ds.sequence_ids()[0]
    assert ds.records[first].attributes["kind"] == "laval"
    assert np.isfinite(ds.meta(first)["sun_dir"]).all()
    report = json.loads((tmp_path / "sky.import-report.json").read_text())
    assert report["counts"]["imported"] == 8 and report["counts"]["sequences"] == 2
    assert "imported 8 frames into 2 sequence(s)" in capsys.readouterr().out
    assert main(args) == 2  # exists: refused without --overwrite, dataset untouched
    assert SkyDataset.open(out).num_frames == 8


def test_resume_continues_an_interrupted_import(laval_root, tmp_path):
    """An interrupted build (first sequence written, then stopped) is completed by --resume."""
    from skyviewer.data.importers.commands import build_options, detect_sources
    from skyviewer.data.store import DatasetWriter

    out, fresh = tmp_path / "sky", tmp_path / "fresh"
    args = ["dataset", "import", str(laval_root), "--resolution", str(N), "--max-frames-per-sequence", "2"]
    assert main([*args, "--out", str(fresh)]) == 0
    # Build the interrupted state the way the import would have left it: same provenance args.
    parsed = build_parser().parse_args([*args, "--out", str(out)])
    options = asdict(build_options(parsed))
    inputs = [str(p) for p, _ in detect_sources(parsed.paths, None)]
    (first, *_), _ = import_laval(laval_root, max_frames=2)
    writer = DatasetWriter(out, N, provenance={"args": {"inputs": inputs, "options": options}})
    writer.add(first)
    writer.flush()  # ... and the process dies here: no close()
    assert main([*args, "--out", str(out), "--resume"]) == 0
    done, reference = SkyDataset.open(out), SkyDataset.open(fresh)
    assert done.sequence_ids() == reference.sequence_ids() and done.num_frames == reference.num_frames == 8
    for seq_id in done.sequence_ids():
        np.testing.assert_array_equal(done.frames(seq_id), reference.frames(seq_id))
