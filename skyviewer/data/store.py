"""The on-disk dataset: sharded float16 frames + a JSON manifest (docs/datasets.md).

    DATASET/manifest.json             what is where, conventions, splits, provenance
    DATASET/shards/frames-00000.npy   (F, N, N, 3) float16 radiance in nits, plain .npy (memory-mappable)
    DATASET/shards/meta-00000.npy     (F,) FRAME_META_DTYPE, one record per frame
    DATASET/shards/patches-00000.npy  (F, K, P, P, 3) float16, optional: K patches per frame at a higher res.
    DATASET/shards/patch-pos-00000.npy (F, K, 2) int32 top-left (row, col) of each patch in that frame

A shard holds whole sequences, up to SHARD_MAX_BYTES of frames. `DatasetWriter` builds
into DATASET.partial/ and renames it to DATASET only when everything is written, so an
interrupted build never leaves a DATASET that loads; the manifest in DATASET.partial
always describes the shards completed so far, which is what `resume=True` continues.
`SkyDataset` is the reader: it validates everything against the manifest and hands out
memory-mapped views, so training touches only the frames it uses.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import numpy as np

from skyviewer.data.types import FRAME_META_DTYPE, SkySequence, empty_meta
from skyviewer.errors import UserError
from skyviewer.sky.projection import fisheye_mask
from skyviewer.sky.radiance import ENCODING, SUN, luminance, to_storage

FORMAT = "skyviewer-dataset"
VERSION = 1
MANIFEST = "manifest.json"
SHARD_DIR = "shards"
SHARD_MAX_BYTES = 256 * 2**20
"""A shard is closed before the next sequence would take its frames past this size."""
FRAME_DTYPE = np.dtype("<f2")
POSITION_DTYPE = np.dtype("<i4")
SPLITS = ("train", "heldout")
PROJECTION = {
    "name": "equidistant_fisheye",
    "zenith": "image centre",
    "horizon": "inscribed circle",
    "north": "top (row 0)",
    "east": "left (seen from below)",
}
UNITS = "linear Rec.709 RGB, luminance in cd/m^2 (nits)"


@dataclass
class ShardRecord:
    """One pair of shard files, as listed in the manifest."""

    frames: str
    """File name of the (count, N, N, 3) float16 frames, relative to shards/."""
    meta: str
    """File name of the (count,) FRAME_META_DTYPE records, relative to shards/."""
    count: int
    """Number of frames in the shard."""
    sha256: dict[str, str]
    """Hex sha256 of each file, keyed by file name."""
    patches: str | None = None
    """File name of the (count, K, P, P, 3) float16 patches (datasets with patches only)."""
    patch_positions: str | None = None
    """File name of the (count, K, 2) int32 patch positions."""

    def files(self) -> list[str]:
        return [name for name in (self.frames, self.meta, self.patches, self.patch_positions) if name]


@dataclass
class SequenceRecord:
    """One sequence, as listed in the manifest."""

    id: str
    """Unique name within the dataset."""
    shard: int
    """Index into the manifest's shard list."""
    offset: int
    """Index of the sequence's first frame within the shard."""
    length: int
    """Number of frames."""
    step_seconds: float
    """Sky time between consecutive frames."""
    split: str
    """'train' or 'heldout'."""
    source: str
    """Where the frames came from (SkySequence.source)."""
    attributes: dict = field(default_factory=dict)
    """Source-specific extras (SkySequence.attributes), e.g. the simulator scenario."""
    luminance: dict = field(default_factory=dict)
    """Luminance statistics inside the horizon circle, nits: min, max, log_mean (geometric mean)."""


