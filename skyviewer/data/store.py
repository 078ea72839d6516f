"""The on-disk dataset: sharded float16 frames + a JSON manifest (docs/datasets.md).

    DATASET/manifest.json             what is where, conventions, splits, provenance
    DATASET/shards/frames-00000.npy   (F, N, N, 3) float16 radiance in nits, plain .npy (memory-mappable)
    DATASET/shards/meta-00000.npy     (F,) FRAME_META_DTYPE, one record per frame

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

from skyviewer.data.types import FRAME_META_DTYPE, SkySequence
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
    ) -> None:
        """provenance: {"tool", "command", "args"}; on resume, "args" must equal the stored ones
        (so a resumed build continues the same recipe)."""
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
        if resume and (self.partial / MANIFEST).exists():
            self.manifest = self._resumed_manifest(resolution, heldout_fraction, provenance)
        else:
            if self.partial.exists() and not (resume or overwrite):
                raise UserError(
                    f"{self.partial} holds an interrupted build: pass --resume to continue it"
                    " or --overwrite to start over"
                )
            self.manifest = self._new_manifest(resolution, heldout_fraction, provenance)
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
    def _new_manifest(resolution: int, heldout_fraction: float, provenance: dict) -> dict:
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
            "frame_meta": [
                {"name": name, "dtype": dt.base.str, "shape": list(dt.shape)}
                for name, (dt, _) in FRAME_META_DTYPE.fields.items()
            ],
            "split": {"heldout_fraction": heldout_fraction, "rule": "heldout iff ceil((i+1)f) > ceil(i f)"},
            "step_seconds": None,
            "num_frames": 0,
            "num_sequences": 0,
            "sequences": [],
            "shards": [],
            "provenance": {**provenance, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        }

    def _resumed_manifest(self, resolution: int, heldout_fraction: float, provenance: dict) -> dict:
        manifest = read_manifest(self.partial, allow_partial=True)
        stored = (manifest["resolution"], manifest["split"]["heldout_fraction"], manifest["provenance"])
        if stored[:2] != (resolution, heldout_fraction) or stored[2].get("args") != provenance.get("args"):
            raise UserError(
                f"{self.partial / MANIFEST} was started with different settings"
                f" ({stored[2].get('command', 'unknown command')}): resume with the same ones,"
                " or pass --overwrite to start over"
            )
        _check_files(self.partial, manifest)
        keep = {name for shard in manifest["shards"] for name in (shard["frames"], shard["meta"])}
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
        frames = to_storage(seq.frames)
        if self._buffer and self._buffer_bytes + frames.nbytes > self.shard_max_bytes:
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
        self._buffer.append((record, replace(seq, frames=frames)))
        self._buffer_bytes += frames.nbytes
        return seq_id

    def flush(self) -> None:
        """Write the queued sequences as one shard, then record it in the manifest."""
        if not self._buffer:
            return
        index = len(self.manifest["shards"])
        frames = np.concatenate([s.frames for _, s in self._buffer])
        meta = np.concatenate([s.meta for _, s in self._buffer])
        shard = ShardRecord(f"frames-{index:05d}.npy", f"meta-{index:05d}.npy", len(frames), {})
        for name, array in ((shard.frames, frames.astype(FRAME_DTYPE, copy=False)), (shard.meta, meta)):
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
        for name in (s.frames, s.meta):
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


def _check_files(root: Path, m: dict) -> None:
    """Every shard file exists with the shape, dtype and size the manifest implies."""
    n = m["resolution"]
    for s in m["shards"]:
        _check_npy(root / SHARD_DIR / s["frames"], (s["count"], n, n, 3), FRAME_DTYPE)
        _check_npy(root / SHARD_DIR / s["meta"], (s["count"],), FRAME_META_DTYPE)


class SkyDataset:
    """A validated, memory-mapped dataset: what training reads."""

    def __init__(self, path: Path, manifest: dict) -> None:
        self.path = path
        self.manifest = manifest
        self.records = {s["id"]: SequenceRecord(**s) for s in manifest["sequences"]}
        shard_dir = path / SHARD_DIR
        self._frames = [np.load(shard_dir / s["frames"], mmap_mode="r") for s in manifest["shards"]]
        self._meta = [np.load(shard_dir / s["meta"], mmap_mode="r") for s in manifest["shards"]]

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
        """(T,) FRAME_META_DTYPE records of the sequence (memory-mapped view)."""
        r = self._record(seq_id)
        return self._meta[r.shard][r.offset : r.offset + r.length]

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
        size_mib = sum((self.path / SHARD_DIR / s["frames"]).stat().st_size for s in m["shards"]) / 2**20
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
