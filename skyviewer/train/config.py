"""Typed training configs and the named presets (`--preset smoke|cpu|gpu`).

One TrainConfig describes a run completely; it is written to the run folder as
config.json and stored in every checkpoint and snapshot, so `--resume` and the exporter
rebuild exactly the networks that were trained. Units are in the names.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field

MODELS = ("start", "step", "sky")


@dataclass
class NetConfig:
    """Network sizes and the step model's motion at initialisation. Discriminator width at
    resolution r is min(disc_max_channels, disc_channel_base // r) (stylegan's rule)."""

    field_channels: int = 2
    """Channels of the cloud field both models draw from (nets/field.py), each with its own spectrum."""
    field_kernel_px: int = 25
    """Side of the learned kernels that shape white noise into the field (odd): the largest cloud
    structures the field can hold, in pixels at the training resolution."""
    render_width: int = 32
    """Channels of the CloudRenderer's 3x3 convs."""
    render_layers: int = 3
    """3x3 conv layers in the CloudRenderer (receptive field 2 * layers + 1 pixels)."""
    wind_px: float = 1.3
    """Step model, at initialisation: the wind's spread per axis, pixels per step at the training
    resolution (learned). SkySim's clouds move 0.25-2.8 px per 20 s step near the zenith at 64 px."""
    evolution: float = 0.1
    """Step model, at initialisation: the share of the field renewed per step, as a standard deviation
    (learned, below nets.step.EVOLUTION_MAX). At 0.1 the clouds are half new after ~140 steps."""
    disc_channel_base: int = 8192
    """Discriminator width numerator."""
    disc_max_channels: int = 256
    """Discriminator width cap."""
    mbstd_group_size: int = 4
    """Samples per minibatch-stddev group in the discriminators."""
    disc_residual_gain: float = 10.0
    """The critics see every image twice: as is, and its deviation from the generator's background
    (detached) times this gain. Clouds are a deviation of ~0.05 in the encoding on a sky spanning
    [-1, 1]; a critic given the images alone stayed at chance against cloudless fakes, one given the
    deviation x10 told them apart in 100 steps (docs/training.md)."""


@dataclass
class SkyNetConfig:
    """LayerSky (model 'sky', nets/sky.py): the layer state's size and the critics' views."""

    grid: int = 64
    """Side of each layer's state grid (cells); the tile is grid x LayerSpec.cell_m metres wide."""
    kernel_px: int = 31
    """Side (odd, cells) of the learned kernels that shape the state's white noise into fields:
    31 cumulus cells are 12.4 km, room for SkySim's 5 km cells."""
    detail_px: int = 256
    """Side of the learned cumulus detail texture (texels)."""
    detail_period_m: float = 2560.0
    """Width of the detail texture on the layer (m): 10 m texels. A 1,024 px fisheye pixel at the
    zenith spans 1,500 m x pi / 1,024 = 4.6 m; SkySim's finest cumulus detail is ~78 m."""
    patch_px: int = 64
    """Side of the full-resolution patches the patch critic sees (a multiple of 8)."""
    patches_per_frame: int = 2
    """Patches drawn from each frame of a batch."""
    global_px: int = 64
    """Resolution of the whole skies the global critic sees."""
    background_warmup_steps: int = 0
    """Steps that train the background alone (its per-pixel L1) before the critics start: a critic
    that sees the background's error as part of every real cloud deviation gets the generator to
    tint the sky instead of drawing clouds (docs/training.md, "Where LayerSky stands")."""
    texture_levels: int = 3
    """Laplacian-pyramid levels of the texture loss (train/texture.py): 64, 32, 16 px of a 64 px patch."""
    texture_descriptors: int = 4096
    """Neighbourhoods per level and image set drawn for the texture loss."""
    texture_projections: int = 128
    """Random directions the texture loss projects the neighbourhoods on, fresh every step."""
    texture_where_weight: float = 1.0
    """Weight of the place and condition values each neighbourhood carries (each scaled to unit std,
    as the pixels are): how strictly the texture must match where it is drawn. Heavy, they decide
    every projection's order, pair each fake pixel with the real one at its place (other clouds),
    and the loss turns into a pixel loss that greys the clouds into the sky: at 4 (without the
    scaling) the clouds' saturation no longer changed it."""


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
    r1_gamma: float = 0.05
    """R1 penalty weight: gamma / 2 * |grad_x D(x_real)|^2. StyleGAN2-ADA's rule of thumb,
    0.0002 N^2 / batch: 0.05 at 64 px and batch 16, 0.4 at 256 px and batch 32."""
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
    texture_weight: float = 0.0
    """Sky model: weight of the sliced Wasserstein texture loss of patches and whole skies against
    the data's at the same places and conditions (train/texture.py)."""
    adversarial_weight: float = 1.0
    """Sky model: weight of the critics' loss; 0 trains without critics (texture loss alone)."""
    colour_anchor_weight: float = 2.0
    """Start model: L1 weight of a sample's coarse colour layout (4 x 4 cell means) against its
    background's: the GAN draws clouds over the background instead of tinting it. Sky model: weight
    of the skies' 4 x 4 layout, of their mean colour in sectors of the ring 1-3 deg above the
    horizon, and of full-resolution blocks' mean colour 0-1 and 1-3 deg up, against the data's under
    the same conditions (train/sky.py cells_l1, horizon_l1, horizon_blocks_l1)."""
    mixed_precision: bool = False
    """bfloat16 autocast for forward passes on CUDA (ignored on CPU); R1 stays in float32."""
    held_parameters: str = ""
    """Comma-separated names of generator parameters kept at their values (e.g. resuming a trained
    sky model: "detail_gain,log_sharpness" holds the texture's contrast and the cloud edges while
    other losses train); they stay in the optimiser, with no gradient, so a state still resumes."""


@dataclass
class RolloutConfig:
    """Step model only: training on multi-step rollouts of the model's own outputs."""

    start_snapshot: str = ""
    """A start-model snapshot whose cloud field and renderer the step model takes over, frozen
    (train/step.py); empty: the step model trains its own from scratch."""
    rollout_steps: int = 6
    """Steps rolled out per training clip, each from the model's previous field."""
    backprop_steps: int = 3
    """Truncated backprop through time: gradients flow through at most this many consecutive steps
    (0 = the whole rollout)."""
    clip_frames: int = 4
    """Consecutive frames the temporal discriminator sees at once."""
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
    """Which model: 'sky' (LayerSky: start, step and decoder from one GAN), or the format-2 pair
    'start' (GAN) and 'step' (recurrent next frame)."""
    preset: str = "custom"
    """Name of the preset this config came from (goes into the run folder name)."""
    resolution_px: int = 64
    """Training resolution N (N x N fisheye); data is area-downsampled to it."""
    net: NetConfig = field(default_factory=NetConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    sky: SkyNetConfig = field(default_factory=SkyNetConfig)
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
            field_kernel_px=7,
            render_width=8,
            render_layers=2,
            wind_px=0.4,
            disc_channel_base=256,
            disc_max_channels=16,
        ),
        optim=OptimConfig(batch_size=4, r1_every_steps=2, ema_halflife_samples=100),
        rollout=RolloutConfig(rollout_steps=3, backprop_steps=2, clip_frames=2, preview_rollout_steps=4),
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
    The discriminators' narrow full-resolution layers (16 channels at 64 px) halve a step's time."""
    return TrainConfig(
        model=model,
        preset="cpu",
        resolution_px=64,
        net=NetConfig(disc_channel_base=1024, disc_max_channels=64),
        # A step-model batch costs ~rollout_steps start-model batches: halve it to stay in budget.
        optim=OptimConfig(
            batch_size=16 if model == "start" else 8,
            lr_g=5e-4 if model == "start" else 2e-3,  # the step, on a start's renderer, learns two scalars
            lr_d=5e-4,
            r1_every_steps=8,
            ema_halflife_samples=2000,
        ),
        rollout=RolloutConfig(rollout_steps=6, backprop_steps=3, clip_frames=3),
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
            field_kernel_px=61,  # not 4 x 25: structure above ~60 px of 256 is the cover's, a condition
            render_width=64,
            render_layers=4,
            wind_px=5.2,  # the cpu preset's 1.3 px at 64 px, scaled to 256 px
            disc_channel_base=16384,
            disc_max_channels=256,
        ),
        optim=OptimConfig(batch_size=32, r1_gamma=0.4, mixed_precision=True),
        rollout=RolloutConfig(rollout_steps=16, backprop_steps=4, clip_frames=4, preview_rollout_steps=256),
        schedule=ScheduleConfig(
            total_steps=200_000,
            tick_every_steps=1000,
            snapshot_every_steps=10_000,
            checkpoint_every_steps=5000,
        ),
    )


def _sky_smoke() -> TrainConfig:
    """LayerSky for tests: 64 px data, 16 px patches, a 16-cell grid."""
    cfg = _smoke("sky")
    cfg.resolution_px = 64
    cfg.sky = SkyNetConfig(grid=16, kernel_px=5, detail_px=32, patch_px=16, patches_per_frame=1, global_px=16)
    return cfg


def _sky_cpu() -> TrainConfig:
    """LayerSky on 2 CPU cores: 1,024 px data (dataset synth --resolution 1024), 64 px patches, the
    texture loss alone (docs/training.md: critics did not converge on two cores)."""
    return TrainConfig(
        model="sky",
        preset="cpu",
        resolution_px=1024,
        sky=SkyNetConfig(background_warmup_steps=300),
        # Momentum: the texture loss draws new random projections every step, so its gradients are
        # noisy; without it (beta1 0, the GAN setting) the cloud parameters barely moved in 750 steps.
        optim=OptimConfig(
            batch_size=8,
            lr_g=1e-3,
            adam_beta1=0.9,
            ema_halflife_samples=2000,
            texture_weight=1.0,
            adversarial_weight=0.0,
            colour_anchor_weight=5.0,
        ),
        schedule=ScheduleConfig(
            total_steps=7250,  # the bundled default's steps: ~1.7 h at ~1.2 steps/s on 2 cores
            tick_every_steps=250,
            snapshot_every_steps=250,
            checkpoint_every_steps=250,
            threads=2,
        ),
    )


def _sky_gpu() -> TrainConfig:
    """LayerSky on CUDA: 2,048 px data, 128 px patches, the texture loss and the critics, bf16 autocast."""
    return TrainConfig(
        model="sky",
        preset="gpu",
        resolution_px=2048,
        net=NetConfig(disc_channel_base=16384, disc_max_channels=256),
        sky=SkyNetConfig(
            grid=128, patch_px=128, patches_per_frame=4, global_px=128, background_warmup_steps=1000
        ),
        optim=OptimConfig(batch_size=32, r1_gamma=0.4, mixed_precision=True, texture_weight=1.0),
        schedule=ScheduleConfig(
            total_steps=100_000, tick_every_steps=1000, snapshot_every_steps=5000, checkpoint_every_steps=5000
        ),
    )


PRESETS = {"smoke": _smoke, "cpu": _cpu, "gpu": _gpu}
SKY_PRESETS = {"smoke": _sky_smoke, "cpu": _sky_cpu, "gpu": _sky_gpu}


def preset(model: str, name: str) -> TrainConfig:
    """The named preset for `model` ('start' or 'step')."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if name not in PRESETS:
        raise KeyError(name)
    return SKY_PRESETS[name]() if model == "sky" else PRESETS[name](model)
