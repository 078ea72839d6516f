"""One conditional discriminator, used three ways: the start model's critic, the step
model's per-frame critic, and its temporal (clip) critic, which sees K consecutive frames
stacked along channels and so judges motion: frozen, flickering or jumping skies.

DCGAN-style strided downsampling without normalisation (the R1 penalty keeps it smooth),
a minibatch-stddev feature at 4x4 against mode collapse, and a projection head (Miyato &
Koyama 2018) for the continuous conditions: logit = psi(h) + <embed(cond), h>.
"""

from __future__ import annotations

import torch
from torch import nn

from skyviewer.nets.blocks import LRELU_SLOPE, MinibatchStd, channels_at, init_weights


class Discriminator(nn.Module):
    def __init__(
        self,
        resolution: int,
        in_channels: int,
        cond_dim: int,
        channel_base: int,
        max_channels: int,
        mbstd_group_size: int = 4,
    ):
        super().__init__()
        c = channels_at(resolution, channel_base, max_channels)
        self.from_input = nn.Sequential(nn.Conv2d(in_channels, c, 1), nn.LeakyReLU(LRELU_SLOPE))
        blocks = []
        res = resolution
        while res > 4:
            c_out = channels_at(res // 2, channel_base, max_channels)
            blocks += [
                nn.Conv2d(c, c, 3, padding=1),
                nn.LeakyReLU(LRELU_SLOPE),
                nn.Conv2d(c, c_out, 4, stride=2, padding=1),  # DCGAN's strided downsampling
                nn.LeakyReLU(LRELU_SLOPE),
            ]
            c, res = c_out, res // 2
        self.blocks = nn.Sequential(*blocks)
        self.mbstd = MinibatchStd(mbstd_group_size)
        self.final_conv = nn.Sequential(nn.Conv2d(c + 1, c, 3, padding=1), nn.LeakyReLU(LRELU_SLOPE))
        self.fc = nn.Sequential(nn.Linear(c * 16, c), nn.LeakyReLU(LRELU_SLOPE))
        self.out = nn.Linear(c, 1)
        self.embed = nn.Linear(cond_dim, c, bias=False)
        init_weights(self)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, in_channels, N, N): images (+ geometry maps); cond (B, cond_dim). Returns logits (B,)."""
        h = self.blocks(self.from_input(x))  # (B, C, 4, 4)
        h = self.final_conv(self.mbstd(h))
        h = self.fc(h.flatten(1))  # (B, C)
        return self.out(h)[:, 0] + (self.embed(cond) * h).sum(dim=1)
