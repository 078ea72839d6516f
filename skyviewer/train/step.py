"""Step-model training: adversarial + reconstruction training on multi-step rollouts.

Each batch is a real clip of rollout_steps + 1 frames. The model starts from the first
real frame (with a little noise on it) and then feeds on its own predictions, exactly as
it will at runtime, so it learns to correct its own errors instead of compounding them.
Three signals shape the rollout:
  * a per-frame discriminator: every predicted frame must look like a real sky with the
    sun where the conditions say (no blur-out, no drift to grey);
  * a temporal discriminator on clip_frames consecutive frames stacked along channels:
    motion must look like real motion (no freezing, no flicker);
  * L1 reconstruction against the real clip, strongest on the first step and decaying,
    since the further future legitimately diverges from this particular recording.
"""

from __future__ import annotations

import torch
from PIL import Image

from skyviewer.nets.blocks import COND_DIM, GEOMETRY_CHANNELS
from skyviewer.nets.discriminator import Discriminator
from skyviewer.nets.step import StepModel
from skyviewer.train.config import TrainConfig
from skyviewer.train.data import Clips
from skyviewer.train.gan import GanTask
from skyviewer.train.visual import exposure_key, grid_image

PREVIEW_COLUMNS = 8
"""Frames shown per rollout strip, evenly spaced over the rollout."""


def build_generator(cfg: TrainConfig) -> StepModel:
    n = cfg.net
    return StepModel(
        cfg.resolution_px,
        n.step_levels,
        n.state_channels,
        n.noise_channels,
        n.channel_base,
        n.max_channels,
        n.max_flow_px,
    )


def rollout(model: StepModel, first, sun, cover, generator: torch.Generator | None = None) -> torch.Tensor:
    """Run the model from frame `first` (B, 3, N, N) along conditions sun (B, T+1, 3), cover (B, T+1, 1).

    Returns the T predicted frames (B, T, 3, N, N); frame t+1 is predicted from the model's frame t.
    """
    b, steps = first.shape[0], sun.shape[1] - 1
    state, frame, frames = model.initial_state(b, first.device), first, []
    for t in range(steps):
        noise = torch.randn(model.noise_shape(b), generator=generator, device=first.device)
        frame, state = model(frame, state, noise, sun[:, t], sun[:, t + 1], cover[:, t + 1])
        frames.append(frame)
    return torch.stack(frames, dim=1)


