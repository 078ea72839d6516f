"""What start and step training share: a generator with its EMA copy, named discriminators,
their optimisers, the non-saturating loss with optional smoothed/noisy labels, lazy R1,
and gradient averaging across DDP processes.

Gradients are all-reduced by hand (as stylegan3 does) rather than through DDP wrappers:
R1 needs a double backward through the discriminator, which DistributedDataParallel does
not support, and one code path serves 1 and N processes alike.
"""

from __future__ import annotations

import contextlib
import copy
from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from skyviewer.errors import UserError
from skyviewer.train.config import TrainConfig


def hold_parameters(generator: nn.Module, names: str) -> None:
    """Stop the gradient of each named generator parameter (OptimConfig.held_parameters); Adam
    skips a parameter without a gradient, so it keeps its value and the optimiser its layout."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    parameters = dict(generator.named_parameters())
    unknown = sorted(set(wanted) - set(parameters))
    if unknown:
        scalars = sorted(n for n, p in parameters.items() if p.numel() == 1)
        raise UserError(f"optim.held_parameters: no parameter {unknown}; single-value ones: {scalars}")
    for name in wanted:
        parameters[name].requires_grad_(False)


class CriticInputs(NamedTuple):
    """What a critic judges: images (B, C, N, N), the generator's background under them (same
    shape, detached), per-pixel condition maps (B, M, N, N) and the condition vector (B, D)."""

    images: torch.Tensor
    background: torch.Tensor
    maps: torch.Tensor
    cond: torch.Tensor


def d_loss(real: torch.Tensor, fake: torch.Tensor, smoothing: float, flip_prob: float) -> torch.Tensor:
    """Discriminator BCE on logits; targets 1 - smoothing (real) and 0 (fake), swapped with flip_prob."""
    t_real = torch.full_like(real, 1.0 - smoothing)
    t_fake = torch.zeros_like(fake)
    if flip_prob > 0:
        flip = torch.rand_like(real) < flip_prob
        t_real, t_fake = torch.where(flip, t_fake, t_real), torch.where(flip, t_real, t_fake)
    return F.binary_cross_entropy_with_logits(real, t_real) + F.binary_cross_entropy_with_logits(fake, t_fake)


def g_loss(fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(G(z)) = softplus(-logit)."""
    return F.softplus(-fake).mean()


def sync_grads(params: list[nn.Parameter]) -> None:
    """Average gradients over DDP processes in one flat all-reduce (no-op with one process)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    params = [p for p in params if p.grad is not None]
    flat = torch.cat([p.grad.flatten() for p in params])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for p, g in zip(params, flat.split([p.numel() for p in params]), strict=True):
        p.grad.copy_(g.view_as(p))


def broadcast_params(module: nn.Module) -> None:
    """Start every process from rank 0's weights."""
    if dist.is_available() and dist.is_initialized():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


