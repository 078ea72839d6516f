"""Step-model training: adversarial training on multi-step rollouts of the model's own field.

Each batch is a real clip of rollout_steps + 1 frames. The model draws fresh cloud noise
(the start model's latent), renders its clouds under the clip's first conditions and rolls
them forward along the clip's suns and cover, exactly as the viewer runs it. Gradients flow
through backprop_steps consecutive steps at most (truncated BPTT).
What shapes the rollout:
  * a per-frame discriminator: every frame must look like a real sky with the sun where the
    conditions say;
  * a temporal discriminator on clip_frames consecutive frames stacked along channels: the
    clouds must move and change as real ones do (the wind's speed, the field's renewal);
  * L1 of the renderer's background against the real frames, as in start training.

There is no reconstruction term against the real clip: the rollout starts from its own clouds,
not the clip's. Every earlier model trained with one faded its clouds to haze (the L1 to one
real future rewards the mean of all futures; docs/training.md).

With rollout.start_snapshot set, the step model takes over a trained start model's field and
renderer, frozen, and learns only the motion: the start and step then draw the same clouds
the same way, and the first step continues the start sky seamlessly.
"""

from __future__ import annotations

import torch
from PIL import Image

from skyviewer.nets.blocks import COND_DIM, GEOMETRY_CHANNELS
from skyviewer.nets.discriminator import Discriminator
from skyviewer.nets.step import StepModel
from skyviewer.train.config import TrainConfig
from skyviewer.train.data import Clips, ClipSampler
from skyviewer.train.gan import CriticInputs, GanTask
from skyviewer.train.run import load_snapshot
from skyviewer.train.visual import exposure_key, grid_image

PREVIEW_COLUMNS = 8
"""Frames shown per rollout strip, evenly spaced over the rollout."""
SHARED_WITH_START = ("field", "renderer")
"""The step model's parts that rollout.start_snapshot provides (frozen)."""


def build_generator(cfg: TrainConfig) -> StepModel:
    n = cfg.net
    return StepModel(
        cfg.resolution_px,
        n.field_channels,
        n.field_kernel_px,
        n.render_width,
        n.render_layers,
        n.wind_px,
        n.evolution,
    )


def take_over_start(model: StepModel, snapshot: str) -> None:
    """Load a start snapshot's field and renderer into `model` and freeze them."""
    start_cfg, weights, _ = load_snapshot(snapshot)
    if start_cfg.model != "start":
        raise ValueError(
            f"{snapshot}: rollout.start_snapshot must be a start-model snapshot, not {start_cfg.model}"
        )
    for name in SHARED_WITH_START:
        part = getattr(model, name)
        prefix = f"{name}."
        part.load_state_dict({k.removeprefix(prefix): v for k, v in weights.items() if k.startswith(prefix)})
        part.requires_grad_(False)


