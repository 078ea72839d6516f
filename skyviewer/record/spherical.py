"""360-degree video metadata for equirect MP4s: a tiny ISO-BMFF (MP4) box editor.

A player lets the viewer look around only when the file says the video is spherical. Two open
schemes exist (github.com/google/spatial-media, docs/) and players read one or the other, so the
video track gets both:

* Spherical Video V1: a `uuid` box (UUID ffcc8263-f855-4a93-8814-587a02521fdd) holding the
  GSpherical RDF/XML, at the end of the video `trak`;
* Spherical Video V2: `st3d` (mono) and `sv3d` (`svhd` + `proj` with `prhd` and `equi`) in the
  track's visual sample entry (`avc1`), right after its mandatory `avcC`.

A box is a 32-bit big-endian size (header included; 1 = a 64-bit size follows the type), a
four-character type, then its payload; container boxes hold boxes. Inserting a box means
growing every ancestor's size. The recorder writes fragmented MP4 with an empty `moov` whose
fragments address their samples relative to their own `moof` (default_base_moof), so growing the
`moov` moves no sample offsets.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

from skyviewer.errors import UserError

SPHERICAL_V1_UUID = bytes.fromhex("ffcc8263f8554a938814587a02521fdd")
"""Spherical Video V1 `uuid` user type (docs/spherical-video-rfc.md)."""

V1_XML = (
    '<?xml version="1.0"?>'
    '<rdf:SphericalVideo xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns:GSpherical="http://ns.google.com/videos/1.0/spherical/">'
    "<GSpherical:Spherical>true</GSpherical:Spherical>"
    "<GSpherical:Stitched>true</GSpherical:Stitched>"
    "<GSpherical:StitchingSoftware>skyviewer</GSpherical:StitchingSoftware>"
    "<GSpherical:ProjectionType>equirectangular</GSpherical:ProjectionType>"
    "</rdf:SphericalVideo>"
)

# Bytes between a box's header and its first child, for the boxes on our path that are not
# plain containers: stsd (FullBox + entry count), visual sample entries (ISO 14496-12: 8 bytes of
# SampleEntry and 70 of VisualSampleEntry fields).
_CHILD_OFFSET = {"stsd": 8, "avc1": 78, "avc3": 78}


def box(kind: str, payload: bytes) -> bytes:
    """A box of four-character type `kind` around `payload`."""
    return struct.pack(">I4s", 8 + len(payload), kind.encode("ascii")) + payload


def full_box(kind: str, payload: bytes, version: int = 0, flags: int = 0) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def children(data: bytes, start: int, end: int) -> Iterator[tuple[str, int, int, int]]:
    """(type, box start, payload start, box end) of the boxes in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"bad box size {size} at byte {pos}")
        yield kind.decode("latin-1"), pos, pos + header, pos + size
        pos += size


def find(data: bytes, path: list[str], start: int = 0, end: int | None = None) -> tuple[int, int, int] | None:
    """(box start, payload start, box end) of the first box along `path` (types), or None."""
    end = len(data) if end is None else end
    for kind, pos, payload, stop in children(data, start, end):
        if kind != path[0]:
            continue
        if len(path) == 1:
            return pos, payload, stop
        found = find(data, path[1:], payload + _CHILD_OFFSET.get(kind, 0), stop)
        if found is not None:
            return found
    return None


def _insert(data: bytes, ancestors: list[int], at: int, new: bytes) -> bytes:
    """data with `new` inserted at byte `at`, and the 32-bit sizes of the boxes starting at
    `ancestors` (which all enclose `at`) grown by len(new)."""
    out = bytearray(data[:at] + new + data[at:])
    for pos in ancestors:
        (size,) = struct.unpack_from(">I", out, pos)
        if size in (0, 1):
            raise ValueError("64-bit or open-ended box sizes are not supported here")
        struct.pack_into(">I", out, pos, size + len(new))
    return bytes(out)


