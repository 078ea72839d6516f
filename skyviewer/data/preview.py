"""`skyviewer dataset preview`: what a dataset looks like, as a contact sheet PNG and a GIF.

Frames are tone-mapped with the reference operator (skyviewer.sky.tonemap) using one
auto-exposure key per sequence, the geometric mean of its frames' keys: so a sequence
that darkens towards dusk visibly darkens, instead of being re-exposed frame by frame.
Pixels below the horizon are black.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from skyviewer.data.store import SkyDataset
from skyviewer.errors import UserError
from skyviewer.sky.projection import fisheye_mask
from skyviewer.sky.tonemap import SKY_EXPOSURE_BIAS_STOPS, auto_key_nits, to_uint8, tonemap

ROWS = 8
"""Sequences on the contact sheet (spread evenly over the dataset)."""
COLS = 6
"""Frames per sequence on the contact sheet (spread evenly over the sequence)."""
TILE = 160
"""Side of one contact-sheet tile, pixels."""
GIF_SIZE = 256
"""Side of the GIF frames, pixels."""
GIF_FRAME_MS = 120
"""Display time of one GIF frame."""
HEADER = 18
"""Height of the caption strip above each contact-sheet row, pixels."""
BACKGROUND = (24, 24, 28)


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def sequence_key_nits(frames: np.ndarray, mask: np.ndarray) -> float:
    """One auto-exposure key for a whole sequence: geometric mean of the per-frame keys."""
    keys = [auto_key_nits(f, mask) for f in frames]
    return float(np.exp(np.mean(np.log(keys))))


def render_frame(frame: np.ndarray, key: float, mask: np.ndarray, size: int) -> Image.Image:
    """Tone-mapped, horizon-masked RGB image of one (N, N, 3) radiance frame, resized to size."""
    rgb = to_uint8(tonemap(frame, key, SKY_EXPOSURE_BIAS_STOPS)) * mask[..., None].astype(np.uint8)
    return Image.fromarray(rgb).resize((size, size), Image.Resampling.LANCZOS)


def frame_clock(ds: SkyDataset, seq_id: str, index: int) -> str:
    """'HH:MM:SS' local mean solar time of a frame (UTC + longitude / 15 h) when the source
    knows the place; 'HH:MM:SSZ' (UTC) when it knows only the time; '+Ns' sky time otherwise."""
    row = ds.meta(seq_id)[index]
    if math.isnan(row["unix_time"]):
        return f"+{row['t_seconds']:.0f}s"
    utc = datetime.fromtimestamp(float(row["unix_time"]), timezone.utc)
    longitude = ds.records[seq_id].attributes.get("scenario", {}).get("longitude_deg")
    if longitude is None:
        return utc.strftime("%H:%M:%SZ")
    return (utc + timedelta(hours=longitude / 15.0)).strftime("%H:%M:%S")


def sequence_caption(ds: SkyDataset, seq_id: str) -> str:
    """'seq-00003 train  cloud 0.42  sun 12°' from the first frame's metadata (? if unknown)."""
    row = ds.meta(seq_id)[0]
    cloud = "?" if math.isnan(row["cloud_cover"]) else f"{row['cloud_cover']:.2f}"
    sun_y = float(row["sun_dir"][1])
    sun = "?" if math.isnan(sun_y) else f"{math.degrees(math.asin(np.clip(sun_y, -1, 1))):.0f}°"
    return f"{seq_id} {ds.records[seq_id].split}  cloud {cloud}  sun {sun}"


def _label(image: Image.Image, text: str, font: ImageFont.ImageFont) -> None:
    """Draw text in the bottom-left corner, with a shadow so it reads on sky and on black."""
    draw = ImageDraw.Draw(image)
    x, y = 3, image.height - font.size - 4
    draw.text((x + 1, y + 1), text, fill=(0, 0, 0), font=font)
    draw.text((x, y), text, fill=(255, 255, 255), font=font)


def _spread(n: int, k: int) -> list[int]:
    """Up to k indices spread evenly over range(n), first and last included."""
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, min(k, n))})


def contact_sheet(ds: SkyDataset, rows: int = ROWS, cols: int = COLS, tile: int = TILE) -> Image.Image:
    """Several sequences (rows) x several frames (columns), captioned."""
    ids = [ds.sequence_ids()[i] for i in _spread(ds.num_sequences, rows)]
    width = min(cols, max(ds.records[i].length for i in ids)) * tile
    sheet = Image.new("RGB", (width, len(ids) * (HEADER + tile)), BACKGROUND)
    draw, header_font, clock_font = ImageDraw.Draw(sheet), _font(HEADER - 5), _font(max(9, tile // 12))
    mask = fisheye_mask(ds.resolution)
    for r, seq_id in enumerate(ids):
        top = r * (HEADER + tile)
        draw.text((4, top + 2), sequence_caption(ds, seq_id), fill=(230, 230, 230), font=header_font)
        frames = ds.frames(seq_id)
        key = sequence_key_nits(frames, mask)
        for c, i in enumerate(_spread(len(frames), cols)):
            image = render_frame(frames[i], key, mask, tile)
            _label(image, frame_clock(ds, seq_id, i), clock_font)
            sheet.paste(image, (c * tile, top + HEADER))
    return sheet


def animation(ds: SkyDataset, seq_id: str, size: int = GIF_SIZE) -> list[Image.Image]:
    """Every frame of one sequence, tone-mapped with one key and stamped with its time."""
    frames = ds.frames(seq_id)
    mask = fisheye_mask(ds.resolution)
    key = sequence_key_nits(frames, mask)
    font = _font(max(9, size // 16))
    images = []
    for i, frame in enumerate(frames):
        image = render_frame(frame, key, mask, size)
        _label(image, f"{seq_id} {frame_clock(ds, seq_id, i)}", font)
        images.append(image)
    return images


def write_preview(
    dataset: str | Path, out: str | Path | None = None, sequence: str | None = None
) -> list[Path]:
    """Write contact-sheet.png and <sequence>.gif into out (default DATASET/preview); returns the paths."""
    ds = SkyDataset.open(dataset)
    if ds.num_sequences == 0:
        raise UserError(f"{ds.path}: the dataset has no sequences to preview")
    seq_id = sequence or ds.sequence_ids()[0]
    if seq_id not in ds.records:
        raise UserError(f"{ds.path}: no sequence {seq_id!r} (ids look like {ds.sequence_ids()[0]!r})")
    out = Path(out) if out is not None else ds.path / "preview"
    out.mkdir(parents=True, exist_ok=True)
    sheet_path, gif_path = out / "contact-sheet.png", out / f"{seq_id}.gif"
    contact_sheet(ds).save(sheet_path)
    first, *rest = animation(ds, seq_id)
    first.save(gif_path, save_all=True, append_images=rest, duration=GIF_FRAME_MS, loop=0)
    return [sheet_path, gif_path]
