"""Start-model training: a conditional GAN on single frames.

Fakes are generated with the conditions of the real batch (sun direction, cloud cover),
so the generator learns the data's joint distribution of skies given their conditions
and the discriminator's projection head can check that the two agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image

from skyviewer.nets.blocks import COND_DIM, GEOMETRY_CHANNELS
from skyviewer.nets.discriminator import Discriminator
from skyviewer.nets.start import StartGenerator
from skyviewer.train.config import TrainConfig
from skyviewer.train.data import Clips, ClipSampler
from skyviewer.train.gan import CriticInputs, GanTask
from skyviewer.train.visual import exposure_key, grid_image

PREVIEW_ROWS = 4
"""Generated samples per condition in the sample grid, below the real frame."""


def build_generator(cfg: TrainConfig) -> StartGenerator:
    n = cfg.net
    return StartGenerator(
        cfg.resolution_px, n.field_channels, n.field_kernel_px, n.render_width, n.render_layers
    )


class StartTask(GanTask):
    clip_length = 1
    preview_frames = 1

    def __init__(self, cfg: TrainConfig, device):
        n = cfg.net
        disc = Discriminator(
            cfg.resolution_px,
            2 * 3 + GEOMETRY_CHANNELS,  # image, its deviation from the background, geometry
            COND_DIM,
            n.disc_channel_base,
            n.disc_max_channels,
            n.mbstd_group_size,
        )
        super().__init__(cfg, build_generator(cfg), {"image": disc}, device)
        # Fixed latents for the sample grids: the same skies at every tick.
        g = torch.Generator().manual_seed(cfg.schedule.seed)
        self.preview_z = torch.randn(self.G.latent_shape(PREVIEW_ROWS), generator=g).to(device)

    def critic_inputs(self, images, background, sun: torch.Tensor, cover: torch.Tensor) -> CriticInputs:
        return CriticInputs(images, background, self.G.geometry.maps(sun), torch.cat([sun, cover], dim=1))

    def train_step(self, sampler: ClipSampler) -> dict[str, float]:
        clips = sampler.sample().to(self.device)
        real = clips.frames[:, 0]  # (B, 3, N, N)
        sun, cover = clips.sun_dir[:, 0], clips.cloud_cover[:, 0]  # (B, 3), (B, 1)
        z = torch.randn(self.G.latent_shape(real.shape[0]), device=self.device)
        with self.autocast():
            fake, _ = self.G(z, sun, cover)  # (B, 3, N, N)
        background = self.background_of(sun, cover)  # (B, 3, N, N), learns from background_l1 only
        background_l1 = self.background_loss(background, real)
        background = background.detach()
        losses = self.d_update(
            {"image": self.critic_inputs(real, background, sun, cover)},
            {"image": self.critic_inputs(fake.detach(), background, sun, cover)},
        )
        with self.autocast():
            g = self.generator_critics({"image": self.critic_inputs(fake, background, sun, cover)})["image"]
        anchor = self.colour_anchor(fake, background)
        self.g_update(g + background_l1 + anchor, real.shape[0])
        return {
            **losses,
            "G_image": g.item(),
            "background": background_l1.item(),
            "anchor": anchor.item(),
        }

    def colour_anchor(self, fake: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
        """colour_anchor_weight * L1 of the fakes' coarse colour layout (4 x 4 cell means) against the
        background's for their conditions (detached): the clouds the GAN draws may move colour around
        locally, not tint the whole sky (magenta after 750 steps without it)."""
        cells = F.adaptive_avg_pool2d(fake.float() - background, 4)
        return self.cfg.optim.colour_anchor_weight * cells.abs().mean()

    @torch.no_grad()
    def preview(self, clips: list[Clips]) -> Image.Image:
        """One column per fixed condition: its real frame on top, then PREVIEW_ROWS EMA samples,
        all exposed like the real frame."""
        columns = []
        for clip in clips:
            real = clip.frames[0, 0].to(self.device)
            sun = clip.sun_dir[:, 0].to(self.device).expand(PREVIEW_ROWS, -1)
            cover = clip.cloud_cover[:, 0].to(self.device).expand(PREVIEW_ROWS, -1)
            key = exposure_key(real)
            columns.append([(f, key) for f in [real, *self.G_ema(self.preview_z, sun, cover)[0]]])
        return grid_image([list(row) for row in zip(*columns, strict=True)])