def _video_trak(moov: bytes) -> tuple[int, int, int]:
    """(box start, payload start, box end) of the first `trak` in moov whose handler is video."""
    for kind, pos, payload, stop in children(moov, 8, len(moov)):
        hdlr = find(moov, ["mdia", "hdlr"], payload, stop) if kind == "trak" else None
        if hdlr is not None and moov[hdlr[1] + 8 : hdlr[1] + 12] == b"vide":
            return pos, payload, stop
    raise ValueError("no video track")


def spherical_boxes() -> tuple[bytes, bytes]:
    """(V1 uuid box, V2 st3d + sv3d boxes) for a mono, full-sphere equirect video."""
    v1 = box("uuid", SPHERICAL_V1_UUID + V1_XML.encode("utf-8"))
    prhd = full_box("prhd", struct.pack(">iii", 0, 0, 0))  # pose yaw, pitch, roll (16.16): none
    equi = full_box("equi", struct.pack(">IIII", 0, 0, 0, 0))  # bounds top/bottom/left/right: none
    sv3d = box("sv3d", full_box("svhd", b"skyviewer\0") + box("proj", prhd + equi))
    return v1, full_box("st3d", b"\0") + sv3d


def inject_moov(moov: bytes) -> bytes:
    """A `moov` box with both spherical metadata versions added to its video track."""
    v1, v2 = spherical_boxes()
    trak, start, end = _video_trak(moov)
    trak_end = end
    path = ["mdia", "minf", "stbl", "stsd", "avc1"]
    chain = [0, trak]
    for kind in path:  # the boxes from trak down to the sample entry: their sizes grow with v2
        found = find(moov, [kind], start, end)
        if found is None:
            raise ValueError(f"video track has no {'/'.join(path)}")
        chain.append(found[0])
        start, end = found[1] + _CHILD_OFFSET.get(kind, 0), found[2]
    avcc = find(moov, ["avcC"], start, end)
    if avcc is None:
        raise ValueError("avc1 sample entry without avcC")
    moov = _insert(moov, chain, avcc[2], v2)
    return _insert(moov, [0, trak], trak_end + len(v2), v1)


def add_spherical_metadata(path: Path) -> None:
    """Rewrite the MP4 at `path` with spherical metadata in its `moov` (streamed: only the boxes
    up to the moov are held in memory; the rest is copied)."""
    path = Path(path)
    with open(path, "rb") as src:
        head = src.read(1 << 20)  # ftyp + an empty moov are a few KB
        moov = find(head, ["moov"])
        if moov is None:
            raise UserError(f"{path}: no moov box in the first MiB; cannot add 360 metadata")
        new_moov = inject_moov(head[moov[0] : moov[2]])
        tmp = path.with_name(path.name + ".360")
        with open(tmp, "wb") as dst:
            dst.write(head[: moov[0]] + new_moov)
            src.seek(moov[2])
            shutil.copyfileobj(src, dst, 1 << 22)
    os.replace(tmp, path)


def read_spherical(path: Path) -> dict:
    """What a player would read: {"v1_projection": str | None, "v2_projection": str | None}."""
    data = Path(path).read_bytes()
    moov = find(data, ["moov"])
    if moov is None:
        raise ValueError(f"{path}: no moov")
    moov_bytes = data[moov[0] : moov[2]]
    _, trak_payload, trak_end = _video_trak(moov_bytes)
    v1 = None
    for kind, _, payload, stop in children(moov_bytes, trak_payload, trak_end):
        if kind == "uuid" and moov_bytes[payload : payload + 16] == SPHERICAL_V1_UUID:
            xml = moov_bytes[payload + 16 : stop].decode("utf-8")
            v1 = xml.split("<GSpherical:ProjectionType>")[1].split("<")[0]
    sv3d = find(moov_bytes, ["trak", "mdia", "minf", "stbl", "stsd", "avc1", "sv3d", "proj"], 8)
    v2 = None
    if sv3d is not None:
        kinds = [k for k, *_ in children(moov_bytes, sv3d[1], sv3d[2])]
        v2 = "equirectangular" if "equi" in kinds else kinds[-1]
    return {"v1_projection": v1, "v2_projection": v2}
