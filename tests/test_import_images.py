"""Image-folder import: timestamps (names, EXIF), decoding to linear nits, squaring, bad files.

Every fixture image is a flat colour, so the canonical fisheye's centre pixel must hold
exactly the decoded linear radiance of that colour.
"""

from __future__ import annotations

import json
import struct
import zlib
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest
from PIL import Image

from skyviewer.cli import main
from skyviewer.data.importers.images import find_images
from skyviewer.data.importers.pipeline import ImportOptions, import_frames
from skyviewer.data.importers.report import ImportReport
from skyviewer.data.importers.timestamps import time_from_exif, time_from_name
from skyviewer.data.store import SkyDataset
from skyviewer.sky.tonemap import srgb_decode

N = 16  # output fisheye size
S = 24  # fixture image size
SCALE = 10_000.0  # the default --scale-nits


def utc(*fields: int) -> float:
    return datetime(*fields, tzinfo=timezone.utc).timestamp()


def flat(value, size: int = S, dtype=np.uint8) -> np.ndarray:
    return np.full((size, size, len(value)), value, dtype=dtype)


def write_exr(path: Path, channels: dict[str, np.ndarray]) -> None:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in channels.items()}).write(
        str(path)
    )


def write_rgb_exr(path: Path, image: np.ndarray) -> None:
    write_exr(path, {"R": image[..., 0], "G": image[..., 1], "B": image[..., 2]})


def ldr(rgb) -> np.ndarray:
    """Linear nits that 8-bit sRGB values decode to at the default scale."""
    return srgb_decode(np.asarray(rgb, dtype=np.float64) / 255.0) * SCALE


def import_folder(folder: Path, **options) -> tuple[list, ImportReport]:
    report = ImportReport("images", [str(folder)], {})
    source = find_images(folder, ImportOptions(resolution=N, **options), report)
    return list(import_frames(source, report)), report


# ------------------------------------------------------------------ timestamps


@pytest.mark.parametrize(
    "name, expected",
    [
        ("20240501_123000.png", utc(2024, 5, 1, 12, 30)),
        ("IMG_20240501_123000.jpg", utc(2024, 5, 1, 12, 30)),
        ("2024-05-01T12-30-00.exr", utc(2024, 5, 1, 12, 30)),
        ("sky 2024-05-01 12:30:00.hdr", utc(2024, 5, 1, 12, 30)),
        ("cam3-20240501123000-x.png", utc(2024, 5, 1, 12, 30)),
        ("frame_00000123.png", None),  # a frame number, not a date
        ("20241301_123000.png", None),  # month 13
        ("notes.png", None),
    ],
)
def test_time_from_file_name(name, expected):
    assert time_from_name(name) == expected


def test_time_zone_offset_and_exif(tmp_path):
    assert time_from_name("20240501_123000.png", utc_offset_hours=-4) == utc(2024, 5, 1, 16, 30)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2024:05:01 12:06:00"
    Image.fromarray(flat((9, 9, 9))).save(tmp_path / "a.jpg", exif=exif)
    exif.get_ifd(0x8769)[0x9011] = "+02:00"  # OffsetTimeOriginal beats --utc-offset-hours
    Image.fromarray(flat((9, 9, 9))).save(tmp_path / "b.jpg", exif=exif)
    assert time_from_exif(tmp_path / "a.jpg", utc_offset_hours=1) == utc(2024, 5, 1, 11, 6)
    assert time_from_exif(tmp_path / "b.jpg", utc_offset_hours=1) == utc(2024, 5, 1, 10, 6)
    assert time_from_exif(tmp_path / "missing.jpg") is None


# ------------------------------------------------------------------ a good folder