def is_heldout(index: int, fraction: float) -> bool:
    """Split rule: sequence `index` is held out when ceil(i * f) steps up at i + 1.

    Deterministic, needs no total count (the writer streams), spreads held-out sequences
    evenly, and holds out sequence 0 whenever f > 0, so even a tiny dataset has one.
    """
    return math.ceil((index + 1) * fraction - 1e-9) > math.ceil(index * fraction - 1e-9)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, write) -> None:
    """Write via `write(file)` to a temp name, fsync, then os.replace: readers see old or new, never half."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _replaceable(path: Path) -> bool:
    """True for an empty folder or a folder whose manifest says it is a dataset."""
    if not path.is_dir():
        return False
    if not any(path.iterdir()):
        return True
    try:
        return json.loads((path / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _luminance_stats(frames: np.ndarray) -> dict:
    y = luminance(frames[:, fisheye_mask(frames.shape[1])].astype(np.float32))
    return {
        "min": float(y.min()),
        "max": float(y.max()),
        "log_mean": float(np.exp(np.mean(np.log(np.maximum(y, ENCODING.eps))))),
    }


def _check_json(value, what: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must be plain JSON (no NaN): {e}") from e


class DatasetWriter:
    """Writes SkySequences into a dataset folder, shard by shard; use as a context manager.

    On a clean exit the finished dataset is renamed into place (replacing an old one
    only if `overwrite`); on an exception DATASET.partial stays, resumable from its
    last complete shard, and any existing DATASET is untouched.
    """

    def __init__(
        self,
        path: str | Path,
        resolution: int,
        *,
        heldout_fraction: float = 0.1,
        overwrite: bool = False,
        resume: bool = False,
        provenance: dict | None = None,
        shard_max_bytes: int = SHARD_MAX_BYTES,
        patches: dict | None = None,
    ) -> None:
        """provenance: {"tool", "command", "args"}; on resume, "args" must equal the stored ones
        (so a resumed build continues the same recipe). patches: {"resolution", "size", "per_frame"}
        when every sequence brings per_frame patches of size x size px of its frames at resolution."""
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.shard_max_bytes = shard_max_bytes
        if not 0.0 <= heldout_fraction <= 1.0:
            raise UserError(f"held-out fraction must be in [0, 1], got {heldout_fraction}")
        if self.path.exists() and not overwrite:
            raise UserError(f"{self.path} already exists (pass --overwrite to replace it)")
        if self.path.exists() and not _replaceable(self.path):  # a typo must not delete a home folder
            raise UserError(f"{self.path} is not a skyviewer dataset: refusing to replace it")
        self._buffer: list[tuple[SequenceRecord, SkySequence]] = []
        self._buffer_bytes = 0
        self._discarded = False
        # through JSON, so that resume compares like with like (a tuple is stored as a list)
        provenance = json.loads(
            json.dumps({"tool": "skyviewer", **(provenance or {}), "version": version("skyviewer")})
        )
        patches = _patch_spec(patches)
        if resume and (self.partial / MANIFEST).exists():
            self.manifest = self._resumed_manifest(resolution, heldout_fraction, provenance, patches)
        else:
            if self.partial.exists() and not (resume or overwrite):
                raise UserError(
                    f"{self.partial} holds an interrupted build: pass --resume to continue it"
                    " or --overwrite to start over"
                )
            self.manifest = self._new_manifest(resolution, heldout_fraction, provenance, patches)
            shutil.rmtree(self.partial, ignore_errors=True)
            (self.partial / SHARD_DIR).mkdir(parents=True)
            self._write_manifest()

    # ------------------------------------------------------------ state

    @property
    def resolution(self) -> int:
        return self.manifest["resolution"]

    @property
    def next_index(self) -> int:
        """Index of the next sequence to add: sources skip this many when resuming."""
        return len(self.manifest["sequences"]) + len(self._buffer)

    @staticmethod
    def _new_manifest(
        resolution: int, heldout_fraction: float, provenance: dict, patches: dict | None
    ) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "complete": False,
            "resolution": resolution,
            "projection": PROJECTION,
            "dtype": "float16",
            "units": UNITS,
            "encoding": ENCODING.to_manifest(),
            "sun": SUN.to_manifest(),
            "frame_meta": _meta_fields(FRAME_META_DTYPE),
            "patches": patches,
            "split": {"heldout_fraction": heldout_fraction, "rule": "heldout iff ceil((i+1)f) > ceil(i f)"},
            "step_seconds": None,
            "num_frames": 0,
            "num_sequences": 0,
            "sequences": [],
            "shards": [],
            "provenance": {**provenance, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        }

    def _resumed_manifest(
        self, resolution: int, heldout_fraction: float, provenance: dict, patches: dict | None
    ) -> dict:
        manifest = read_manifest(self.partial, allow_partial=True)
        stored = (manifest["resolution"], manifest["split"]["heldout_fraction"], manifest.get("patches"))
        if (
            stored != (resolution, heldout_fraction, patches)
            or manifest["provenance"].get("args") != provenance.get("args")
            or manifest["frame_meta"] != _meta_fields(FRAME_META_DTYPE)
        ):
            raise UserError(
                f"{self.partial / MANIFEST} was started with different settings"
                f" ({manifest['provenance'].get('command', 'unknown command')}): resume with the same ones,"
                " or pass --overwrite to start over"
            )
        _check_files(self.partial, manifest)
        keep = {name for shard in manifest["shards"] for name in ShardRecord(**shard).files()}
        for stray in (self.partial / SHARD_DIR).iterdir():  # a shard whose manifest update was cut off
            if stray.name not in keep:
                stray.unlink()
        manifest["provenance"]["resumed"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return manifest

    # ------------------------------------------------------------ writing

    def add(self, seq: SkySequence, seq_id: str | None = None) -> str:
        """Queue one sequence (id defaults to seq-NNNNN by index); returns its id.

        Radiance is clamped to float16's range and stored as float16 (skyviewer.sky.radiance).
        """
        index = self.next_index
        seq_id = seq_id or f"seq-{index:05d}"
        if (n := seq.frames.shape[1]) != self.resolution:
            raise ValueError(f"sequence {seq_id} is {n} px, the dataset is {self.resolution} px")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", seq_id):
            raise ValueError(f"sequence id {seq_id!r}: use letters, digits, '.', '_', '-' (it names files)")
        if seq_id in {r.id for r, _ in self._buffer} | {s["id"] for s in self.manifest["sequences"]}:
            raise ValueError(f"duplicate sequence id {seq_id!r}")
        if np.isnan(seq.frames).any():
            raise ValueError(f"sequence {seq_id} has NaN radiance")
        _check_json(seq.attributes, f"attributes of sequence {seq_id}")
        self._check_patches(seq, seq_id)
        frames = to_storage(seq.frames)
        nbytes = frames.nbytes + (seq.patches.size * FRAME_DTYPE.itemsize if seq.patches is not None else 0)
        if self._buffer and self._buffer_bytes + nbytes > self.shard_max_bytes:
            self.flush()
        record = SequenceRecord(
            id=seq_id,
            shard=len(self.manifest["shards"]),
            offset=sum(r.length for r, _ in self._buffer),
            length=len(frames),
            step_seconds=float(seq.step_seconds),
            split=SPLITS[is_heldout(index, self.manifest["split"]["heldout_fraction"])],
            source=seq.source,
            attributes=seq.attributes,
            luminance=_luminance_stats(frames),
        )
        if seq.patches is not None:
            seq = replace(
                seq,
                patches=to_storage(seq.patches),
                patch_positions=seq.patch_positions.astype(POSITION_DTYPE),
            )
        self._buffer.append((record, replace(seq, frames=frames)))
        self._buffer_bytes += nbytes
        return seq_id

    def _check_patches(self, seq: SkySequence, seq_id: str) -> None:
        """The sequence's patches match the dataset's patch spec, inside their frame, no NaN."""
        spec = self.manifest["patches"]
        if spec is None:
            if seq.patches is not None:
                raise ValueError(f"sequence {seq_id} has patches, the dataset was started without")
            return
        if seq.patches is None:
            raise ValueError(
                f"sequence {seq_id} has no patches, the dataset stores {spec['per_frame']} per frame"
            )
        k, size = spec["per_frame"], spec["size"]
        if seq.patches.shape[1:] != (k, size, size, 3):
            raise ValueError(
                f"sequence {seq_id}: patches are {seq.patches.shape[1:]}, expected ({k}, {size}, {size}, 3)"
            )
        pos = seq.patch_positions
        if (pos < 0).any() or (pos > spec["resolution"] - size).any():
            raise ValueError(f"sequence {seq_id}: a patch lies outside the {spec['resolution']} px frame")
        if np.isnan(seq.patches).any():
            raise ValueError(f"sequence {seq_id} has NaN patch radiance")

    def flush(self) -> None:
        """Write the queued sequences as one shard, then record it in the manifest."""
        if not self._buffer:
            return
        index = len(self.manifest["shards"])
        frames = np.concatenate([s.frames for _, s in self._buffer])
        meta = np.concatenate([s.meta for _, s in self._buffer])
        shard = ShardRecord(f"frames-{index:05d}.npy", f"meta-{index:05d}.npy", len(frames), {})
        arrays = [(shard.frames, frames.astype(FRAME_DTYPE, copy=False)), (shard.meta, meta)]
        if self.manifest["patches"] is not None:
            shard.patches, shard.patch_positions = f"patches-{index:05d}.npy", f"patch-pos-{index:05d}.npy"
            patches = np.concatenate([s.patches for _, s in self._buffer]).astype(FRAME_DTYPE, copy=False)
            positions = np.concatenate([s.patch_positions for _, s in self._buffer])
            arrays += [(shard.patches, patches), (shard.patch_positions, positions)]
        for name, array in arrays:
            target = self.partial / SHARD_DIR / name
            _atomic_write(target, lambda f, a=array: np.save(f, a, allow_pickle=False))
            shard.sha256[name] = sha256_file(target)
        self.manifest["shards"].append(asdict(shard))
        self.manifest["sequences"] += [asdict(r) for r, _ in self._buffer]
        self._buffer, self._buffer_bytes = [], 0
        self._write_manifest()

    def _write_manifest(self) -> None:
        m = self.manifest
        m["num_sequences"] = len(m["sequences"])
        m["num_frames"] = sum(s["length"] for s in m["sequences"])
        steps = {s["step_seconds"] for s in m["sequences"]}
        m["step_seconds"] = steps.pop() if len(steps) == 1 else None
        text = json.dumps(m, indent=1, allow_nan=False) + "\n"
        _atomic_write(self.partial / MANIFEST, lambda f: f.write(text.encode()))

    def close(self) -> None:
        """Write the last shard, mark the dataset complete and move it into place."""
        self.flush()
        self.manifest["complete"] = True
        self._write_manifest()
        old = self.path.with_name(self.path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.path.exists():  # only reachable with overwrite (checked in __init__)
            os.replace(self.path, old)
        os.replace(self.partial, self.path)
        _fsync_dir(self.path.parent)
        shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        """Delete DATASET.partial and write nothing: for a build that finished with nothing
        in it, which is no interrupted build for a later run to resume."""
        shutil.rmtree(self.partial)
        self._discarded = True

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and not self._discarded:
            self.close()


# ---------------------------------------------------------------- reading


def _load_json(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: not found (not a skyviewer dataset?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: unreadable manifest: {e}") from None
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: manifest is not a JSON object")
    return manifest


def read_manifest(path: str | Path, allow_partial: bool = False) -> dict:
    """The manifest of the dataset at `path`, its structure checked (not its files)."""
    file = Path(path) / MANIFEST
    m = _load_json(file)
    if m.get("format") != FORMAT:
        raise UserError(f"{file}: format is {m.get('format')!r}, expected {FORMAT!r}")
    if m.get("version") != VERSION:
        raise UserError(f"{file}: version {m.get('version')!r} unsupported (this skyviewer reads {VERSION})")
    if not m.get("complete") and not allow_partial:
        raise UserError(f"{file}: the dataset is incomplete (an interrupted build; resume it)")
    try:
        shards = [ShardRecord(**s) for s in m["shards"]]
        seqs = [SequenceRecord(**s) for s in m["sequences"]]
        resolution = int(m["resolution"])
    except (KeyError, TypeError) as e:
        raise UserError(f"{file}: malformed manifest: {e!r}") from None
    _check_layout(file, shards, seqs, resolution)
    return m


def _check_layout(file: Path, shards: list[ShardRecord], seqs: list[SequenceRecord], resolution: int) -> None:
    """Manifest-internal consistency: safe file names, sequences inside their shards, no overlaps."""
    if resolution <= 0:
        raise UserError(f"{file}: bad resolution {resolution}")
    for s in shards:
        for name in s.files():
            if Path(name).name != name or name.startswith("."):
                raise UserError(f"{file}: shard file name {name!r} is not a plain file name")
    covered = [0] * len(shards)
    for q in seqs:
        if q.split not in SPLITS:
            raise UserError(f"{file}: sequence {q.id} has split {q.split!r}, expected one of {SPLITS}")
        if not 0 <= q.shard < len(shards) or q.offset != covered[q.shard] or q.length <= 0:
            raise UserError(f"{file}: sequence {q.id} (shard {q.shard}, offset {q.offset}) is out of place")
        covered[q.shard] += q.length
    for i, (s, n) in enumerate(zip(shards, covered, strict=True)):
        if s.count != n:
            raise UserError(f"{file}: shard {i} holds {s.count} frames but its sequences cover {n}")
    if len({q.id for q in seqs}) != len(seqs):
        raise UserError(f"{file}: duplicate sequence ids")


def _npy_header(path: Path) -> tuple[tuple, np.dtype, int]:
    """(shape, dtype, expected file size) of a .npy file, from its header alone."""
    try:
        with open(path, "rb") as f:
            fmt = np.lib.format
            major, _ = fmt.read_magic(f)
            read_header = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
            header_len = f.tell()
    except FileNotFoundError:
        raise UserError(f"{path}: shard file is missing") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not a valid .npy file: {e}") from None
    if fortran:
        raise UserError(f"{path}: Fortran-ordered arrays are not supported")
    return shape, dtype, header_len + math.prod(shape) * dtype.itemsize


def _check_npy(path: Path, shape: tuple, dtype: np.dtype) -> None:
    actual_shape, actual_dtype, size = _npy_header(path)
    if actual_shape != shape or actual_dtype != dtype:
        raise UserError(f"{path}: holds {actual_shape} {actual_dtype}, the manifest expects {shape} {dtype}")
    if path.stat().st_size != size:
        raise UserError(f"{path}: is {path.stat().st_size} bytes, expected {size} (truncated or padded)")


def _meta_fields(dtype: np.dtype) -> list[dict]:
    """The manifest's description of a frame-meta dtype."""
    return [
        {"name": name, "dtype": dt.base.str, "shape": list(dt.shape)}
        for name, (dt, _) in dtype.fields.items()
    ]