class GanTask:
    """Generator + EMA + discriminators + optimisers; subclasses define the batches and losses."""

    def __init__(self, cfg: TrainConfig, generator: nn.Module, discriminators: dict[str, nn.Module], device):
        self.cfg, self.device = cfg, device
        self.G = generator.to(device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.Ds = nn.ModuleDict(discriminators).to(device)
        for m in (self.G, self.G_ema, self.Ds):
            broadcast_params(m)
        o = cfg.optim
        # Lazy R1 updates D every r1_every_steps with a bigger step; rescale Adam to compensate (StyleGAN2).
        c = o.r1_every_steps / (o.r1_every_steps + 1)
        hold_parameters(self.G, o.held_parameters)
        background = list(self.G.background.parameters())
        background_ids = {id(p) for p in background}
        rest = [p for p in self.G.parameters() if id(p) not in background_ids]
        self.opt_G = torch.optim.Adam(
            [{"params": rest}, {"params": background, "lr": o.lr_g * o.background_lr_mult}],
            lr=o.lr_g,
            betas=(o.adam_beta1, o.adam_beta2),
        )
        # No critics (a sky model trained by its texture loss alone): no critic optimiser either.
        self.opt_D = (
            torch.optim.Adam(self.Ds.parameters(), lr=o.lr_d * c, betas=(o.adam_beta1**c, o.adam_beta2**c))
            if len(self.Ds)
            else None
        )
        self.step = 0
        self.samples_seen = 0

    def autocast(self):
        """bfloat16 autocast on CUDA when mixed precision is on; a no-op elsewhere."""
        if self.cfg.optim.mixed_precision and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def critic(self, name: str, x: CriticInputs) -> torch.Tensor:
        """Logits (B,) of discriminator `name`. It sees the images and their deviation from the
        background, amplified: the clouds (see NetConfig.disc_residual_gain)."""
        residual = self.cfg.net.disc_residual_gain * (x.images - x.background)
        return self.Ds[name](torch.cat([x.images, residual, x.maps], dim=1), x.cond).float()

    def d_update(self, reals: dict, fakes: dict) -> dict[str, float]:
        """One discriminator step. reals/fakes: name -> CriticInputs; fakes detached."""
        o = self.cfg.optim
        self.Ds.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        losses, total = {}, 0.0
        for name in self.Ds:
            with self.autocast():
                real, fake = self.critic(name, reals[name]), self.critic(name, fakes[name])
            loss = d_loss(real, fake, o.label_smoothing, o.label_flip_prob)
            losses[f"D_{name}"] = loss.item()
            total = total + loss
        if self.step % o.r1_every_steps == 0:
            for name in self.Ds:
                penalty = self.r1(name, reals[name])
                losses[f"R1_{name}"] = penalty.item()
                total = total + penalty * (o.r1_gamma / 2 * o.r1_every_steps)
        total.backward()
        sync_grads(list(self.Ds.parameters()))
        self.opt_D.step()
        return losses

    def r1(self, name: str, x: CriticInputs) -> torch.Tensor:
        """R1: squared gradient norm of D's logits w.r.t. real images (not the constant maps), float32."""
        images = x.images.detach().float().requires_grad_(True)
        floats = CriticInputs(images, x.background.float(), x.maps.float(), x.cond.float())
        logits = self.critic(name, floats)
        (grad,) = torch.autograd.grad(logits.sum(), images, create_graph=True)
        return grad.square().sum(dim=(1, 2, 3)).mean()

    def g_update(self, loss: torch.Tensor, batch: int) -> None:
        """One generator step on `loss`, then the EMA update; batch = samples this process used."""
        self.opt_G.zero_grad(set_to_none=True)
        loss.backward()
        sync_grads(list(self.G.parameters()))
        self.opt_G.step()
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        self.samples_seen += batch * world
        self.update_ema(batch * world)
        self.step += 1

    @torch.no_grad()
    def update_ema(self, batch: int) -> None:
        o = self.cfg.optim
        halflife = o.ema_halflife_samples
        if o.ema_rampup > 0:
            halflife = min(halflife, self.samples_seen * o.ema_rampup)
        beta = 0.5 ** (batch / max(halflife, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
            p_ema.lerp_(p.detach(), 1.0 - beta)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            b_ema.copy_(b)

    def masked_l1(self, pred: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Mean |pred - real| inside the horizon per frame: (..., 3, N, N) -> (...)."""
        mask = self.G.geometry.mask[0]  # (1, N, N)
        return ((pred.float() - real).abs() * mask).sum(dim=(-3, -2, -1)) / (mask.sum() * 3)

    def background_of(self, sun: torch.Tensor, cover: torch.Tensor) -> torch.Tensor:
        """The generator's background for conditions sun (..., 3), cover (..., 1): (..., 3, N, N).
        Detached, it is the reference the critics measure clouds against; its L1 to the real
        frames (background_loss) is all it learns from."""
        background = self.G.background(sun.reshape(-1, 3), cover.reshape(-1, 1))
        return background.reshape(*sun.shape[:-1], *background.shape[1:])

    def background_loss(self, background: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """background_weight * masked L1 of background_of(...) (..., 3, N, N) against the real frames
        with the same conditions, a mean over frames."""
        return self.cfg.optim.background_weight * self.masked_l1(background, real).mean()

    def generator_critics(self, fakes: dict) -> dict[str, torch.Tensor]:
        """Non-saturating loss of each discriminator on (non-detached) fakes, with D frozen."""
        self.Ds.requires_grad_(False)
        return {name: g_loss(self.critic(name, fakes[name])) for name in self.Ds}

    def state_dict(self) -> dict:
        return {
            "G": self.G.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "Ds": self.Ds.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict() if self.opt_D else None,
            "step": self.step,
            "samples_seen": self.samples_seen,
        }

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.Ds.load_state_dict(state["Ds"])
        self.opt_G.load_state_dict(state["opt_G"])
        if self.opt_D:
            self.opt_D.load_state_dict(state["opt_D"])
        self.step, self.samples_seen = state["step"], state["samples_seen"]
