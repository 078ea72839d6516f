"""The loader rejects every way a package can be wrong, naming the file, before anything runs."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile

import onnx
import pytest
import test_package_fixtures as fixtures

from skyviewer.cli import main
from skyviewer.models import BUNDLED_DIR, DEFAULT_PACKAGE
from skyviewer.runtime.package import Limits, PackageError, load_package

snapshots, package_dir = fixtures.snapshots, fixtures.package_dir


@pytest.fixture
def pkg(tmp_path, package_dir):
    """A private copy to tamper with."""
    return shutil.copytree(package_dir, tmp_path / "pkg")


def manifest(pkg) -> dict:
    return json.loads((pkg / "sky.json").read_text())


def save(pkg, m: dict) -> None:
    (pkg / "sky.json").write_text(json.dumps(m))


def replace_file(pkg, name: str, data: bytes) -> None:
    """Swap a file's bytes and update its hash, so the later checks are the ones that must fire."""
    (pkg / name).write_bytes(data)
    m = manifest(pkg)
    m["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    save(pkg, m)


def edit(key_path: str, value):
    """A tamper that sets manifest[key_path] (dotted, list indices as numbers) to value."""

    def tamper(pkg):
        m = manifest(pkg)
        *parents, last = [int(k) if k.isdigit() else k for k in key_path.split(".")]
        node = m
        for k in parents:
            node = node[k]
        node[last] = value
        save(pkg, m)

    return tamper


def remove_step_seconds(pkg):
    m = manifest(pkg)
    del m["step_seconds"]
    save(pkg, m)


def flip_byte(pkg):
    data = bytearray((pkg / "start.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (pkg / "start.onnx").write_bytes(bytes(data))


def truncate_onnx(pkg):
    replace_file(pkg, "step.onnx", (pkg / "step.onnx").read_bytes()[:5000])


def pickle_as_onnx(pkg):
    import pickle

    replace_file(pkg, "start.onnx", pickle.dumps({"weights": [1, 2, 3]}))


def external_data(pkg):
    model = onnx.load(pkg / "start.onnx")
    onnx.external_data_helper.convert_model_to_external_data(
        model, location="../../weights.bin", size_threshold=0
    )
    replace_file(pkg, "start.onnx", model.SerializeToString())


def custom_domain(pkg):
    model = onnx.load(pkg / "step.onnx")
    model.opset_import.append(onnx.helper.make_opsetid("com.evil", 1))
    replace_file(pkg, "step.onnx", model.SerializeToString())


def symlinked_preview(pkg):
    (pkg / "preview.png").unlink()
    (pkg / "preview.png").symlink_to("/etc/hostname")


def duplicate_key(pkg):
    text = (pkg / "sky.json").read_text()
    (pkg / "sky.json").write_text(
        text.replace('"step_seconds": 60.0', '"step_seconds": 60.0, "step_seconds": 1')
    )


def wrong_size(pkg):
    (pkg / "preview.png").write_bytes(b"\x89PNG\r")  # a truncated file, hash left as it was


def not_png(pkg):
    replace_file(pkg, "preview.png", b"GIF89a" + bytes(100))


TAMPERS = {
    "missing file": (lambda pkg: (pkg / "step.onnx").unlink(), "step.onnx: missing"),
    "missing manifest": (lambda pkg: (pkg / "sky.json").unlink(), "sky.json: missing"),
    "hash mismatch": (flip_byte, "start.onnx does not match its sha256"),
    "size mismatch": (wrong_size, "preview.png is 5 bytes, the manifest says"),
    "truncated onnx": (truncate_onnx, "step.onnx: not an ONNX model"),
    "pickle": (pickle_as_onnx, "start.onnx: not an ONNX model"),
    "external data": (external_data, "external data"),
    "custom op domain": (custom_domain, "custom op domains ['com.evil']"),
    "bad shape": (edit("models.step.inputs.2.shape", [1, 2, 4, 4]), "step.onnx: inputs are"),
    "wrong dtype": (edit("models.start.outputs.0.dtype", "float16"), "start.onnx: outputs are"),
    "frame not N x N": (edit("projection.resolution_px", 32), "expected [1, 3, 32, 32]"),
    "schema: missing field": (remove_step_seconds, "'step_seconds' is a required property"),
    "schema: unknown field": (edit("exec", "rm -rf /"), "Additional properties"),
    "schema: wrong type": (edit("step_seconds", "60"), "schema violation at step_seconds"),
    "path escape": (edit("models.start.file", "../start.onnx"), "schema violation at models/start/file"),
    "absolute path": (edit("preview", "/etc/passwd"), "schema violation at preview"),
    "unlisted file": (edit("models.step.file", "other.onnx"), "not listed in files"),
    "unknown condition": (edit("models.start.inputs.1.condition", "wind"), "unknown condition 'wind'"),
    "default out of range": (edit("conditions.1.default", [2.0]), "does not fit"),
    "bad recurrence": (
        edit("models.step.recurrence.1.output", "nope"),
        "names a tensor the step model lacks",
    ),
    "symlink": (symlinked_preview, "not a regular file"),
    "duplicate json key": (duplicate_key, "duplicate key 'step_seconds'"),
    "not json": (lambda pkg: (pkg / "sky.json").write_bytes(b"\xff\xfe{"), "not valid JSON"),
    "preview not png": (not_png, "preview.png: not a PNG"),
}


@pytest.mark.parametrize("case", list(TAMPERS))
def test_tampered_package_is_rejected(pkg, case):
    tamper, message = TAMPERS[case]
    tamper(pkg)
    with pytest.raises(PackageError) as info:
        load_package(pkg)
    assert message in str(info.value) and str(pkg) in str(info.value)


def test_validate_exits_nonzero_with_the_reason(pkg, capsys):
    flip_byte(pkg)
    assert main(["validate", str(pkg)]) != 0
    assert "start.onnx does not match its sha256" in capsys.readouterr().err


def test_zip_round_trip(package_dir):
    package = load_package(package_dir.parent / "tiny.zip")
    assert package.manifest == load_package(package_dir).manifest


def zip_with(tmp_path, entries: dict[str, bytes]):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return path


def test_zip_bomb_is_rejected(tmp_path):
    bomb = zip_with(tmp_path, {"sky.json": b"{}", "start.onnx": bytes(8 << 20)})  # 8 MiB of zeros, ~1000x
    with pytest.raises(PackageError, match="zip bomb"):
        load_package(bomb)
    with pytest.raises(PackageError, match="inflates to"):
        load_package(bomb, Limits(total_bytes=1 << 20))


def test_zip_entry_over_its_limit_and_not_a_zip(tmp_path):
    big = zip_with(tmp_path, {"sky.json": b" " * 5000})
    with pytest.raises(PackageError, match="sky.json is 5000 bytes, over"):
        load_package(big, Limits(manifest_bytes=1000))
    (tmp_path / "fake.zip").write_bytes(b"PK not really")
    with pytest.raises(PackageError, match="not a readable zip"):
        load_package(tmp_path / "fake.zip")


@pytest.mark.parametrize("name", ["../x", "/etc/x", "C:\\x", "models/../../x", "..\\x"])
def test_zip_entry_that_leaves_the_package_is_flagged(tmp_path, package_dir, capsys, name):
    """A valid package zip plus one entry whose name would unpack outside it (zip slip): the
    entry is never read, but the package is not valid, and validate names the entry."""
    path = shutil.copy(package_dir.parent / "tiny.zip", tmp_path / "slip.zip")
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(name, b"outside")
    assert main(["validate", str(path)]) != 0
    err = capsys.readouterr().err
    assert f"entry {name!r} names a path outside the package" in err and str(path) in err


def test_packages_are_found_by_name(tmp_path, package_dir, monkeypatch):
    monkeypatch.setenv("SKYVIEWER_PACKAGES", str(package_dir.parent))
    monkeypatch.chdir(tmp_path)  # no ./models here
    assert load_package("tiny").source == package_dir
    with pytest.raises(PackageError, match="no such package"):
        load_package("nonexistent")


def test_bundled_default_sky_is_a_valid_package(capsys, tmp_path, monkeypatch):
    """The sky `skyviewer view` opens with no arguments, found by name from a folder with no
    ./models: schema, hashes, shapes, op set and one start + step in ONNX Runtime, as
    `skyviewer validate` checks any package; `list` marks it bundled."""
    monkeypatch.setenv("SKYVIEWER_PACKAGES", str(tmp_path / "none"))
    monkeypatch.chdir(tmp_path)
    assert main(["validate", DEFAULT_PACKAGE]) == 0, capsys.readouterr().err
    assert load_package(DEFAULT_PACKAGE).source == BUNDLED_DIR / DEFAULT_PACKAGE
    assert load_package(DEFAULT_PACKAGE).manifest["name"] == "default"
    capsys.readouterr()
    assert main(["list"]) == 0
    assert f"bundled ({BUNDLED_DIR / DEFAULT_PACKAGE})" in capsys.readouterr().out
