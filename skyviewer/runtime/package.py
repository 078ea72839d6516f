"""Sky packages: find them, read them, and reject every way they can be wrong (docs/package.md).

A package is untrusted data. This is the one loader that `validate`, `list`, SkyModel and
the exporter's self-check share, so a package that passes here passes everywhere:

1. the path: a folder or a .zip; zip entries are bounded in count, size and compression
   ratio (zip bombs), must not name a path out of the package (zip slip), and are read
   with a hard byte limit (headers can lie);
2. sky.json: bounded size, strict JSON (no duplicate keys, no NaN), the JSON Schema
   sky.schema.json, then the cross-references the schema cannot express;
3. every listed file: a plain file name (never a path out of the package), not a symlink,
   the listed byte count and sha256; only listed files are ever read;
4. every ONNX model: parses, has no external data, passes onnx.checker, uses only the
   engines' op set (runtime/opset.py), and its inputs/outputs are exactly the manifest's.

The verified bytes are kept in memory and are what the runtime hands to ONNX Runtime, so
nothing can change between the check and the use. No pickles, no code: JSON, ONNX, PNG.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path, PureWindowsPath

import onnx

from skyviewer.errors import UserError
from skyviewer.models import BUNDLED_DIR
from skyviewer.runtime.opset import op_set_problems, opset_of

FORMAT = "skyviewer-sky-package"
FORMAT_VERSION = 3
"""What the exporter writes. Format 3: start -> state, step: state -> state, decode: state -> frame
(the frame at the host's resolution); format 2 (the frame is the step's own output) still plays."""
FORMAT_VERSIONS = (2, 3)
MANIFEST_NAME = "sky.json"
USER_DIR_ENV = "SKYVIEWER_PACKAGES"
"""Environment variable naming the per-user package folder (overrides the XDG default)."""
ONNX_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Limits:
    """Size bounds for untrusted packages; generous for a 256 px model, tiny for a bomb."""

    manifest_bytes: int = 1 << 20
    """sky.json at most 1 MiB."""
    file_bytes: int = 1 << 30
    """Any one file at most 1 GiB (a 256 px step model is ~100 MiB in fp32)."""
    total_bytes: int = 2 << 30
    """All listed files (or all zip entries, uncompressed) together at most 2 GiB."""
    zip_entries: int = 64
    """A zip holds at most this many entries."""
    zip_ratio: float = 100.0
    """Uncompressed / compressed size above which a zip entry over 1 MiB is treated as a bomb."""
    preview_px: int = 8192
    """preview.png at most this wide and tall."""


LIMITS = Limits()


class PackageError(UserError):
    """A package that cannot be used; the message names the package, the file and the problem."""


@dataclass(frozen=True)
class SkyPackage:
    """A validated package: its manifest and the verified bytes of every listed file."""

    source: Path
    """The folder or .zip it was read from."""
    manifest: dict
    """sky.json, schema-valid and cross-checked."""
    files: dict[str, bytes]
    """Every file listed in the manifest, by name; sizes and sha256 verified."""

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def resolution(self) -> int:
        return self.manifest["projection"]["resolution_px"]

    def model_file(self, model: str, precision: str = "fp32") -> str:
        """File name of `model` ('start' or 'step') at `precision` ('fp32' or a variant's)."""
        spec = self.manifest["models"][model]
        if precision == "fp32":
            return spec["file"]
        for variant in spec["variants"]:
            if variant["precision"] == precision:
                return variant["file"]
        raise PackageError(f"{self.source}: no {precision} variant of the {model} model")


# ---------------------------------------------------------------- finding packages


def search_dirs() -> list[Path]:
    """Where packages are looked up by name, first match wins: ./models (relative to the
    working folder), the per-user folder, then the packages bundled with skyviewer."""
    user = os.environ.get(USER_DIR_ENV)
    if user is None:
        data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        user = Path(data_home) / "skyviewer" / "packages"
    return [Path("models"), Path(user), BUNDLED_DIR]


def find_packages() -> list[Path]:
    """Every folder or .zip in the search folders that holds a sky.json (unvalidated)."""
    found = []
    for root in search_dirs():
        if root.is_dir():
            for path in sorted(root.iterdir()):
                if (path.is_dir() and (path / MANIFEST_NAME).is_file()) or path.suffix == ".zip":
                    found.append(path)
    return found


def resolve(name_or_path: str | Path) -> Path:
    """A package path from a path or a bare name looked up in search_dirs()."""
    path = Path(name_or_path)
    if path.exists():
        return path
    if len(path.parts) == 1:
        for root in search_dirs():
            for candidate in (root / path.name, root / f"{path.name}.zip"):
                if candidate.exists():
                    return candidate
    where = ", ".join(str(d) for d in search_dirs())
    raise PackageError(f"{name_or_path}: no such package (not a path, and not a name in {where})")


# ---------------------------------------------------------------- reading files


class _FolderReader:
    """Reads plain files directly inside a package folder; symlinks and subfolders are refused."""

    def __init__(self, root: Path):
        self.root = root

    def read(self, name: str, limit: int) -> bytes:
        path = self.root / name
        try:
            info = path.lstat()
        except FileNotFoundError:
            raise PackageError(f"{path}: missing") from None
        if not stat.S_ISREG(info.st_mode):
            raise PackageError(f"{path}: not a regular file (symlinks and folders are refused)")
        if info.st_size > limit:
            raise PackageError(f"{path}: {info.st_size} bytes, over the {limit}-byte limit")
        return path.read_bytes()


class _ZipReader:
    """Reads entries of a package zip; the whole archive is vetted before anything is inflated."""

    def __init__(self, path: Path, limits: Limits):
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as e:
            raise PackageError(f"{path}: not a readable zip ({e})") from None
        self.path = path
        entries = self.zip.infolist()
        if len(entries) > limits.zip_entries:
            raise PackageError(f"{path}: {len(entries)} entries, over the limit of {limits.zip_entries}")
        total = sum(e.file_size for e in entries)
        if total > limits.total_bytes:
            raise PackageError(f"{path}: inflates to {total} bytes, over the {limits.total_bytes}-byte limit")
        for e in entries:
            if _leaves_package(e.filename):
                raise PackageError(
                    f"{path}: entry {e.filename!r} names a path outside the package"
                    " (absolute, a drive, or '..'): refused even though it is never read"
                )
            ratio = e.file_size / max(e.compress_size, 1)
            if e.file_size > 1 << 20 and ratio > limits.zip_ratio:
                raise PackageError(f"{path}: entry {e.filename!r} inflates {ratio:.0f}x (zip bomb?)")
        self.entries = {e.filename: e for e in entries}

    def read(self, name: str, limit: int) -> bytes:
        entry = self.entries.get(name)
        if entry is None:
            raise PackageError(f"{self.path}: missing {name}")
        if entry.file_size > limit:
            raise PackageError(f"{self.path}: {name} is {entry.file_size} bytes, over the {limit}-byte limit")
        try:
            with self.zip.open(entry) as f:
                data = f.read(limit + 1)  # never trust the header's size: stop one byte past the limit
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
            raise PackageError(f"{self.path}: {name} cannot be inflated ({e})") from None
        if len(data) > limit:
            raise PackageError(f"{self.path}: {name} inflates past its {limit}-byte limit")
        return data


def _leaves_package(name: str) -> bool:
    """Whether a zip entry name would land outside the folder it is unpacked into (zip slip):
    absolute, with a drive, or with a '..' part ('/' and '\\' both separate, as on Windows)."""
    path = PureWindowsPath(name)
    return bool(path.anchor) or ".." in path.parts


# ---------------------------------------------------------------- the loader


def load_package(name_or_path: str | Path, limits: Limits = LIMITS) -> SkyPackage:
    """Read and validate a package completely; any problem raises PackageError naming the file."""
    source = resolve(name_or_path)
    reader = _ZipReader(source, limits) if source.is_file() else _FolderReader(source)
    manifest = parse_manifest(reader.read(MANIFEST_NAME, limits.manifest_bytes), source / MANIFEST_NAME)
    check_references(manifest, source)
    files = read_files(reader, manifest, source, limits)
    for spec in manifest["models"].values():
        for file in [spec["file"], *(v["file"] for v in spec["variants"])]:
            check_onnx(files[file], spec, f"{source}: {file}")
    check_png(files[manifest["preview"]], f"{source}: {manifest['preview']}", limits)
    return SkyPackage(source, manifest, files)


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {sorted(k for k in keys if keys.count(k) > 1)[0]!r}")
    return dict(pairs)


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_manifest(data: bytes, where: Path) -> dict:
    """Strict JSON, then the JSON Schema; the first schema error is reported with its path."""
    try:
        manifest = json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant
        )
    except (UnicodeDecodeError, ValueError) as e:
        raise PackageError(f"{where}: not valid JSON ({e})") from None
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(manifest))
    if error is not None:
        at = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise PackageError(f"{where}: schema violation at {at}: {error.message[:300]}")
    return manifest


