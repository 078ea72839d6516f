"""The render thread's side of the worker: take finished frames without waiting, decide which
two are on the GPU, and how far between them the display is.

Sky time runs with the display clock. When the worker falls behind, the displayed sky holds at
the newest frame (sky time stalls) instead of the render loop waiting; when the display skips
several steps in one frame (a high sky rate), only the last two frames are uploaded.
"""

from __future__ import annotations

import math
import queue
from collections.abc import Callable

from skyviewer.app.worker import SkyWorker
from skyviewer.runtime.timeline import SkyFrame, SkySample


class SkyFeed:
    """Frames from a SkyWorker to the dome's two textures, on the render thread."""

    def __init__(self, worker: SkyWorker, upload: Callable[[SkyFrame], None]) -> None:
        """upload(frame): put a frame on the GPU as the newest of the two (DomeRenderer.push_frame)."""
        self.worker = worker
        self.upload = upload
        self.step_seconds = worker.model.step_seconds
        self.generation = -1
        """Generation of the frames on screen (lags the worker's after a restart, until its
        first two frames arrive: the old sky stays up meanwhile)."""
        self.sky_seconds = 0.0
        """Sky time since the start of the generation on screen."""
        self.dropped = 0
        """Stale frames (of an older generation) thrown away."""
        self.pair: tuple[SkyFrame, SkyFrame] | None = None
        self._pending: dict[int, SkyFrame] = {}
        self._pending_generation = -1

    def update(self, sky_dt: float) -> SkySample | None:
        """Advance sky time by sky_dt, upload what the display needs; the sky to show (None
        until the first frames arrive)."""
        self._drain()
        if self.generation != self.worker.generation:
            self._switch_generation()
        elif self.pair is not None:
            self.sky_seconds += sky_dt
            self._advance()
        if self.pair is None:
            return None
        prev, nxt = self.pair
        self.sky_seconds = min(self.sky_seconds, nxt.index * self.step_seconds)  # starved: hold
        blend = min(max(self.sky_seconds / self.step_seconds - prev.index, 0.0), 1.0)
        self.worker.show(self.generation, nxt.index)
        return SkySample(prev, nxt, blend, self.sky_seconds)

    def _drain(self) -> None:
        current = self.worker.generation
        if current != self._pending_generation:  # a restart: what waited is stale now
            self.dropped += len(self._pending)
            self._pending, self._pending_generation = {}, current
        while True:
            try:
                item = self.worker.frames.get_nowait()
            except queue.Empty:
                return
            if item.generation != current:
                self.dropped += 1
            else:
                self._pending[item.frame.index] = item.frame

    def _switch_generation(self) -> None:
        """Show the new generation once its frames 0 and 1 are here; until then, the old sky."""
        if 0 not in self._pending or 1 not in self._pending:
            return
        self.pair = (self._pending.pop(0), self._pending.pop(1))
        for frame in self.pair:
            self.upload(frame)
        self.generation = self._pending_generation
        self.sky_seconds = 0.0

    def _advance(self) -> None:
        """Move the pair forward to frames (k, k + 1) around sky time, as far as frames exist."""
        want = math.floor(self.sky_seconds / self.step_seconds)  # index of the frame to be `prev`
        passed = []
        while self.pair[1].index <= want and self.pair[1].index + 1 in self._pending:
            self.pair = (self.pair[1], self._pending.pop(self.pair[1].index + 1))
            passed.append(self.pair[1])
        for frame in passed[-2:]:  # the GPU keeps two frames: only the last two matter
            self.upload(frame)