def good_folder(folder: Path) -> dict[str, np.ndarray]:
    """Writes one image per supported kind, 2 minutes apart, names NOT in time order.

    Returns {file name: expected linear radiance} in capture order.
    """
    folder.mkdir()
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2024:05:01 12:06:00"
    g16 = np.full((S, S), 30000, dtype=np.uint16)
    files = {
        "z_20240501_120000.png": (
            lambda p: Image.fromarray(flat((128, 64, 255))).save(p),
            ldr((128, 64, 255)),
        ),
        "IMG_20240501_120200.jpg": (
            lambda p: Image.fromarray(flat((200, 150, 100))).save(p, quality=98),
            ldr((200, 150, 100)),
        ),
        "2024-05-01T12-04-00.exr": (
            lambda p: write_rgb_exr(p, flat((1e3, 2e3, 3e3), dtype="f4")),
            [1e3, 2e3, 3e3],
        ),
        "photo.jpg": (
            lambda p: Image.fromarray(flat((60, 60, 60))).save(p, exif=exif, quality=98),
            ldr([60] * 3),
        ),
        "sky_20240501_120800.hdr": (
            lambda p: cv2.imwrite(str(p), flat((700.0, 600.0, 500.0), dtype="f4")),  # OpenCV writes BGR
            [500.0, 600.0, 700.0],
        ),
        "pal_20240501_121000.png": (
            lambda p: Image.fromarray(flat((10, 200, 30))).quantize(4).save(p),
            ldr((10, 200, 30)),
        ),
        "grey_20240501_121200.png": (lambda p: Image.fromarray(flat((100,))[..., 0]).save(p), ldr([100] * 3)),
        "rgba_20240501_121400.png": (
            lambda p: Image.fromarray(flat((50, 100, 150, 128))).save(p),
            ldr((50, 100, 150)),
        ),
        "g16_20240501_121600.png": (
            lambda p: Image.fromarray(g16).save(p),
            srgb_decode(np.full(3, 30000 / 65535)) * SCALE,
        ),
    }
    for name, (write, _) in files.items():
        write(folder / name)
    assert Image.open(folder / "pal_20240501_121000.png").mode == "P"
    assert Image.open(folder / "g16_20240501_121600.png").mode.startswith("I;16")
    return {name: np.asarray(value, dtype=np.float64) for name, (_, value) in files.items()}


