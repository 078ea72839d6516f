"""SkySim as a sky source for the recorder: the part of SkyModel's interface SkyTimeline drives.

Records the physically based simulator (skyviewer.data.skysim) through the same timeline,
renderer and writers as a trained package: a reference to compare a model with, and a sky to
record before any package is trained. The simulator keeps its own clock (SimConfig place and
start time, step_seconds per step), so the recorder's clock must describe the same place and time.
"""

from __future__ import annotations

import numpy as np

from skyviewer.data.skysim import SimConfig, SkySim


class SimSkyModel:
    """SkyModel look-alike: reset(seed) starts a SkySim, step() renders its next frame."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._sim: SkySim | None = None
        self._k = 0

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def step_seconds(self) -> float:
        return self.config.step_seconds

    def set_conditions(self, **values) -> None:
        """Accepted for SkyModel compatibility: the simulator's sun and clouds come from its config."""

    def conditions(self) -> dict[str, np.ndarray]:
        return {"sun_dir": self._require().sun(self._k)[0].astype(np.float32)}

    def reset(self, seed: int) -> None:
        self._sim, self._k = SkySim(self.config, seed), 0

    def frame(self) -> np.ndarray:
        """The current frame, (N, N, 3) float16 nits (the clamped disc fits float16's range)."""
        return self._require().frame(self._k)[0].astype(np.float16)

    def step(self) -> np.ndarray:
        self._k += 1
        return self.frame()

    def _require(self) -> SkySim:
        if self._sim is None:
            raise RuntimeError("call reset(seed) first")
        return self._sim