def rollout(
    model: StepModel,
    sun: torch.Tensor,
    cover: torch.Tensor,
    generator: torch.Generator | None = None,
    backprop_steps: int = 0,
) -> torch.Tensor:
    """Draw fresh clouds (the start's latent) under the first conditions and step them along the
    rest: sun (B, T+1, 3), cover (B, T+1, 1). Gradients flow through at most backprop_steps
    consecutive steps (0: all). Returns the T + 1 frames (B, T+1, 3, N, N)."""
    b, device = sun.shape[0], sun.device
    cloud_noise = torch.randn(model.field.noise_shape(b), generator=generator, device=device)
    motion = model.initial_motion(b, device)
    frames = [model.render(cloud_noise, sun[:, 0], cover[:, 0])]
    for t in range(sun.shape[1] - 1):
        if backprop_steps and t and t % backprop_steps == 0:
            cloud_noise, motion = cloud_noise.detach(), motion.detach()
        noise = torch.randn(model.noise_shape(b), generator=generator, device=device)
        frame, cloud_noise, motion = model(cloud_noise, motion, noise, sun[:, t + 1], cover[:, t + 1])
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
            # Each image comes with its deviation from the background (GanTask.critic).
            "frame": disc(2 * 3 + GEOMETRY_CHANNELS),
            # K frames + geometry at the last frame + sun maps at the first: it sees how far the sun moved.
            "clip": disc(2 * 3 * k + GEOMETRY_CHANNELS + 2),
        }
        generator = build_generator(cfg)
        self.frozen_renderer = bool(cfg.rollout.start_snapshot)
        if self.frozen_renderer:
            take_over_start(generator, cfg.rollout.start_snapshot)
        super().__init__(cfg, generator, discriminators, device)
        self.clip_length = cfg.rollout.rollout_steps + 1
        self.preview_frames = cfg.rollout.preview_rollout_steps + 1

    # ------------------------------------------------------------ critic inputs

    def frame_inputs(self, frames, background, sun, cover, picks: torch.Tensor) -> CriticInputs:
        """Frame picks[b] of clip b as one sample: images (B, 3, N, N), background, maps, cond. One frame
        per clip (a random one each step) costs a fraction of judging them all and still covers every step."""
        rows = torch.arange(frames.shape[0], device=frames.device)
        images, background = frames[rows, picks], background[rows, picks]
        sun, cover = sun[rows, picks], cover[rows, picks]
        return CriticInputs(images, background, self.G.geometry.maps(sun), torch.cat([sun, cover], dim=1))

    def clip_inputs(self, frames, background, sun, cover, t: int) -> CriticInputs:
        """The K-frame window starting at t, stacked along channels: (B, 3K, N, N), background, maps, cond."""
        k, geo = self.cfg.rollout.clip_frames, self.G.geometry
        last = t + k - 1
        maps = torch.cat([geo.maps(sun[:, last]), geo.sun_maps(sun[:, t])], dim=1)
        window = slice(t, t + k)
        return CriticInputs(
            frames[:, window].flatten(1, 2),
            background[:, window].flatten(1, 2),
            maps,
            torch.cat([sun[:, last], cover[:, last]], dim=1),
        )

    def critic_inputs(self, frames, background, sun, cover, picks: torch.Tensor, t: int) -> dict:
        """Inputs of both critics for clips (B, L+1, 3, N, N) and their backgrounds (same shape)."""
        return {
            "frame": self.frame_inputs(frames, background, sun, cover, picks),
            "clip": self.clip_inputs(frames, background, sun, cover, t),
        }

    # ------------------------------------------------------------ training

    def train_step(self, sampler: ClipSampler) -> dict[str, float]:
        r = self.cfg.rollout
        clips = sampler.sample().to(self.device)
        real, sun, cover = clips.frames, clips.sun_dir, clips.cloud_cover  # (B, L+1, 3, N, N), (B, L+1, 3|1)
        b, length = real.shape[:2]
        with self.autocast():
            fake = rollout(self.G, sun, cover, backprop_steps=r.backprop_steps).float()
        picks = torch.randint(0, length, (b,), device=real.device)  # a frame per clip
        t = int(torch.randint(length - r.clip_frames + 1, ()))  # the temporal critic's window
        background = self.background_of(sun, cover)  # (B, L+1, 3, N, N)
        bg = background.detach()
        losses = self.d_update(
            self.critic_inputs(real, bg, sun, cover, picks, t),
            self.critic_inputs(fake.detach(), bg, sun, cover, picks, t),
        )
        with self.autocast():
            adv = self.generator_critics(self.critic_inputs(fake, bg, sun, cover, picks, t))
        total = r.frame_adv_weight * adv["frame"] + r.clip_adv_weight * adv["clip"]
        background_l1 = torch.zeros(())
        if not self.frozen_renderer:
            background_l1 = self.background_loss(background, real)
            total = total + background_l1
        self.g_update(total, b)
        return {
            **losses,
            "G_frame": adv["frame"].item(),
            "G_clip": adv["clip"].item(),
            "background": background_l1.item(),
            "wind_px": self.G.log_wind_px.exp().item(),
            "evolution": self.G.evolution().item(),
        }

    @torch.no_grad()
    def preview(self, clips: list[Clips]) -> Image.Image:
        """Rollout strips: per held-out sequence a row of real frames and a row of the EMA model's
        rollout (fixed noise) along the same conditions, each column exposed like its real frame."""
        rows = []
        noise = torch.Generator(device=self.device).manual_seed(self.cfg.schedule.seed)
        for clip in clips:
            clip = clip.to(self.device)
            pred = rollout(self.G_ema, clip.sun_dir, clip.cloud_cover, generator=noise)[0]  # (T+1, 3, N, N)
            real = clip.frames[0]  # (T+1, 3, N, N)
            times = sorted(
                {round(i * (len(real) - 1) / (PREVIEW_COLUMNS - 1)) for i in range(PREVIEW_COLUMNS)}
            )
            keys = [exposure_key(real[t]) for t in times]
            rows.append([(real[t], key) for t, key in zip(times, keys, strict=True)])
            rows.append([(pred[t], key) for t, key in zip(times, keys, strict=True)])
        return grid_image(rows)