def test_folder_decodes_to_linear_radiance_in_time_order(tmp_path):
    expected = good_folder(tmp_path / "imgs")
    (seq,), report = import_folder(tmp_path / "imgs")
    assert report.skipped == [] and report.notes == []
    assert seq.step_seconds == 120.0
    np.testing.assert_array_equal(seq.meta["unix_time"], utc(2024, 5, 1, 12) + 120.0 * np.arange(9))
    assert [seq.attributes["first"], seq.attributes["last"]] == [
        str(tmp_path / "imgs" / "z_20240501_120000.png"),
        str(tmp_path / "imgs" / "g16_20240501_121600.png"),
    ]
    centre = seq.frames[:, N // 2, N // 2].astype(np.float64)
    for (name, value), got in zip(expected.items(), centre, strict=True):
        # float16 storage: 1e-3; JPEG of a flat colour: ~1 level; Radiance RGBE: 8-bit mantissa.
        tolerance = 0.03 if name.endswith(".jpg") else 0.01 if name.endswith(".hdr") else 1e-3
        np.testing.assert_allclose(got, value, rtol=tolerance, err_msg=name)
    outside = seq.frames[:, 0, 0]  # corner: below the horizon
    assert (outside == 0).all()


def test_crop_or_squash_a_wide_image(tmp_path):
    folder = tmp_path / "wide"
    folder.mkdir()
    wide = np.zeros((32, 64, 3), np.uint8)
    wide[:, 16:48] = (0, 0, 255)  # blue centre square, red bands left and right
    wide[:, :16] = wide[:, 48:] = (255, 0, 0)
    for clock in ("120000", "120100"):
        Image.fromarray(wide).save(folder / f"20240501_{clock}.png")
    (cropped,), _ = import_folder(folder, square="crop")
    (squashed,), _ = import_folder(folder, square="squash")
    edge = (N // 2, 1)  # just inside the horizon, west... of the image's left edge
    assert cropped.frames[0][edge][2] > 1000 and cropped.frames[0][edge][0] == 0
    assert squashed.frames[0][edge][0] > 1000 and squashed.frames[0][edge][2] == 0


def test_bad_files_are_skipped_with_reasons(tmp_path):
    folder = tmp_path / "imgs"
    good_folder(folder)
    blob = (folder / "IMG_20240501_120200.jpg").read_bytes()
    (folder / "corrupt_20240501_120100.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (folder / "trunc_20240501_120300.jpg").write_bytes(blob[: len(blob) // 2])
    sky = flat((1.0, 1.0, 1.0), dtype="f4")
    write_rgb_exr(folder / "nan_20240501_120500.exr", np.where(np.eye(S)[..., None] > 0, np.nan, sky))
    write_rgb_exr(folder / "neg_20240501_120700.exr", sky - 2.0)
    write_exr(folder / "two_20240501_120900.exr", {"Y": sky[..., 0], "A": sky[..., 0]})
    write_exr(
        folder / "rgba_20240501_121100.exr",
        {"R": sky[..., 0], "G": sky[..., 0], "B": sky[..., 0], "A": 0 * sky[..., 0]},
    )
    Image.fromarray(flat((1, 2, 3), size=2 * S)).save(folder / "big_20240501_121300.png")
    Image.fromarray(flat((1, 2, 3))).save(
        folder / "zz_20240501_120000.png"
    )  # same time as z_..., later by name
    Image.fromarray(flat((1, 2, 3))).save(folder / "notime.png")
    (folder / "readme.txt").write_text("not an image: ignored")

    (seq,), report = import_folder(folder)
    by_file = {Path(s.path).name: s for s in report.skipped}
    assert {name: s.code for name, s in by_file.items()} == {
        "notime.png": "no_timestamp",
        "zz_20240501_120000.png": "duplicate_time",
        "corrupt_20240501_120100.png": "unreadable",
        "trunc_20240501_120300.jpg": "unreadable",
        "nan_20240501_120500.exr": "non_finite",
        "neg_20240501_120700.exr": "negative",
        "two_20240501_120900.exr": "channels",
        "rgba_20240501_121100.exr": "channels",
        "big_20240501_121300.png": "size_mismatch",
    }
    assert "same time as" in by_file["zz_20240501_120000.png"].reason
    assert by_file["zz_20240501_120000.png"].reason.endswith("z_20240501_120000.png (kept)")
    assert "2 channel(s) A,Y" in by_file["two_20240501_120900.exr"].reason
    assert f"{S} pixel(s) with NaN" in by_file["nan_20240501_120500.exr"].reason
    assert "48x48 differs from its sequence's 24x24" in by_file["big_20240501_121300.png"].reason
    assert len(seq.frames) == 9  # the good ones, all still there


def test_sequence_size_is_the_one_most_frames_have(tmp_path):
    """An odd-sized FIRST frame costs only itself; the report says which size was chosen and why."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(flat((1, 2, 3), size=2 * S)).save(folder / "20240501_120000.png")
    for minute in range(1, 5):
        Image.fromarray(flat((9, 9, 9))).save(folder / f"20240501_12{minute:02d}00.png")
    (seq,), report = import_folder(folder)
    assert len(seq.frames) == 4 and seq.attributes["first"].endswith("20240501_120100.png")
    (skip,) = report.skipped
    assert (Path(skip.path).name, skip.code) == ("20240501_120000.png", "size_mismatch")
    assert skip.reason == "48x48 differs from its sequence's 24x24 (the size of 4 of its 5 frames)"
    (note,) = report.notes
    assert "frames of 2 sizes (48x48: 1, 24x24: 4): the sequence is 24x24" in note.message

    # A tie goes to the size seen first, and says so.
    for clock in ("120030", "120130", "120230"):  # 4 frames of 48x48, the first seen, and 4 of 24x24
        Image.fromarray(flat((1, 2, 3), size=2 * S)).save(folder / f"20240501_{clock}.png")
    (seq,), report = import_folder(folder)
    assert len(seq.frames) == 4 and seq.attributes["first"].endswith("20240501_120000.png")
    assert {Path(s.path).name for s in report.skipped} == {f"20240501_12{m:02d}00.png" for m in range(1, 5)}
    assert "a tie goes to the first seen" in report.notes[0].message


def write_bomb_png(path: Path, width: int, height: int) -> None:
    """A real PNG whose IHDR declares width x height RGB pixels but holds almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    chunks = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(64))) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)