class StepTask(GanTask):
    def __init__(self, cfg: TrainConfig, device):
        n, k = cfg.net, cfg.rollout.clip_frames
        if not 2 <= k <= cfg.rollout.rollout_steps + 1:
            raise ValueError(f"clip_frames must be in [2, rollout_steps + 1], got {k}")

        def disc(channels: int) -> Discriminator:
            return Discriminator(
                cfg.resolution_px,
                channels,
                COND_DIM,
                n.disc_channel_base,
                n.disc_max_channels,
                n.mbstd_group_size,
            )

        discriminators = {
            "frame": disc(3 + GEOMETRY_CHANNELS),
            # K frames + geometry at the last frame + sun maps at the first: it sees how far the sun moved.
            "clip": disc(3 * k + GEOMETRY_CHANNELS + 2),
        }
        super().__init__(cfg, build_generator(cfg), discriminators, device)
        self.clip_length = cfg.rollout.rollout_steps + 1
        self.preview_frames = cfg.rollout.preview_rollout_steps + 1

    # ------------------------------------------------------------ critic inputs

    def frame_inputs(self, frames, sun, cover, picks: torch.Tensor) -> tuple:
        """Frame picks[b] of clip b as one sample: images (B, 3, N, N), maps, cond. One frame per clip
        (a random one each step) costs a quarter of judging them all and still covers every step."""
        rows = torch.arange(frames.shape[0], device=frames.device)
        images, sun, cover = frames[rows, picks], sun[rows, picks], cover[rows, picks]
        return images, self.G.geometry.maps(sun), torch.cat([sun, cover], dim=1)

    def clip_inputs(self, frames, sun, cover, t: int) -> tuple:
        """The K-frame window starting at t, stacked along channels: (B, 3K, N, N), maps, cond."""
        k, geo = self.cfg.rollout.clip_frames, self.G.geometry
        last = t + k - 1
        maps = torch.cat([geo.maps(sun[:, last]), geo.sun_maps(sun[:, t])], dim=1)
        return frames[:, t : t + k].flatten(1, 2), maps, torch.cat([sun[:, last], cover[:, last]], dim=1)

    def critic_inputs(self, frames, sun, cover, picks: torch.Tensor, t: int) -> dict:
        """Inputs of both critics for clips (B, L+1, 3, N, N) whose frame 0 is the real start."""
        return {
            "frame": self.frame_inputs(frames, sun, cover, picks),
            "clip": self.clip_inputs(frames, sun, cover, t),
        }

    # ------------------------------------------------------------ training

    def reconstruction(self, pred: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Masked L1 per rollout step (B, T, 3, N, N) -> weighted sum, weight rec_weight * decay**t."""
        r, mask = self.cfg.rollout, self.G.geometry.mask
        l1 = ((pred.float() - real).abs() * mask).sum(dim=(0, 2, 3, 4)) / (
            mask.sum() * 3 * pred.shape[0]
        )  # (T,)
        weights = r.rec_weight * r.rec_decay_per_step ** torch.arange(len(l1), device=l1.device)
        return (weights * l1).sum()

    def train_step(self, clips: Clips) -> dict[str, float]:
        r = self.cfg.rollout
        real, sun, cover = clips.frames, clips.sun_dir, clips.cloud_cover  # (B, L+1, 3, N, N), (B, L+1, 3|1)
        context = self.G.geometry.apply_mask(real[:, 0] + r.context_noise_std * torch.randn_like(real[:, 0]))
        with self.autocast():
            pred = rollout(self.G, context, sun, cover)  # (B, L, 3, N, N)
        fake = torch.cat([real[:, :1], pred.float()], dim=1)  # the real start frame, then the rollout
        b, length = real.shape[:2]
        picks = torch.randint(1, length, (b,), device=real.device)  # a predicted frame per clip
        t = int(torch.randint(length - r.clip_frames + 1, ()))  # the temporal critic's window
        losses = self.d_update(
            self.critic_inputs(real, sun, cover, picks, t),
            self.critic_inputs(fake.detach(), sun, cover, picks, t),
        )
        with self.autocast():
            adv = self.generator_critics(self.critic_inputs(fake, sun, cover, picks, t))
        rec = self.reconstruction(pred, real[:, 1:])
        total = r.frame_adv_weight * adv["frame"] + r.clip_adv_weight * adv["clip"] + rec
        self.g_update(total, real.shape[0])
        return {**losses, "G_frame": adv["frame"].item(), "G_clip": adv["clip"].item(), "rec": rec.item()}

    @torch.no_grad()
    def preview(self, clips: list[Clips]) -> Image.Image:
        """Rollout strips: per held-out sequence a row of real frames and a row of the EMA model's
        rollout from the same first frame (fixed noise), each column exposed like its real frame."""
        rows = []
        noise = torch.Generator(device=self.device).manual_seed(self.cfg.schedule.seed)
        for clip in clips:
            clip = clip.to(self.device)
            pred = rollout(self.G_ema, clip.frames[:, 0], clip.sun_dir, clip.cloud_cover, noise)[0]
            real = clip.frames[0]  # (T+1, 3, N, N)
            pred = torch.cat([real[:1], pred])
            times = sorted(
                {round(i * (len(real) - 1) / (PREVIEW_COLUMNS - 1)) for i in range(PREVIEW_COLUMNS)}
            )
            keys = [exposure_key(real[t]) for t in times]
            rows.append([(real[t], key) for t, key in zip(times, keys, strict=True)])
            rows.append([(pred[t], key) for t, key in zip(times, keys, strict=True)])
        return grid_image(rows)
