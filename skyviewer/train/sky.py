"""LayerSky training: full-resolution patches and whole low-resolution skies, matched to the
data's by a sliced Wasserstein texture loss (train/texture.py) and, where enabled, by critics.

Every step draws frames of the dataset at their native resolution (1,024 px for the cpu
preset's data) and, for each, a few patches (`sky.patch_px`, aligned to the shading grid)
from anywhere inside the horizon. The model decodes the same pixels of a sky of its own, from
fresh noise, under the same conditions, and whole skies at 1/8 resolution averaged to
`sky.global_px`. The texture loss compares the patches' and the skies' neighbourhood
distributions with the data's, each neighbourhood carrying where it is and the conditions; a
4 x 4 layout anchor per frame keeps skies from trading brightness between conditions. With
`optim.adversarial_weight` > 0 a patch critic (knowing where on the dome it looks) and a global
critic join in. The background learns alone first, by its per-pixel L1 (its warm-up), and then
with the clouds (docs/training.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from PIL import Image

from skyviewer.nets.blocks import COND_DIM, GEOMETRY_CHANNELS, broadcast
from skyviewer.nets.discriminator import Discriminator
from skyviewer.nets.sky import SHADING_FACTOR, LayerSkyNet
from skyviewer.train.config import TrainConfig
from skyviewer.train.data import ClipSampler
from skyviewer.train.gan import CriticInputs, GanTask
from skyviewer.train.texture import texture_loss
from skyviewer.train.visual import exposure_key, grid_image

PREVIEW_SAMPLES = 2
"""Generated skies per fixed condition in the sample grid."""
PATCH_MAX_RADIUS = 0.97
"""Patches are centred inside this fraction of the horizon circle's radius."""


def build_generator(cfg: TrainConfig) -> LayerSkyNet:
    s = cfg.sky
    return LayerSkyNet(s.grid, s.kernel_px, s.detail_px, s.detail_period_m)


def build_critics(cfg: TrainConfig) -> dict[str, Discriminator]:
    """The patch and global critics, or none when optim.adversarial_weight is 0 (the texture loss alone)."""
    if cfg.optim.adversarial_weight <= 0:
        return {}
    n, s = cfg.net, cfg.sky
    return {
        name: Discriminator(
            px,
            2 * 3 + GEOMETRY_CHANNELS,
            COND_DIM,
            n.disc_channel_base,
            n.disc_max_channels,
            n.mbstd_group_size,
        )
        for name, px in (("patch", s.patch_px), ("global", s.global_px))
    }


def random_state(net: LayerSkyNet, batch: int, device) -> dict[str, torch.Tensor]:
    """A fresh sky state: white noise, offsets anywhere in the tiles, phases anywhere in the fade."""
    shapes = net.state_shapes(batch)
    return {
        "noise_a": torch.randn(shapes["noise_a"], device=device),
        "noise_b": torch.randn(shapes["noise_b"], device=device),
        "motion": torch.rand(shapes["motion"], device=device),
    }