def test_decompression_bombs_are_skipped_not_fatal(tmp_path, capsys):
    """Pillow raises past 2x MAX_IMAGE_PIXELS and only warns (then allocates) past 1x: both are
    skipped, whether the time comes from the name (decode) or has to come from EXIF (timestamps)."""
    good_folder(tmp_path / "imgs")
    write_bomb_png(tmp_path / "imgs" / "bomb_20240501_120100.png", 20_000, 20_000)  # 400 Mpx: error
    write_bomb_png(tmp_path / "imgs" / "bomb.png", 10_000, 10_000)  # 100 Mpx: Pillow only warns
    out = tmp_path / "ds"
    assert main(["dataset", "import", str(tmp_path / "imgs"), "--out", str(out), "--resolution", str(N)]) == 0
    assert SkyDataset.open(out).num_frames == 9
    report = json.loads((tmp_path / "ds.import-report.json").read_text())
    skipped = {Path(s["path"]).name: s for s in report["skipped"]}
    assert set(skipped) == {"bomb_20240501_120100.png", "bomb.png"}
    for s in skipped.values():
        assert s["code"] == "unreadable" and "decompression bomb" in s["reason"]
    assert "400000000 pixels" in skipped["bomb_20240501_120100.png"]["reason"]
    assert "decompression bomb" in capsys.readouterr().out


def test_cli_imports_a_folder_into_a_dataset(tmp_path, capsys):
    good_folder(tmp_path / "imgs")
    Image.fromarray(flat((1, 2, 3))).save(tmp_path / "imgs" / "notime.png")
    out = tmp_path / "ds"
    assert main(["dataset", "import", str(tmp_path / "imgs"), "--out", str(out), "--resolution", str(N)]) == 0
    ds = SkyDataset.open(out)
    assert ds.num_frames == 9 and ds.step_seconds == 120.0
    (seq_id,) = ds.sequence_ids()
    np.testing.assert_allclose(ds.frames(seq_id)[0, N // 2, N // 2], ldr((128, 64, 255)), rtol=1e-3)
    report = json.loads((tmp_path / "ds.import-report.json").read_text())
    assert report["counts"]["skipped"] == {"no_timestamp": 1}
    assert "skip " in capsys.readouterr().out


def test_an_import_of_nothing_leaves_nothing_to_resume(tmp_path, capsys):
    """Only a real interruption leaves OUT.partial: a finished run with nothing importable says
    so and cleans up, so the next plain import into OUT needs no --resume or --overwrite."""
    (tmp_path / "bad").mkdir()
    Image.fromarray(flat((1, 2, 3))).save(tmp_path / "bad" / "notime.png")
    out = tmp_path / "ds"
    assert main(["dataset", "import", str(tmp_path / "bad"), "--out", str(out)]) == 2
    assert not out.exists() and not (tmp_path / "ds.partial").exists()
    assert "nothing was importable, no dataset written (1 input(s) skipped" in capsys.readouterr().err
    good_folder(tmp_path / "imgs")
    assert main(["dataset", "import", str(tmp_path / "imgs"), "--out", str(out), "--resolution", str(N)]) == 0
    # --overwrite with nothing importable keeps the dataset that is there
    args = ["dataset", "import", str(tmp_path / "bad"), "--out", str(out), "--overwrite"]
    assert main(args) == 2
    assert SkyDataset.open(out).num_frames == 9 and not (tmp_path / "ds.partial").exists()


def test_cli_user_errors_name_the_problem(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["dataset", "import", str(tmp_path / "empty"), "--out", str(tmp_path / "ds")]) == 2
    assert "found no Laval captures" in capsys.readouterr().err
    assert main(["dataset", "import", str(tmp_path / "nope"), "--out", str(tmp_path / "ds")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    args = ["dataset", "import", str(tmp_path), "--out", str(tmp_path / "ds"), "--latitude", "40"]
    assert main(args) == 2
    assert "--longitude" in capsys.readouterr().err
