"""Step-model training: adversarial + reconstruction training on multi-step rollouts.

Each batch is a real clip of rollout_steps + 1 frames. The model starts from the first
real frame (with a little noise on it) and then feeds on its own predictions, exactly as
it will at runtime, so it learns to correct its own errors instead of compounding them.
A few steps of rollout are not the 10 000 the viewer runs, so part of every batch starts
instead from where an earlier rollout of the model ended -- its own frame and recurrent
state, taken from a replay buffer ("pushforward" / self-forcing) -- and continues along the
same sequence's conditions. Rollouts chain through the buffer until their sequence ends,
so training sees the frames and states the model makes a hundred steps in, not only the
first few. Gradients flow through backprop_steps consecutive steps at most (truncated BPTT).
What shapes the rollout:
  * a per-frame discriminator: every predicted frame must look like a real sky with the
    sun where the conditions say (no blur-out, no drift to grey);
  * a temporal discriminator on clip_frames consecutive frames stacked along channels:
    motion must look like real motion (no freezing, no flicker);
  * L1 reconstruction against the real clip, strongest one step after a real frame and
    fading with the depth since it (replayed starts are deep, so they get almost none),
    since the further future legitimately diverges from this particular recording;
  * an anchor at every depth: what any sky at that time, sun and cover shares with the real
    clip -- the coarse colour layout and the sharpness of each frame -- against drift,
    grey-out, blur and noise build-up;
  * L1 of the model's background (StepModel.background, what the conditions alone decide)
    against the real frames with those conditions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image

from skyviewer.nets.blocks import COND_DIM, GEOMETRY_CHANNELS
from skyviewer.nets.discriminator import Discriminator
from skyviewer.nets.step import StepModel
from skyviewer.train.config import TrainConfig
from skyviewer.train.data import Clips, ClipSampler
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


def rollout(
    model: StepModel,
    first: torch.Tensor,
    sun: torch.Tensor,
    cover: torch.Tensor,
    state: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    backprop_steps: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the model from frame `first` (B, 3, N, N) along conditions sun (B, T+1, 3), cover (B, T+1, 1),
    from `state` (zeros if None). Gradients flow through at most backprop_steps consecutive steps (0: all).

    Returns the T predicted frames (B, T, 3, N, N), frame t+1 predicted from the model's frame t,
    and the final state.
    """
    b, steps = first.shape[0], sun.shape[1] - 1
    state = model.initial_state(b, first.device) if state is None else state
    frame, frames = first, []
    for t in range(steps):
        if backprop_steps and t and t % backprop_steps == 0:
            frame, state = frame.detach(), state.detach()
        noise = torch.randn(model.noise_shape(b), generator=generator, device=first.device)
        frame, state = model(frame, state, noise, sun[:, t], sun[:, t + 1], cover[:, t + 1])
        frames.append(frame)
    return torch.stack(frames, dim=1), state


