"""Typed training configs and the named presets (`--preset smoke|cpu|gpu`).

One TrainConfig describes a run completely; it is written to the run folder as
config.json and stored in every checkpoint and snapshot, so `--resume` and the exporter
rebuild exactly the networks that were trained. Units are in the names.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field

MODELS = ("start", "step")


@dataclass
class NetConfig:
    """Network sizes. Width at resolution r is min(max_channels, channel_base // r) (stylegan's rule)."""

    channel_base: int = 8192
    """Generator width numerator: channels at resolution r = channel_base // r, capped."""
    max_channels: int = 256
    """Generator width cap."""
    disc_channel_base: int = 8192
    """Discriminator width numerator (same rule)."""
    disc_max_channels: int = 256
    """Discriminator width cap."""
    mbstd_group_size: int = 4
    """Samples per minibatch-stddev group in the discriminators."""
    latent_dim: int = 128
    """Start model: length of the latent vector z ~ N(0, I)."""
    step_levels: int = 2
    """Step model: downsamplings to the recurrent bottleneck (state is N / 2**levels square)."""
    state_channels: int = 64
    """Step model: channels of the ConvGRU state."""
    noise_channels: int = 8
    """Step model: channels of fresh N(0, 1) noise per step at the bottleneck."""
    max_flow_px: float = 2.0
    """Step model: largest cloud motion per step, in pixels of the training resolution."""


@dataclass
class OptimConfig:
    """Optimisation and GAN regularisation."""

    batch_size: int = 32
    """Global batch (clips for the step model), split evenly across DDP processes."""
    lr_g: float = 2e-4
    """Generator Adam learning rate."""
    lr_d: float = 2e-4
    """Discriminator Adam learning rate."""
    adam_beta1: float = 0.0
    """Adam beta1; 0 as in StyleGAN2 (momentum hurts the GAN game)."""
    adam_beta2: float = 0.99
    """Adam beta2."""
    r1_gamma: float = 1.0
    """R1 penalty weight: gamma / 2 * |grad_x D(x_real)|^2."""
    r1_every_steps: int = 4
    """Lazy regularisation: apply R1 (scaled up accordingly) every this many steps."""
    ema_halflife_samples: int = 10_000
    """Half-life of the generator EMA in training samples seen."""
    ema_rampup: float = 0.05
    """EMA half-life ramps up as at most this fraction of samples seen (0 = off): early EMA tracks fast."""
    label_smoothing: float = 0.0
    """One-sided label smoothing: real targets are 1 - this (0 = plain non-saturating loss)."""
    label_flip_prob: float = 0.0
    """Noisy labels: probability of swapping real/fake targets for the discriminator (0 = off)."""
    background_weight: float = 1.0
    """L1 weight of the generator's SkyBackground (the sky the conditions alone decide) against the
    real frame with those conditions: it learns their conditional median, the colours both models
    draw their clouds over, from the first steps on."""
    background_lr_mult: float = 10.0
    """The background's learning rate over lr_g. It is a plain regression on the conditions, far from
    its fit at initialisation: at the GAN's rate (2e-4) its L1 was still ~1 after 250 steps, and the
    step model learned to cover the wrong colours with its drawn clouds."""
    colour_anchor_weight: float = 2.0
    """Start model: L1 weight of a sample's coarse colour layout (4 x 4 cell means) against its
    background's: the GAN draws clouds over the background instead of tinting it."""
    sharpness_weight: float = 5.0
    """Start model: L1 weight of the batch's mean sharpness (mean |Laplacian|, ~0.01-0.02 in the
    data, hence the weight) against the real batch's. A conv stack at initialisation is full of
    blocky high-frequency patterns; without this term the cpu preset's samples were rainbow noise
    over the right colours for the first 750+ steps, which the critic was slow to reject; at 20 it
    drew one thin dark line per sample instead (cheapest way to the data's mean sharpness)."""
    mixed_precision: bool = False
    """bfloat16 autocast for forward passes on CUDA (ignored on CPU); R1 stays in float32."""


@dataclass
class RolloutConfig:
    """Step model only: training on multi-step rollouts of the model's own outputs."""

    rollout_steps: int = 6
    """Frames predicted per training clip, each from the model's previous output."""
    backprop_steps: int = 3
    """Truncated backprop through time: gradients flow through at most this many consecutive steps
    (0 = the whole rollout). Longer rollouts for the same memory and time."""
    replay_fraction: float = 0.5
    """Share of each batch whose rollout continues where an earlier rollout ended (the model's own
    frame and state from the replay buffer) instead of starting from a real frame: training then sees
    the frames and states of deep rollouts, as the viewer runs them (pushforward / self-forcing)."""
    replay_capacity: int = 256
    """Rollout ends kept in the replay buffer (per process)."""
    clip_frames: int = 4
    """Consecutive frames the temporal discriminator sees at once."""
    context_noise_std: float = 0.02
    """Gaussian noise (encoded units) on the real starting frame, so the model learns to recover
    from imperfect inputs -- its own outputs -- instead of trusting them."""
    rec_weight: float = 10.0
    """L1 reconstruction weight for the first predicted frame (encoded units, masked mean)."""
    rec_decay_per_step: float = 0.6
    """Reconstruction weight multiplier per step since the last real frame: the far future may diverge
    from the data, so later frames (and replayed rollouts) are judged mostly by the discriminators."""
    anchor_weight: float = 2.0
    """L1 weight of the frame's coarse layout (anchor_cells^2 cell means) against the real frame at the
    same time, at every depth: keeps deep rollouts at the data's colours and brightness (no drift)."""
    anchor_stats_weight: float = 20.0
    """L1 weight of each frame's sharpness (mean |Laplacian|) against the real frame's, at every depth:
    no blur-out, no noise build-up. The statistic is ~0.01-0.02 in the data, hence the large weight."""
    anchor_cells: int = 4
    """Cells per side of the anchor's coarse layout."""
    frame_adv_weight: float = 1.0
    """Weight of the per-frame adversarial loss."""
    clip_adv_weight: float = 1.0
    """Weight of the temporal (clip) adversarial loss."""
    preview_rollout_steps: int = 64
    """Length of the real-vs-predicted rollout strips drawn at each tick (limited by the sequence)."""


@dataclass
class ScheduleConfig:
    """How long to train and what to write when."""

    total_steps: int = 100_000
    """Optimisation steps (one discriminator + one generator update each)."""
    tick_every_steps: int = 500
    """Log a stats line, draw sample grids / rollout strips, update the GIF and loss plot."""
    snapshot_every_steps: int = 5000
    """Write an export snapshot (EMA generator + config)."""
    checkpoint_every_steps: int = 5000
    """Write the full training state for --resume."""
    seed: int = 0
    """Seed for weights, data order and noise (each DDP rank offsets it by its rank)."""
    preview_count: int = 6
    """Columns (conditions / held-out sequences) in the sample grids."""
    threads: int = 0
    """torch CPU threads per process (0 = torch's default)."""


@dataclass
class TrainConfig:
    model: str = "start"
    """Which model: 'start' (GAN) or 'step' (recurrent next frame)."""
    preset: str = "custom"
    """Name of the preset this config came from (goes into the run folder name)."""
    resolution_px: int = 64
    """Training resolution N (N x N fisheye); data is area-downsampled to it."""
    net: NetConfig = field(default_factory=NetConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return _from_dict(cls, d)


def _from_dict(cls, d: dict):
    """Rebuild a (nested) config dataclass from plain dicts; unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    if unknown := set(d) - names:
        raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    kwargs = {}
    for name, value in d.items():
        kind = hints[name]
        kwargs[name] = _from_dict(kind, value) if dataclasses.is_dataclass(kind) else value
    return cls(**kwargs)


# ---------------------------------------------------------------- presets


def _smoke(model: str) -> TrainConfig:
    """Tiny everything: for tests, a few seconds on one core."""
    return TrainConfig(
        model=model,
        preset="smoke",
        resolution_px=16,
        net=NetConfig(
            channel_base=256,
            max_channels=16,
            disc_channel_base=256,
            disc_max_channels=16,
            latent_dim=16,
            step_levels=1,
            state_channels=8,
            noise_channels=2,
        ),
        optim=OptimConfig(batch_size=4, r1_every_steps=2, ema_halflife_samples=100),
        rollout=RolloutConfig(
            rollout_steps=3, backprop_steps=2, clip_frames=2, replay_capacity=8, preview_rollout_steps=4
        ),
        schedule=ScheduleConfig(
            total_steps=2,
            tick_every_steps=1,
            snapshot_every_steps=2,
            checkpoint_every_steps=1,
            preview_count=2,
        ),
    )


def _cpu(model: str) -> TrainConfig:
    """64 px, small nets: a usable model in <= 2 hours on 2 CPU cores (shared: sized for ~1 core each).

    Profiled at 64 px, convolutions (forward + backward) take ~85 % of a step; the narrow
    full-resolution layers (channel_base 1024: 16 channels at 64 px) halve that time."""
    return TrainConfig(
        model=model,
        preset="cpu",
        resolution_px=64,
        net=NetConfig(
            channel_base=1024,
            max_channels=64,
            disc_channel_base=1024,
            disc_max_channels=64,
            latent_dim=64,
            step_levels=2,
            state_channels=32,
            noise_channels=4,
            max_flow_px=6.0,  # cumulus at 1.5 km in a 20 m/s wind cross ~5 px of a 64 px sky per 20 s step
        ),
        # A step-model batch costs ~rollout_steps start-model batches: halve it to stay in budget.
        # The step model starts as the identity and only has to learn corrections: a smaller
        # generator step (at 5e-4 its rollouts drifted green by 0.005 per step after 250 steps).
        optim=OptimConfig(
            batch_size=16 if model == "start" else 8,
            lr_g=5e-4 if model == "start" else 2e-4,
            lr_d=5e-4,
            r1_every_steps=8,
            ema_halflife_samples=2000,
        ),
        rollout=RolloutConfig(
            rollout_steps=4, backprop_steps=2, clip_frames=3, rec_decay_per_step=0.25, replay_capacity=128
        ),
        schedule=ScheduleConfig(
            total_steps=3000 if model == "start" else 3500,
            tick_every_steps=250,
            snapshot_every_steps=250,
            checkpoint_every_steps=500,
            threads=1,
        ),
    )


def _gpu(model: str) -> TrainConfig:
    """256 px, full-size nets, bfloat16 autocast: for one or more CUDA GPUs via torchrun."""
    return TrainConfig(
        model=model,
        preset="gpu",
        resolution_px=256,
        net=NetConfig(
            channel_base=16384,
            max_channels=256,
            disc_channel_base=16384,
            disc_max_channels=256,
            latent_dim=256,
            step_levels=3,
            state_channels=128,
            noise_channels=16,
            max_flow_px=20.0,  # the cpu preset's 6 px at 64 px, scaled to 256 px
        ),
        optim=OptimConfig(batch_size=32, r1_gamma=2.0, mixed_precision=True),
        rollout=RolloutConfig(
            rollout_steps=16, backprop_steps=4, clip_frames=4, replay_capacity=1024, preview_rollout_steps=256
        ),
        schedule=ScheduleConfig(
            total_steps=200_000,
            tick_every_steps=1000,
            snapshot_every_steps=10_000,
            checkpoint_every_steps=5000,
        ),
    )


PRESETS = {"smoke": _smoke, "cpu": _cpu, "gpu": _gpu}


def preset(model: str, name: str) -> TrainConfig:
    """The named preset for `model` ('start' or 'step')."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if name not in PRESETS:
        raise KeyError(name)
    return PRESETS[name](model)