def _stored_meta_dtype(file: Path, m: dict) -> np.dtype:
    """The dtype of the dataset's meta shards, from the manifest: FRAME_META_DTYPE or an older subset
    of its fields (datasets written before the wind fields), each as FRAME_META_DTYPE has it."""
    try:
        fields = [(f["name"], np.dtype(f["dtype"]), tuple(f["shape"])) for f in m["frame_meta"]]
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{file}: malformed frame_meta: {e!r}") from None
    for name, dt, shape in fields:
        known = FRAME_META_DTYPE.fields.get(name)
        if known is None or (known[0].base, known[0].shape) != (dt, shape):
            raise UserError(
                f"{file}: frame_meta field {name!r} {dt}{list(shape)} is not one this skyviewer reads"
            )
    return np.dtype([(name, dt, shape) if shape else (name, dt) for name, dt, shape in fields])


def _patch_spec(patches: dict | None) -> dict | None:
    if patches is None:
        return None
    spec = {key: int(patches[key]) for key in ("resolution", "size", "per_frame")}
    if spec["per_frame"] < 1 or not 1 <= spec["size"] <= spec["resolution"]:
        raise UserError(f"patches: need per_frame >= 1 and 1 <= size <= resolution, got {spec}")
    return {**spec, "position": "top-left (row, col) in the resolution x resolution frame"}


