"""Model 1, the start sky: white noise + conditions -> canonical-fisheye HDR sky (encoded).

The generator is the shared cloud model of nets/field.py: a `CloudField` shapes the latent
white noise into a smooth Gaussian field with a learned spectrum, and a `CloudRenderer` draws
the sky from it -- threshold, shape, light and colour under the conditioned sun and cover --
over a `SkyBackground`, the conditional median sky trained by L1 beside the GAN loss. The sun
disc is composited at the conditioned direction behind a learned gate.

The latent is returned next to the sky as the cloud noise: the step model's initial state
(nets/step.py carries the noise, not the field), so the first step moves on exactly the clouds
the start drew.

Measured before this design (cpu preset, docs/training.md): a DCGAN-style upsampling stack
from a latent vector drew thin coloured lines and blocky high-frequency patterns for its first
thousands of steps; a renderer of a smooth field has no upsampling to make them.
"""

from __future__ import annotations

import torch

from skyviewer.nets.field import CloudSky


class StartGenerator(CloudSky):
    def latent_shape(self, batch: int) -> tuple[int, int, int, int]:
        """Shape of the white-noise latent z."""
        return self.field.noise_shape(batch)

    def forward(
        self, z: torch.Tensor, sun_dir: torch.Tensor, cloud_cover: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, C, N + k - 1, N + k - 1) ~ N(0, 1), sun_dir (B, 3), cloud_cover (B, 1) ->
        encoded sky (B, 3, N, N) in [-1, 1] and its cloud noise (z itself, the step's first state)."""
        return self.render(z, sun_dir, cloud_cover), z
