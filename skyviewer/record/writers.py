"""Recording outputs behind one interface: MP4 (H.264), GIF, PNG and EXR sequences.

Every writer writes to a `.partial` name (`clip.partial.mp4`, `frames.partial/`) and renames it
to the asked name only when the recording completed, so an incomplete output never looks
complete. MP4 is fragmented (an empty moov, then a moof + mdat per keyframe interval) and
flushed per packet, so even a killed recording is playable up to its last fragment.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from abc import ABC, abstractmethod
from fractions import Fraction
from pathlib import Path

import numpy as np

from skyviewer.errors import UserError
from skyviewer.record.config import RecordConfig
from skyviewer.record.spherical import add_spherical_metadata
from skyviewer.render.files import write_exr, write_png
from skyviewer.render.projections import CUBE_FACE_NAMES

# Generous size estimates per output pixel, for the free-space check (dither noise and fine
# cloud texture compress worse than typical video).
BYTES_PER_PIXEL = {"mp4": 0.15, "gif": 1.0, "png": 3.0, "exr": 12.0}
MP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
"""Fragmented MP4, moof-relative offsets (what makes the 360 metadata insert safe), each packet
written through to the file at once."""
SKY_X264_TUNING = {"veryfast": ":me=dia:subme=1"}
"""x264 options added to a preset. With the default, veryfast: the diamond motion search and one
subpixel refinement pass instead of hexagon and two. Sky timelapses drift slowly and smoothly:
40 frames of the default at 1080p encoded 26-29 -> 17 ms per frame on one thread, at the same
PSNR (43.8 dB, crf 18) and an 11 % larger file (docs/recording.md). Other presets are left as
x264 defines them."""


def partial_path(out: Path) -> Path:
    """clip.mp4 -> clip.partial.mp4; frames -> frames.partial."""
    return out.with_name(f"{out.stem}.partial{out.suffix}")


class Writer(ABC):
    """One output: write() one frame (its images) at a time, then close()."""

    hdr = False
    """True: write() gets linear radiance (float32 nits) instead of display uint8 images."""

    def __init__(self, config: RecordConfig) -> None:
        self.config = config
        self.final = Path(config.out)
        self.partial = partial_path(self.final)
        self.frames = 0
        """Frames written so far."""

    @abstractmethod
    def write(self, images: list[np.ndarray]) -> None:
        """One frame: one (H, W, 3) image, or six cube faces in OpenGL order."""

    @abstractmethod
    def _finish(self) -> None:
        """Flush and close the partial output, leaving it playable."""

    def close(self, complete: bool) -> Path:
        """Finish the output; rename it to its final name if complete. Returns where it is."""
        self._finish()
        if not complete:
            return self.partial
        if self.final.is_dir():
            shutil.rmtree(self.final)  # only reached with --overwrite (preflight refuses otherwise)
        os.replace(self.partial, self.final)
        return self.final


class Mp4Writer(Writer):
    """H.264 (libx264), yuv420p with BT.709 tags, fragmented MP4; equirect gets 360 metadata."""

    def __init__(self, config: RecordConfig) -> None:
        import av

        super().__init__(config)
        self._av = av
        self.container = av.open(str(self.partial), "w", format="mp4", options=MP4_OPTIONS)
        gop = max(1, round(config.fps * config.keyframe_seconds))
        stream = self.container.add_stream("libx264", rate=Fraction(config.fps).limit_denominator(1001))
        stream.width, stream.height = config.size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        stream.options = {
            "crf": str(config.crf),
            "preset": config.preset,
            # fixed keyframe interval: fragments (and what a kill can lose) stay keyframe_seconds long.
            # cpu-independent: x264's SIMD macroblock-tree kernels (AVX-512 here) read past the end
            # of a row of costs when the width is not a multiple of 128 px, so the encoded video
            # depended on whatever the heap held (other threads' garbage; up to 16/255 apart after
            # decoding). The portable C kernels make the bytes depend on the frames alone, on any CPU.
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:cpu-independent=1"
            + SKY_X264_TUNING.get(config.preset, ""),
        }
        cc = stream.codec_context
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1  # BT.709, limited
        self.stream = stream

    def write(self, images: list[np.ndarray]) -> None:
        from av.video.reformatter import ColorRange, Colorspace

        frame = self._av.VideoFrame.from_ndarray(images[0], format="rgb24")
        frame = frame.reformat(
            format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG
        )
        frame.pts = self.frames
        self.container.mux(self.stream.encode(frame))
        self.frames += 1

    def _finish(self) -> None:
        self.container.mux(self.stream.encode(None))  # drain the encoder's lookahead
        self.container.close()
        if self.config.view == "equirect":
            add_spherical_metadata(self.partial)


class GifWriter(Writer):
    """Animated GIF (Pillow): frames are palettised as they come and saved at the end.

    Pillow merges a frame identical to the previous one into it (longer duration)."""

    def __init__(self, config: RecordConfig) -> None:
        super().__init__(config)
        self._frames = []

    def write(self, images: list[np.ndarray]) -> None:
        from PIL import Image

        self._frames.append(Image.fromarray(images[0]).quantize(256, dither=Image.Dither.FLOYDSTEINBERG))
        self.frames += 1

    def _finish(self) -> None:
        if self._frames:
            duration_ms = round(1000.0 / self.config.fps)
            first, *rest = self._frames
            first.save(self.partial, save_all=True, append_images=rest, duration=duration_ms, loop=0)


class SequenceWriter(Writer):
    """A folder of numbered images: frame_000000.png (or _px .. _nz per cube face), or .exr
    float32 linear radiance in nits (ZIP compressed: float16 would overflow on the sun)."""

    def __init__(self, config: RecordConfig) -> None:
        super().__init__(config)
        self.hdr = config.format == "exr"
        if self.partial.exists():
            shutil.rmtree(self.partial)  # an earlier interrupted run's
        self.partial.mkdir(parents=True)

    def write(self, images: list[np.ndarray]) -> None:
        names = CUBE_FACE_NAMES if len(images) == 6 else [""]
        for image, face in zip(images, names, strict=True):
            suffix = f"_{face}" if face else ""
            path = self.partial / f"frame_{self.frames:06d}{suffix}.{self.config.format}"
            write_exr(path, image) if self.hdr else write_png(path, image, compress_level=3)
        self.frames += 1

    def _finish(self) -> None:
        pass  # every image is complete once written


WRITERS: dict[str, type[Writer]] = {
    "mp4": Mp4Writer,
    "gif": GifWriter,
    "png": SequenceWriter,
    "exr": SequenceWriter,
}


def preflight(config: RecordConfig) -> None:
    """Refuse, before anything is written, what would fail later: an existing output (without
    overwrite), an unwritable folder, too little free disk space."""
    out = Path(config.out)
    if out.exists() and not config.overwrite:
        raise UserError(f"{out} exists; pass --overwrite to replace it")
    folder = out.parent.resolve()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"{out}: {existing} is not a folder")
    try:
        tempfile.TemporaryFile(dir=existing).close()  # os.access says yes to root on read-only mounts
    except OSError as exc:
        raise UserError(f"{out}: cannot write in {existing}: {exc.strerror}") from None
    width, height = config.size
    faces = 6 if config.view == "cube" else 1
    needed = config.frames * faces * width * height * BYTES_PER_PIXEL[config.format]
    if config.format == "mp4" and config.view == "equirect":
        needed *= 2  # the 360 metadata rewrite copies the file once
    free = shutil.disk_usage(existing).free
    if needed > free:
        raise UserError(
            f"{out}: needs about {needed / 1e6:.0f} MB, {existing} has {free / 1e6:.0f} MB free "
            "(fewer --frames or a smaller --size)"
        )
    folder.mkdir(parents=True, exist_ok=True)


class BackgroundWriter:
    """A writer whose write() runs on its own thread, one frame behind the caller: the recorder
    renders frame i + 1 while frame i is encoded (x264 and PyAV's colour conversion, PNG deflate
    and EXR compression release the GIL). On 2 cores with llvmpipe this overlap made 1080p MP4
    recording 1.14x faster (docs/benchmarks.md). An error on the thread is raised by the next
    write() or by close(), which leaves the output at its partial name."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.hdr, self.partial = writer.hdr, writer.partial
        self.frames = 0
        """Frames accepted; close() returns once all of them are written."""
        self._queue: queue.Queue[list[np.ndarray] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (images := self._queue.get()) is not None:
            if self._error is None:  # after a failure, drain without writing
                try:
                    self.writer.write(images)
                except BaseException as exc:  # re-raised on the caller's thread
                    self._error = exc

    def write(self, images: list[np.ndarray]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(images)
        self.frames += 1

    def close(self, complete: bool) -> Path:
        """Wait for the queued frames, then close the writer (see Writer.close)."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            self.writer.close(False)
            raise self._error
        return self.writer.close(complete)


def open_writer(config: RecordConfig) -> BackgroundWriter:
    """The writer of config.format, after the preflight checks, on its own thread."""
    preflight(config)
    return BackgroundWriter(WRITERS[config.format](config))