def _check_files(root: Path, m: dict) -> None:
    """Every shard file exists with the shape, dtype and size the manifest implies."""
    n, spec = m["resolution"], m.get("patches")
    meta_dtype = _stored_meta_dtype(root / MANIFEST, m)
    for s in map(lambda s: ShardRecord(**s), m["shards"]):
        _check_npy(root / SHARD_DIR / s.frames, (s.count, n, n, 3), FRAME_DTYPE)
        _check_npy(root / SHARD_DIR / s.meta, (s.count,), meta_dtype)
        if spec is None:
            continue
        if not (s.patches and s.patch_positions):
            raise UserError(f"{root / MANIFEST}: the dataset has patches but shard {s.frames} lists none")
        k, size = spec["per_frame"], spec["size"]
        _check_npy(root / SHARD_DIR / s.patches, (s.count, k, size, size, 3), FRAME_DTYPE)
        _check_npy(root / SHARD_DIR / s.patch_positions, (s.count, k, 2), POSITION_DTYPE)


class SkyDataset:
    """A validated, memory-mapped dataset: what training reads."""

    def __init__(self, path: Path, manifest: dict) -> None:
        self.path = path
        self.manifest = manifest
        self.records = {s["id"]: SequenceRecord(**s) for s in manifest["sequences"]}
        shard_dir = path / SHARD_DIR
        self._frames = [np.load(shard_dir / s["frames"], mmap_mode="r") for s in manifest["shards"]]
        self._meta = [np.load(shard_dir / s["meta"], mmap_mode="r") for s in manifest["shards"]]
        with_patches = manifest.get("patches") is not None
        self._patches = (
            [np.load(shard_dir / s["patches"], mmap_mode="r") for s in manifest["shards"]]
            if with_patches
            else []
        )
        self._positions = (
            [np.load(shard_dir / s["patch_positions"]) for s in manifest["shards"]] if with_patches else []
        )

    @classmethod
    def open(cls, path: str | Path) -> SkyDataset:
        """Open and validate a finished dataset; any problem is a UserError naming the file."""
        path = Path(path)
        if not path.is_dir():
            raise UserError(f"{path}: no such dataset folder")
        manifest = read_manifest(path)
        _check_files(path, manifest)
        return cls(path, manifest)

    @property
    def resolution(self) -> int:
        return self.manifest["resolution"]

    @property
    def step_seconds(self) -> float | None:
        """Sky time between frames, shared by all sequences (None if they differ; see records)."""
        return self.manifest["step_seconds"]

    @property
    def num_frames(self) -> int:
        return self.manifest["num_frames"]

    @property
    def num_sequences(self) -> int:
        return self.manifest["num_sequences"]

    def sequence_ids(self, split: str | None = None) -> list[str]:
        """Ids of all sequences, or of one split ('train' or 'heldout'), in dataset order."""
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return [i for i, r in self.records.items() if split is None or r.split == split]

    def _record(self, seq_id: str) -> SequenceRecord:
        try:
            return self.records[seq_id]
        except KeyError:
            raise UserError(f"{self.path}: no sequence {seq_id!r}") from None

    def frames(self, seq_id: str) -> np.ndarray:
        """(T, N, N, 3) float16 radiance in nits: a read-only memory-mapped view."""
        r = self._record(seq_id)
        return self._frames[r.shard][r.offset : r.offset + r.length]

    def meta(self, seq_id: str) -> np.ndarray:
        """(T,) FRAME_META_DTYPE records of the sequence (memory-mapped view). A dataset written before a
        field existed reads it as NaN (a copy, then)."""
        r = self._record(seq_id)
        stored = self._meta[r.shard][r.offset : r.offset + r.length]
        if stored.dtype == FRAME_META_DTYPE:
            return stored
        meta = empty_meta(r.length)
        for name in stored.dtype.names:
            meta[name] = stored[name]
        return meta

    @property
    def patch_spec(self) -> dict | None:
        """{"resolution", "size", "per_frame"} of the stored high-resolution patches, or None."""
        return self.manifest.get("patches")

    def _patch_shard(self, seq_id: str) -> tuple[SequenceRecord, int]:
        if self.patch_spec is None:
            raise UserError(f"{self.path}: the dataset has no patches (synth --patch-resolution makes them)")
        r = self._record(seq_id)
        return r, r.shard

    def patches(self, seq_id: str) -> np.ndarray:
        """(T, K, P, P, 3) float16 nits, memory-mapped: K patches of each frame at patch_spec's resolution."""
        r, shard = self._patch_shard(seq_id)
        return self._patches[shard][r.offset : r.offset + r.length]

    def patch_positions(self, seq_id: str) -> np.ndarray:
        """(T, K, 2) int32 top-left (row, col) of each patch in the patch_spec resolution frame."""
        r, shard = self._patch_shard(seq_id)
        return self._positions[shard][r.offset : r.offset + r.length]

    def verify(self, progress: bool = False) -> None:
        """Check every shard file against its sha256 in the manifest (reads everything)."""
        names = [(n, h) for s in self.manifest["shards"] for n, h in s["sha256"].items()]
        if progress:
            from tqdm import tqdm

            names = tqdm(names, desc="verify", unit="file", file=sys.stderr)
        for name, expected in names:
            file = self.path / SHARD_DIR / name
            if sha256_file(file) != expected:
                raise UserError(f"{file}: sha256 does not match the manifest (corrupt)")

    def summary(self) -> str:
        """A readable multi-line description: what `skyviewer dataset info` prints."""
        m, prov, records = self.manifest, self.manifest["provenance"], list(self.records.values())
        n = self.resolution
        files = [name for s in m["shards"] for name in ShardRecord(**s).files()]
        size_mib = sum((self.path / SHARD_DIR / name).stat().st_size for name in files) / 2**20
        lines = [
            f"dataset     {self.path}  ({m['format']} v{m['version']})",
            f"sequences   {self.num_sequences}: " + _counts(r.split for r in records),
            f"frames      {self.num_frames} in {len(m['shards'])} shard(s), {size_mib:.1f} MiB",
            f"images      {n} x {n} {m['projection']['name']}, {m['dtype']} {m['units']}",
            "step        " + _counts(f"{r.step_seconds:g} s" for r in records),
            "length      " + _counts(f"{r.length} frames" for r in records),
            "luminance   " + _luminance_range([r.luminance for r in records]),
            "sources     "
            + _counts(r.source.split(" ", 1)[0] for r in records),  # 'skysim seed=3' -> 'skysim'
            f"created     {prov.get('created', '?')} by {prov.get('tool', '?')} {prov.get('version', '?')}",
        ]
        if p := self.patch_spec:
            size = f"{p['size']} x {p['size']} px"
            lines.insert(
                4, f"patches     {p['per_frame']} per frame, {size} of the {p['resolution']} px frame"
            )
        if prov.get("command"):
            lines.append(f"command     {prov['command']}")
        return "\n".join(lines)


def _counts(values) -> str:
    """'train: 58, heldout: 6': how often each value occurs, most frequent first."""
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return ", ".join(f"{v}: {c}" for v, c in sorted(counts.items(), key=lambda vc: -vc[1])) or "none"


def _luminance_range(stats: list[dict]) -> str:
    if not stats:
        return "none"
    lo, hi = min(x["min"] for x in stats), max(x["max"] for x in stats)
    mean_lo, mean_hi = min(x["log_mean"] for x in stats), max(x["log_mean"] for x in stats)
    return f"{lo:.3g} .. {hi:.3g} nits; per-sequence log-mean {mean_lo:.3g} .. {mean_hi:.3g} nits"