def cells_l1(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """L1 of whole skies' coarse colour layouts (4 x 4 cell means) under the same conditions: where
    the sky is bright or dark. The texture loss matches distributions pooled over a batch, which
    alone let skies trade brightness between conditions (a dusk sky black, a noon sky white)."""
    return (F.adaptive_avg_pool2d(fake, 4) - F.adaptive_avg_pool2d(real, 4)).abs().mean()


HORIZON_BAND_DEG = (1.0, 3.0)
"""Elevations of the horizon anchor's ring. Its lower edge keeps out the 1/8-resolution pixels that
straddle the horizon (the real ones average in the black below it)."""
HORIZON_SECTORS = 8
"""Sectors of the ring in azimuth from the sun (sector 0 centred on it)."""


def horizon_cells(dirs: torch.Tensor, sun: torch.Tensor) -> torch.Tensor:
    """Membership (B, HORIZON_SECTORS, P) of pixels at view directions dirs (1, 3, P) in the horizon
    ring's sectors for suns (B, 3), as weights summing to 1 over each sector's pixels (0 where a
    sector is empty): sector means are one batched matmul."""
    elevation = torch.rad2deg(torch.asin(dirs[0, 1].clamp(-1.0, 1.0)))  # (P,)
    ring = ((elevation >= HORIZON_BAND_DEG[0]) & (elevation < HORIZON_BAND_DEG[1])).float()
    azimuth = torch.atan2(dirs[0, 0], -dirs[0, 2])[None] - torch.atan2(sun[:, 0], -sun[:, 2])[:, None]
    turns = torch.remainder(azimuth / (2.0 * torch.pi) + 0.5 / HORIZON_SECTORS, 1.0)
    sector = (turns * HORIZON_SECTORS).long().clamp(max=HORIZON_SECTORS - 1)  # (B, P)
    member = F.one_hot(sector, HORIZON_SECTORS).float() * ring[None, :, None]  # (B, P, sectors)
    return (member / member.sum(dim=1, keepdim=True).clamp(min=1.0)).transpose(1, 2)


HORIZON_BLOCK_PX = 32
"""Side of the full-resolution blocks on the horizon circle that the anchor's bands are measured in."""
HORIZON_BLOCKS_PER_FRAME = 2
"""Blocks per frame, at random azimuths."""
HORIZON_BLOCK_BANDS_DEG = ((0.0, 1.0), (1.0, 3.0))
"""Elevation bands of the horizon blocks. The ring's 1/8-resolution pixels cannot see the lowest
degree (they straddle the horizon); at full resolution a pixel is sky or ground."""


def horizon_bands(dirs: torch.Tensor) -> torch.Tensor:
    """Membership (K, bands, P) of the pixels of blocks with view directions dirs (K, 3, P) in
    HORIZON_BLOCK_BANDS_DEG, as weights summing to 1 over each band's pixels (0 where it is empty)."""
    elevation = torch.rad2deg(torch.asin(dirs[:, 1].clamp(-1.0, 1.0)))  # (K, P)
    member = torch.stack([(elevation >= lo) & (elevation < hi) for lo, hi in HORIZON_BLOCK_BANDS_DEG], 1)
    member = member.float()
    return member / member.sum(dim=2, keepdim=True).clamp(min=1.0)


def horizon_block_positions(count: int, resolution: int) -> list[tuple[int, int]]:
    """Top-left (row, col) of `count` HORIZON_BLOCK_PX blocks at random azimuths whose centres lie
    half a block inside the horizon circle (so each reaches the horizon), on the shading grid."""
    p, f, out = HORIZON_BLOCK_PX, SHADING_FACTOR, []
    reach = resolution / 2 - p / 2
    for angle in (torch.rand(count) * 2.0 * torch.pi).tolist():
        corner = [resolution / 2 + reach * t - p / 2 for t in (math.sin(angle), math.cos(angle))]
        out.append(tuple(min(max(round(c / f) * f, 0), resolution - p) for c in corner))
    return out


def horizon_l1(fake: torch.Tensor, real: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """L1 of skies' or blocks' (B, 3, N, N) mean colours in weighted regions (B, regions, N * N):
    the horizon ring's sectors (horizon_cells) or the horizon blocks' bands (horizon_bands), under
    the same conditions. The 4 x 4 cells mix the last degrees above the horizon with the sky 30 deg
    up, and there the sky sat 0.7 stops dark (docs/eval.md). Finer cells
    everywhere faded the clouds: an L1 between two skies' cell means is least for a sky without
    variance, so the smaller the cells the harder it pulls the clouds out (run 00013). In the ring
    the haze has already faded them."""
    means = [torch.bmm(cells, x.flatten(2).transpose(1, 2)) for x in (fake, real)]  # (B, regions, 3)
    used = (cells.sum(dim=2) > 0).float()[..., None]
    return ((means[0] - means[1]).abs() * used).sum() / (used.sum() * 3).clamp(min=1.0)


class SkyTask(GanTask):
    clip_length = 1
    preview_frames = 1

    def __init__(self, cfg: TrainConfig, device):
        super().__init__(cfg, build_generator(cfg), build_critics(cfg), device)
        g = torch.Generator().manual_seed(cfg.schedule.seed)
        self.preview_state = {
            k: v.to(device) for k, v in random_state(self.G, PREVIEW_SAMPLES, "cpu").items()
        }
        self.preview_cirrus = torch.rand(PREVIEW_SAMPLES, 1, generator=g).to(device)

    # ------------------------------------------------------------ batches

    def patch_positions(self, batch: int, resolution: int) -> list[tuple[int, int]]:
        """Top-left (row, col) of `batch` random patches, multiples of the shading factor."""
        p, f, out = self.cfg.sky.patch_px, SHADING_FACTOR, []
        while len(out) < batch:
            row, col = (int(torch.randint(0, (resolution - p) // f + 1, ())) * f for _ in range(2))
            centre = (torch.tensor([row, col], dtype=torch.float32) + p / 2) / resolution * 2 - 1
            if centre.norm() <= PATCH_MAX_RADIUS:
                out.append((row, col))
        return out

    def decode(self, state, sun, cover, cirrus, resolution, blocks=None, block_px=0):
        """The generator's sky and background for a state dict: whole frames, or blocks (see LayerSkyNet)."""
        noise = state["noise_a"], state["noise_b"], state["motion"]
        return self.G(*noise, sun, cover, cirrus, resolution, blocks, block_px)

    def critic_maps(self, origins, size: int, resolution: int, sun) -> torch.Tensor:
        """Geometry channels (B, GEOMETRY_CHANNELS, size, size) of pixel blocks: where the critic looks."""
        d = self.G.directions(origins, size, resolution).expand(sun.shape[0], -1, -1)  # (B, 3, P)
        cos = (d * sun[:, :, None]).sum(dim=1, keepdim=True)
        maps = torch.cat([d, cos, torch.exp(32.0 * (cos - 1.0))], dim=1)
        return maps.reshape(sun.shape[0], GEOMETRY_CHANNELS, size, size)

    def train_step(self, sampler: ClipSampler) -> dict[str, float]:
        s, o = self.cfg.sky, self.cfg.optim
        clips = sampler.sample().to(self.device)
        real = clips.frames[:, 0]  # (B, 3, R, R) encoded, native resolution
        b, r = real.shape[0], real.shape[-1]
        sun, cover = clips.sun_dir[:, 0], clips.cloud_cover[:, 0]
        known = clips.cirrus_cover[:, 0]
        cirrus = torch.where(torch.isnan(known), torch.rand_like(known), known)
        real_global = F.adaptive_avg_pool2d(real, s.global_px)
        if self.step < s.background_warmup_steps:
            return self.background_step(sun, cover, real_global, b)
        if self.step == s.background_warmup_steps:
            self.end_background_warmup()
        state = random_state(self.G, b, self.device)
        cond = torch.cat([sun, cover], dim=1)
        # Global: the whole sky at 1/8 of the native resolution, both averaged to global_px.
        low = r // SHADING_FACTOR
        fake_low, background_low = self.decode(state, sun, cover, cirrus, low)
        fake_global = F.adaptive_avg_pool2d(fake_low, s.global_px)
        # The critics' reference: clouds are the deviation from it.
        background_global = F.adaptive_avg_pool2d(background_low, s.global_px).detach()
        maps_global = F.adaptive_avg_pool2d(self.critic_maps([(0, 0)], low, low, sun), s.global_px)
        # Patches: the same pixels of the real frames and of the generated skies, all in one decode.
        blocks, p = self.patch_positions(b * s.patches_per_frame, r), s.patch_px
        frame, fake_patch, bg_patch, real_patch = self.decode_blocks(
            state, sun, cover, cirrus, real, blocks, p
        )
        maps_patch = self.critic_maps(blocks, p, r, sun[frame])
        fakes_in = {
            "patch": CriticInputs(fake_patch, bg_patch.detach(), maps_patch, cond[frame]),
            "global": CriticInputs(fake_global, background_global, maps_global, cond),
        }
        reals_in = {
            "patch": fakes_in["patch"]._replace(images=real_patch),
            "global": fakes_in["global"]._replace(images=real_global),
        }
        ring = horizon_cells(self.G.directions([(0, 0)], low, low), sun)
        anchor = o.colour_anchor_weight * (
            cells_l1(fake_global, real_global)
            + horizon_l1(fake_low, F.adaptive_avg_pool2d(real, low), ring)
            + self.horizon_blocks_l1(state, sun, cover, cirrus, real)
        )
        texture = o.texture_weight * sum(
            self.texture(fakes_in[k], reals_in[k].images) for k in ("patch", "global")
        )
        losses = {"anchor": anchor.item(), "texture": texture.item()}
        total = anchor + texture
        if o.adversarial_weight > 0:
            losses.update(
                self.d_update(
                    reals_in, {k: v._replace(images=v.images.detach()) for k, v in fakes_in.items()}
                )
            )
            g = self.generator_critics(fakes_in)
            losses.update({f"G_{k}": v.item() for k, v in g.items()})
            total = total + o.adversarial_weight * (g["patch"] + g["global"])
        self.g_update(total, b)
        return losses

    def decode_blocks(self, state, sun, cover, cirrus, real: torch.Tensor, blocks, p: int):
        """The p px blocks (row, col) of the real frames (B, 3, R, R) and of the skies drawn for them,
        block k from frame k mod B, in one decode: (frame of each block, sky, background, real)."""
        frame = torch.arange(len(blocks), device=self.device) % real.shape[0]
        fake, background = self.decode(
            {k: v[frame] for k, v in state.items()},
            sun[frame],
            cover[frame],
            cirrus[frame],
            real.shape[-1],
            blocks,
            p,
        )
        real_blocks = torch.stack(
            [real[i, :, y : y + p, x : x + p] for i, (y, x) in zip(frame.tolist(), blocks, strict=True)]
        )
        return frame, fake, background, real_blocks

    def horizon_blocks_l1(self, state, sun, cover, cirrus, real: torch.Tensor) -> torch.Tensor:
        """horizon_l1 of full-resolution blocks on the horizon (horizon_block_positions) in the bands
        0-1 and 1-3 deg up: the same pixels of each frame and of the sky drawn for it."""
        r, p = real.shape[-1], HORIZON_BLOCK_PX
        blocks = horizon_block_positions(real.shape[0] * HORIZON_BLOCKS_PER_FRAME, r)
        _, fake, _, real_blocks = self.decode_blocks(state, sun, cover, cirrus, real, blocks, p)
        return horizon_l1(fake, real_blocks, horizon_bands(self.G.directions(blocks, p, r)))

    def texture(self, fake: CriticInputs, real: torch.Tensor) -> torch.Tensor:
        """Sliced Wasserstein texture loss (train/texture.py) of fake against real images at the same
        places; each descriptor carries where it is (view direction, angle to the sun) and the
        conditions (sun, cover), weighted by sky.texture_where_weight."""
        s = self.cfg.sky
        where = torch.cat([fake.maps[:, :4], broadcast(fake.cond, fake.maps)], dim=1)
        return texture_loss(
            fake.images,
            real,
            s.texture_where_weight * where,
            s.texture_levels,
            s.texture_descriptors,
            s.texture_projections,
        )

    def per_pixel_background(self, sun: torch.Tensor, cover: torch.Tensor, px: int) -> torch.Tensor:
        """The background MLP at every pixel of a px fisheye (B, 3, px, px), not through the shading grid:
        the conditional median the critics measure clouds against must be right before they start."""
        maps = self.critic_maps(
            [(0, 0)], px, px, sun
        )  # (B, GEOMETRY_CHANNELS, px, px), SkyBackground's inputs
        conditions = broadcast(torch.cat([sun, cover], dim=1), maps)
        background = torch.tanh(self.G.background.mlp(torch.cat([maps, conditions], dim=1)))
        inside = (maps[:, 1:2] > 0).float()  # the view direction's y: above the horizon
        return background * inside + (inside - 1.0)

    def end_background_warmup(self) -> None:
        """From here on the background learns with the clouds at the clouds' rate: the warm-up's
        background_lr_mult, kept, swung whole skies' colours from step to step."""
        self.opt_G.param_groups[1]["lr"] = self.cfg.optim.lr_g

    def background_step(self, sun, cover, real_global: torch.Tensor, batch: int) -> dict[str, float]:
        """A warm-up step (sky.background_warmup_steps): the background alone, by its per-pixel L1 to
        the data. After the warm-up it is the sky behind the clouds and learns with them: an L1 kept
        on would hold it at the data's median, which under broken cloud is a grey between cloud and
        clear sky."""
        px = real_global.shape[-1]
        l1 = self.cfg.optim.background_weight * self.global_l1(
            self.per_pixel_background(sun, cover, px), real_global
        )
        self.g_update(l1, batch)
        return {"background": l1.item()}

    def global_l1(self, pred: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Mean |pred - real| over pixels inside the horizon (real > -1 marks them)."""
        inside = (real > -0.999).float()
        return ((pred - real).abs() * inside).sum() / (inside.sum() * 3).clamp(min=1)

    # ------------------------------------------------------------ previews

    @torch.no_grad()
    def preview(self, clips) -> Image.Image:
        """Per fixed condition a column: the real sky and EMA samples at 256 px, then a full-resolution
        crop near the horizon of each, exposed like the real frame."""
        columns = []
        for clip in clips:
            real = clip.frames[0, 0].to(self.device)
            r = real.shape[-1]
            sun = clip.sun_dir[:, 0].to(self.device).expand(PREVIEW_SAMPLES, -1)
            cover = clip.cloud_cover[:, 0].to(self.device).expand(PREVIEW_SAMPLES, -1)
            key = exposure_key(real)
            small = 256
            state = (self.preview_state[k] for k in ("noise_a", "noise_b", "motion"))
            skies, _ = self.G_ema(*state, sun, cover, self.preview_cirrus, small)
            crop = max(SHADING_FACTOR, (r // 8) // SHADING_FACTOR * SHADING_FACTOR)  # 128 px at 1,024
            row = min(int(0.86 * r), r - crop) // SHADING_FACTOR * SHADING_FACTOR  # south, ~25 deg up
            col = (r // 2 - crop // 2) // SHADING_FACTOR * SHADING_FACTOR
            state = (self.preview_state[k] for k in ("noise_a", "noise_b", "motion"))
            crops, _ = self.G_ema(
                *state, sun, cover, self.preview_cirrus, r, [(row, col)] * PREVIEW_SAMPLES, crop
            )
            real_small = F.interpolate(real[None], size=small, mode="area")[0]
            tiles = [real_small, *skies, real[:, row : row + crop, col : col + crop], *crops]
            columns.append([(F.interpolate(t[None], size=small, mode="nearest")[0], key) for t in tiles])
        return grid_image([list(row) for row in zip(*columns, strict=True)])