class ReplayBuffer:
    """Where earlier rollouts ended: the model's frame and state, the clip position (sequence
    index, frame) they stand at and their depth (steps since the last real frame).

    Replayed rollouts always go back in, deeper; fresh ones (from real frames) only fill free
    slots. So a chain of rollouts lives until its sequence has no room for another clip, and
    the buffer holds depths up to the sequence length rather than mostly shallow entries.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        # frame (M, 3, N, N), state (M, S, n, n), position (M, 2), depth (M,); {} while empty
        self.entries: dict[str, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.entries["depth"]) if self.entries else 0

    def take(self, count: int) -> dict[str, torch.Tensor]:
        """Remove and return up to `count` random entries ({} while empty)."""
        if not self.entries:
            return {}
        order = torch.randperm(len(self))
        taken, kept = order[:count], order[count:]
        out = {k: v[taken] for k, v in self.entries.items()}
        self.entries = {k: v[kept] for k, v in self.entries.items()}
        return out

    def put(self, entries: dict[str, torch.Tensor], replayed: torch.Tensor) -> None:
        """Add the entries (on the CPU, detached); fresh ones (replayed False) only while there is room."""
        room = max(self.capacity - len(self) - int(replayed.sum()), 0)
        fresh = (~replayed).nonzero()[:, 0]
        keep = torch.cat([replayed.nonzero()[:, 0], fresh[torch.randperm(len(fresh))[:room]]])
        new = {k: v[keep] for k, v in entries.items()}
        self.entries = {k: torch.cat([self.entries[k], v]) for k, v in new.items()} if self.entries else new

    def state_dict(self) -> dict:
        return dict(self.entries)

    def load_state_dict(self, state: dict) -> None:
        self.entries = dict(state)


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
        self.replay = ReplayBuffer(cfg.rollout.replay_capacity)

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

    def reconstruction(self, pred: torch.Tensor, real: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Masked L1 of a rollout (B, T, 3, N, N) that started `depth` (B,) steps after a real frame,
        weighted rec_weight * decay**(steps since that real frame - 1): a sum over steps, a batch mean."""
        r = self.cfg.rollout
        l1 = self.masked_l1(pred, real)  # (B, T)
        steps = depth[:, None] + torch.arange(l1.shape[1], device=l1.device)  # (B, T)
        return (r.rec_weight * r.rec_decay_per_step ** steps.float() * l1).sum(dim=1).mean()

    def anchor(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """What a rollout must share with the real clip at the same times, suns and cover at any depth,
        however far its clouds have diverged: the coarse colour layout (anchor_cells^2 cell means) and
        the sharpness (mean |Laplacian|) of each frame. fake, real (B, T+1, 3, N, N), frame 0 the
        start; a sum over steps, a batch mean.

        Not the amount of motion: matched here, it was cheapest to fake by fading each frame towards a
        drawn sky pushed far away (the drawn sky ran to white within 250 steps); motion is left to
        the reconstruction of the first steps and the temporal critic."""
        r = self.cfg.rollout
        fake = fake.float()
        cells = F.adaptive_avg_pool2d((fake[:, 1:] - real[:, 1:]).flatten(0, 1), r.anchor_cells)
        layout = cells.abs().mean(dim=(1, 2, 3)).view(fake.shape[0], -1)  # (B, T)
        detail = (self.sharpness(fake[:, 1:]) - self.sharpness(real[:, 1:])).abs()  # (B, T)
        return (r.anchor_weight * layout + r.anchor_stats_weight * detail).sum(dim=1).mean()

    def starts(self, sampler: ClipSampler) -> tuple[Clips, dict[str, torch.Tensor]]:
        """This step's clips and where their rollouts start: replay_fraction of the batch continues
        buffered rollouts (their frame, state and depth, with the clip at their position), the rest
        starts from a real frame with a zero state at a random position."""
        b = sampler.batch_size
        replayed = self.replay.take(round(b * self.cfg.rollout.replay_fraction))
        m = len(replayed["depth"]) if replayed else 0
        fresh = sampler.draw(b - m)
        positions = (replayed["position"].tolist() if m else []) + [list(p) for p in fresh]
        clips = sampler.clips([(k, t) for k, t in positions]).to(self.device)
        start = {
            "frame": clips.frames[m:, 0],  # (B - m, 3, N, N)
            "state": self.G.initial_state(b - m, self.device),
            "position": torch.tensor(fresh, dtype=torch.long).reshape(-1, 2),
            "depth": torch.zeros(b - m, dtype=torch.long),
        }
        if m:
            start = {k: torch.cat([replayed[k].to(v.device), v]) for k, v in start.items()}
        return clips, start

    def train_step(self, sampler: ClipSampler) -> dict[str, float]:
        r = self.cfg.rollout
        clips, start = self.starts(sampler)
        real, sun, cover = clips.frames, clips.sun_dir, clips.cloud_cover  # (B, L+1, 3, N, N), (B, L+1, 3|1)
        noisy = start["frame"] + r.context_noise_std * torch.randn_like(start["frame"])
        first = self.G.geometry.apply_mask(noisy)  # (B, 3, N, N)
        with self.autocast():
            pred, state = rollout(self.G, first, sun, cover, start["state"], backprop_steps=r.backprop_steps)
        fake = torch.cat([start["frame"][:, None], pred.float()], dim=1)  # the start frame, then the rollout
        b, length = real.shape[:2]
        picks = torch.randint(1, length, (b,), device=real.device)  # a predicted frame per clip
        t = int(torch.randint(length - r.clip_frames + 1, ()))  # the temporal critic's window
        losses = self.d_update(
            self.critic_inputs(real, sun, cover, picks, t),
            self.critic_inputs(fake.detach(), sun, cover, picks, t),
        )
        with self.autocast():
            adv = self.generator_critics(self.critic_inputs(fake, sun, cover, picks, t))
        rec = self.reconstruction(pred, real[:, 1:], start["depth"].to(real.device))
        anchor = self.anchor(fake, real)
        background = self.background_loss(sun, cover, real)
        adversarial = r.frame_adv_weight * adv["frame"] + r.clip_adv_weight * adv["clip"]
        total = adversarial + rec + anchor + background
        self.g_update(total, b)
        self.keep_going(sampler, pred[:, -1], state, start)
        return {
            **losses,
            "G_frame": adv["frame"].item(),
            "G_clip": adv["clip"].item(),
            "rec": rec.item(),
            "anchor": anchor.item(),
            "background": background.item(),
            "replay_depth": start["depth"].float().mean().item(),
        }

    def keep_going(self, sampler: ClipSampler, frame, state, start: dict[str, torch.Tensor]) -> None:
        """Buffer the rollouts' ends (frame (B, 3, N, N), state) whose sequence has room for another clip."""
        steps = self.clip_length - 1
        position = start["position"] + torch.tensor([0, steps])  # (B, 2), on the CPU like depth
        room = torch.tensor([t + steps < sampler.sequence_length(k) for k, t in position.tolist()])
        ends = {
            "frame": frame.detach().float().cpu()[room],
            "state": state.detach().float().cpu()[room],
            "position": position[room],
            "depth": (start["depth"] + steps)[room],
        }
        self.replay.put(ends, replayed=(start["depth"] > 0)[room])

    def state_dict(self) -> dict:
        return {**super().state_dict(), "replay": self.replay.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.replay.load_state_dict(state["replay"])

    @torch.no_grad()
    def preview(self, clips: list[Clips]) -> Image.Image:
        """Rollout strips: per held-out sequence a row of real frames and a row of the EMA model's
        rollout from the same first frame (fixed noise), each column exposed like its real frame."""
        rows = []
        noise = torch.Generator(device=self.device).manual_seed(self.cfg.schedule.seed)
        for clip in clips:
            clip = clip.to(self.device)
            pred, _ = rollout(self.G_ema, clip.frames[:, 0], clip.sun_dir, clip.cloud_cover, generator=noise)
            pred = pred[0]  # (T, 3, N, N)
            real = clip.frames[0]  # (T+1, 3, N, N)
            pred = torch.cat([real[:1], pred])  # (T+1, 3, N, N)
            times = sorted(
                {round(i * (len(real) - 1) / (PREVIEW_COLUMNS - 1)) for i in range(PREVIEW_COLUMNS)}
            )
            keys = [exposure_key(real[t]) for t in times]
            rows.append([(real[t], key) for t, key in zip(times, keys, strict=True)])
            rows.append([(pred[t], key) for t, key in zip(times, keys, strict=True)])
        return grid_image(rows)