@cache
def _validator():
    import jsonschema

    schema = json.loads(resources.files("skyviewer.runtime").joinpath("sky.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def check_references(m: dict, source: Path) -> None:
    """What the schema cannot say: names that must match, shapes that must agree, values in range."""
    where = f"{source}: {MANIFEST_NAME}:"
    listed = set(m["files"])
    named = {m["preview"]} | {
        f for spec in m["models"].values() for f in [spec["file"], *(v["file"] for v in spec["variants"])]
    }
    if MANIFEST_NAME in listed:
        raise PackageError(f"{where} files lists {MANIFEST_NAME} itself (it cannot hash itself)")
    if missing := sorted(named - listed):
        raise PackageError(f"{where} {missing} used but not listed in files (no sha256)")
    conditions = {c["name"]: c for c in m["conditions"]}
    for c in m["conditions"]:
        lo, hi = c["range"]
        if len(c["default"]) != c["shape"][0] or not all(lo <= v <= hi for v in c["default"]):
            raise PackageError(
                f"{where} condition {c['name']}: default {c['default']} does not fit shape/range"
            )
    for model, spec in m["models"].items():
        _check_tensors(spec, conditions, decode_resolution(m, model), f"{where} models.{model}")
    if m["format_version"] == 2:
        _check_recurrence(m["models"], f"{where} models.step.recurrence")
    else:
        _check_layered(m, where)


def decode_resolution(m: dict, model: str) -> int:
    """Side of the frames a model outputs: decode_N gives N px, any other model the package's own."""
    _, _, suffix = model.partition("_")
    return int(suffix) if model.startswith("decode_") else m["projection"]["resolution_px"]


def _check_layered(m: dict, where: str) -> None:
    """Format 3: start and step carry only state, every decoder reads that state and draws one frame."""
    models = m["models"]
    if "decode" not in models or "layers" not in m:
        raise PackageError(f"{where} format 3 needs models.decode and layers")
    if any(
        t["role"] == "frame" for k in ("start", "step") for t in models[k]["outputs"] + models[k]["inputs"]
    ):
        raise PackageError(f"{where} format 3: start and step carry state only; frames come from decode")
    _check_step_state(models, f"{where} models.step.recurrence")
    fed = {r["input"] for r in models["step"]["recurrence"]}
    for name, spec in models.items():
        if not name.startswith("decode"):
            continue
        if (
            spec["recurrence"]
            or sum(t["role"] == "frame" for t in spec["outputs"]) != 1
            or len(spec["outputs"]) != 1
        ):
            raise PackageError(
                f"{where} models.{name}: a decoder has one output, the frame, and no recurrence"
            )
        if unknown := sorted(
            t["name"] for t in spec["inputs"] if t["role"] == "state" and t["name"] not in fed
        ):
            raise PackageError(f"{where} models.{name}: state inputs {unknown} are not the step's state")


def _check_tensors(spec: dict, conditions: dict, n: int, where: str) -> None:
    tensors = spec["inputs"] + spec["outputs"]
    names = [t["name"] for t in tensors]
    if len(set(names)) != len(names):
        raise PackageError(f"{where}: tensor names are not unique: {names}")
    for t in tensors:
        if t["role"] == "frame" and t["shape"] != [1, 3, n, n]:
            raise PackageError(
                f"{where}: frame {t['name']} has shape {t['shape']}, expected [1, 3, {n}, {n}]"
            )
        if t["role"] == "condition":
            c = conditions.get(t["condition"])
            if c is None:
                raise PackageError(f"{where}: {t['name']} feeds unknown condition {t['condition']!r}")
            if t["shape"] != [1, *c["shape"]]:
                raise PackageError(f"{where}: {t['name']} has shape {t['shape']}, condition has {c['shape']}")
    if [t for t in spec["outputs"] if t["role"] in ("latent", "noise", "condition")]:
        raise PackageError(f"{where}: outputs can only be frames or states")


def _check_recurrence(models: dict, where: str) -> None:
    """Format 2: start and step each output the frame; the step feeds back its state."""
    if sum(t["role"] == "frame" for t in models["start"]["outputs"]) != 1:
        raise PackageError(f"{where}: the start model needs exactly one frame output")
    if sum(t["role"] == "frame" for t in models["step"]["outputs"]) != 1:
        raise PackageError(f"{where}: the step model needs exactly one frame output")
    _check_step_state(models, where)


def _check_step_state(models: dict, where: str) -> None:
    """Every state input of the step is fed back from one of its outputs, starting from a start output."""
    start_outputs = {t["name"]: t for t in models["start"]["outputs"]}
    step = models["step"]
    ins, outs = ({t["name"]: t for t in step[k]} for k in ("inputs", "outputs"))
    if models["start"]["recurrence"]:
        raise PackageError(f"{where}: the start model has no recurrence")
    fed = {r["input"] for r in step["recurrence"]}
    if unfed := sorted(
        t["name"] for t in step["inputs"] if t["role"] in ("frame", "state") and t["name"] not in fed
    ):
        raise PackageError(f"{where}: step inputs {unfed} are never fed back")
    for r in step["recurrence"]:
        if r["input"] not in ins or r["output"] not in outs:
            raise PackageError(f"{where}: {r['output']} -> {r['input']} names a tensor the step model lacks")
        if ins[r["input"]]["shape"] != outs[r["output"]]["shape"]:
            raise PackageError(f"{where}: {r['output']} and {r['input']} differ in shape")
        initial = r["initial"]
        if isinstance(initial, str) and initial.removeprefix("start:") not in start_outputs:
            raise PackageError(f"{where}: initial {initial!r} is not an output of the start model")


def read_files(reader, manifest: dict, source: Path, limits: Limits) -> dict[str, bytes]:
    """Every listed file, with its byte count and sha256 checked against the manifest."""
    files, total = {}, 0
    for name, entry in manifest["files"].items():
        data = reader.read(name, min(limits.file_bytes, entry["bytes"]))
        total += len(data)
        if total > limits.total_bytes:
            raise PackageError(f"{source}: files add up to more than {limits.total_bytes} bytes")
        if len(data) != entry["bytes"]:
            raise PackageError(f"{source}: {name} is {len(data)} bytes, the manifest says {entry['bytes']}")
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise PackageError(f"{source}: {name} does not match its sha256 (modified or corrupt)")
        files[name] = data
    return files


def check_onnx(data: bytes, spec: dict, where: str) -> None:
    """Parse, refuse external data, onnx.checker, op set, and graph I/O == the manifest's tensors."""
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf raises DecodeError and friends for truncated or foreign bytes
        raise PackageError(f"{where}: not an ONNX model ({type(e).__name__})") from None
    if any(onnx.external_data_helper.uses_external_data(t) for t in _initializers(model.graph)):
        raise PackageError(f"{where}: refers to external data files (not allowed in a package)")
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # checker and shape-inference errors
        raise PackageError(f"{where}: fails onnx.checker ({str(e).splitlines()[0][:300]})") from None
    if problems := op_set_problems(model):
        raise PackageError(f"{where}: {'; '.join(problems)}")
    if opset_of(model) != spec["opset"]:
        raise PackageError(f"{where}: opset {opset_of(model)}, the manifest says {spec['opset']}")
    for kind, values in (("inputs", model.graph.input), ("outputs", model.graph.output)):
        actual = [_describe(v) for v in values]
        expected = [(t["name"], t["shape"], t["dtype"]) for t in spec[kind]]
        if actual != expected:
            raise PackageError(f"{where}: {kind} are {actual}, the manifest says {expected}")


def _initializers(graph: onnx.GraphProto):
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            for sub in [attr.g, *attr.graphs] if attr.type in (attr.GRAPH, attr.GRAPHS) else []:
                yield from _initializers(sub)


def _describe(value: onnx.ValueInfoProto) -> tuple[str, list, str]:
    """(name, static shape, dtype) of a graph input/output; symbolic dims show as their names."""
    t = value.type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
    return (
        value.name,
        shape,
        ONNX_DTYPES.get(t.elem_type, onnx.TensorProto.DataType.Name(t.elem_type).lower()),
    )


def check_png(data: bytes, where: str, limits: Limits) -> None:
    """A PNG signature and a sane IHDR size; the image is never decoded here."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise PackageError(f"{where}: not a PNG file")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not (0 < width <= limits.preview_px and 0 < height <= limits.preview_px):
        raise PackageError(f"{where}: {width}x{height} px, over the {limits.preview_px} px limit")
