"""Training batches from a dataset store: random clips of consecutive frames, area-downsampled
to the training resolution, encoded to [-1, 1], with their conditions.

Sampling runs in the training process from memory-mapped shards with its own numpy RNG
(no DataLoader workers), so the data order is part of the training state and `--resume`
continues the exact same stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from skyviewer.data.store import SkyDataset
from skyviewer.errors import UserError
from skyviewer.sky.projection import fisheye_mask
from skyviewer.sky.radiance import ENCODING

ENCODED_CACHE_BYTES = 6 * 2**30
"""Memory the samplers may keep encoded frames in (float16); the rest are re-read and encoded."""
DEFAULT_CLOUD_COVER = 0.5
"""Stands in for unknown (NaN) cloud cover, e.g. of real captures."""


@dataclass
class Clips:
    """A batch of clips; a start-model batch is clips of length 1."""

    frames: torch.Tensor
    """(B, L, 3, N, N) encoded radiance, -1 below the horizon."""
    sun_dir: torch.Tensor
    """(B, L, 3) world unit vectors to the sun at each frame."""
    cloud_cover: torch.Tensor
    """(B, L, 1) cloud cover in [0, 1] at each frame."""
    cirrus_cover: torch.Tensor
    """(B, L, 1) cirrus cover in [0, 1] at each frame, NaN where the data does not know it."""

    def to(self, device) -> Clips:
        """On `device`, frames in float32 (a sampler's are float16 until they get there)."""
        return Clips(
            self.frames.to(device).float(),
            *(x.to(device) for x in (self.sun_dir, self.cloud_cover, self.cirrus_cover)),
        )


def encode_frames(frames: np.ndarray, resolution: int) -> torch.Tensor:
    """(L, R, R, 3) radiance in nits -> (L, 3, N, N) encoded, area-averaged in linear radiance."""
    x = torch.from_numpy(np.asarray(frames, dtype=np.float32)).permute(0, 3, 1, 2)  # (L, 3, R, R)
    if x.shape[-1] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="area")
    mask = torch.from_numpy(fisheye_mask(resolution).copy())
    return torch.where(mask, ENCODING.encode(x), torch.tensor(-1.0))


def conditions(meta: np.ndarray, seq_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sun directions (T, 3), cloud cover (T, 1) and cirrus cover (T, 1, NaN if unknown) of a
    sequence's FRAME_META records."""
    sun = np.array(meta["sun_dir"], dtype=np.float32)
    if np.isnan(sun).any():
        raise UserError(f"sequence {seq_id}: unknown sun direction (NaN); the models are conditioned on it")
    cover = np.array(meta["cloud_cover"], dtype=np.float32)[:, None]
    cirrus = np.array(meta["cirrus_cover"], dtype=np.float32)[:, None]
    return sun, np.where(np.isnan(cover), DEFAULT_CLOUD_COVER, cover), cirrus


class ClipSampler:
    """Uniformly random clips of `length` consecutive frames from one split (with replacement)."""

    def __init__(
        self, dataset: SkyDataset, resolution: int, length: int, batch_size: int, seed: int, device="cpu"
    ):
        """device: where encoded frames are kept and batches assembled. The training device: on a GPU
        a batch of 2,048 px frames converted and copied from host memory every step held the gpu
        preset on an H200 to ~1.6 steps/s (docs/training.md)."""
        self.dataset, self.resolution, self.length, self.batch_size = dataset, resolution, length, batch_size
        self.device = torch.device(device)
        self.ids = [i for i in dataset.sequence_ids("train") if dataset.records[i].length >= length]
        if not self.ids:
            raise UserError(f"{dataset.path}: no training sequence has the {length} frames a clip needs")
        starts = np.array([dataset.records[i].length - length + 1 for i in self.ids], dtype=np.float64)
        self.probs = starts / starts.sum()  # every clip start equally likely
        self.conds = {i: conditions(dataset.meta(i), i) for i in self.ids}
        self.rng = np.random.default_rng(seed)
        self._cache: dict[tuple[str, int], torch.Tensor] = {}
        self._cached_bytes = 0

    def draw(self, count: int) -> list[tuple[int, int]]:
        """`count` random clip positions: (index into self.ids, first frame)."""
        picks = self.rng.choice(len(self.ids), size=count, p=self.probs)
        return [(int(k), int(self.rng.integers(self.sequence_length(k) - self.length + 1))) for k in picks]

    def sequence_length(self, k: int) -> int:
        return self.dataset.records[self.ids[k]].length

    def clips(self, positions: list[tuple[int, int]]) -> Clips:
        """The clips of `length` frames at the given (sequence index, first frame) positions."""
        frames, conds = [], []
        for k, t in positions:
            seq_id, window = self.ids[k], slice(t, t + self.length)
            frames.append(self.encoded(seq_id, t))
            conds.append([c[window] for c in self.conds[seq_id]])
        sun, cover, cirrus = (torch.from_numpy(np.stack(c)) for c in zip(*conds, strict=True))
        return Clips(torch.stack(frames), sun, cover, cirrus)

    def encoded(self, seq_id: str, t: int) -> torch.Tensor:
        """Frames t .. t + length - 1 of a sequence, encoded (L, 3, N, N) float16 on the sampler's
        device. Kept there while the cache budget lasts: encoding 1,024 px frames costs more than a
        training step. Float16 whether kept or not: a resumed run (empty cache) sees the same values."""
        key = (seq_id, t)
        if key in self._cache:
            return self._cache[key]
        frames = encode_frames(self.dataset.frames(seq_id)[t : t + self.length], self.resolution).half()
        frames = frames.to(self.device)
        if self._cached_bytes + frames.numel() * 2 <= ENCODED_CACHE_BYTES:
            self._cache[key] = frames
            self._cached_bytes += frames.numel() * 2
        return frames

    def sample(self) -> Clips:
        """A batch of uniformly random clips."""
        return self.clips(self.draw(self.batch_size))

    def state_dict(self) -> dict:
        # The PCG64 state holds 128-bit ints: keep it as JSON text so checkpoints load with weights_only.
        return {"rng": json.dumps(self.rng.bit_generator.state)}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = json.loads(state["rng"])


def preview_sequences(dataset: SkyDataset, count: int, max_frames: int, resolution: int) -> list[Clips]:
    """Fixed clips for sample grids: the first frames of `count` sequences, held-out ones first."""
    ids = dataset.sequence_ids("heldout") + dataset.sequence_ids("train")
    picks = [ids[round(k * len(ids) / count)] for k in range(min(count, len(ids)))]
    clips = []
    for seq_id in picks:
        n = min(max_frames, dataset.records[seq_id].length)
        conds = (torch.from_numpy(c)[None] for c in conditions(dataset.meta(seq_id)[:n], seq_id))
        clips.append(Clips(encode_frames(dataset.frames(seq_id)[:n], resolution)[None], *conds))
    return clips
