"""The CUDA path of the runtime against its CPU path (skipped where no GPU provider is usable;
scripts/gpu_check.sh runs these on a lent GPU)."""

import numpy as np
import pytest

from skyviewer.runtime.model import SkyModel
from skyviewer.runtime.providers import CUDA, resolve_providers

pytestmark = pytest.mark.skipif(CUDA not in resolve_providers("auto"), reason="no usable CUDA provider")

ENCODED_TOLERANCE = 2e-3
"""On the [-1, 1] log scale (22 stops), 0.02 stops: room for TF32 convolutions, far below any look."""


def models(resolution: int) -> tuple[SkyModel, SkyModel]:
    return (SkyModel("default", providers=p, resolution=resolution) for p in ("cuda", "cpu"))


def test_cuda_runs_on_the_gpu_and_matches_the_cpu_over_steps():
    gpu, cpu = models(256)
    assert gpu.device == "cuda" and gpu.provider == CUDA
    for m in (gpu, cpu):
        m.set_conditions(sun_dir=(0.3, 0.6, 0.74), cloud_cover=0.5)
        m.reset(seed=3)
    for _ in range(5):
        a, b = gpu.step_encoded().numpy(), cpu.step_encoded().numpy()
        assert np.abs(a - b).max() < ENCODED_TOLERANCE


def test_cuda_radiance_on_the_host_matches_the_cpu():
    gpu, cpu = models(1024)
    for m in (gpu, cpu):
        m.reset(seed=5)
    a, b = gpu.frame().astype(np.float32), cpu.frame().astype(np.float32)
    assert a.shape == b.shape == (1024, 1024, 3) and np.isfinite(a).all()
    assert np.median(np.abs(np.log((a + 1e-3) / (b + 1e-3)))) < 0.01


def test_cuda_default_decodes_the_largest_frame():
    gpu = SkyModel("default", providers="cuda")
    gpu.reset(seed=0)
    assert gpu.resolution == max(gpu.decoders()) and np.isfinite(gpu.step()).all()
