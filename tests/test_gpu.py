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


def test_captured_cuda_graphs_replay_the_same_frames():
    """The step and the decoder captured as CUDA graphs (the default on CUDA) give the frames the
    uncaptured sessions give, across a condition change and a reset."""
    captured = SkyModel("default", providers="cuda", resolution=256)
    plain = SkyModel("default", providers="cuda", resolution=256, cuda_graphs=False)
    assert captured.graph_capture == "CUDA graph", captured.graph_capture
    assert plain.graph_capture == "off"
    for seed in (1, 2):
        for m in (captured, plain):
            m.set_conditions(sun_dir=(0.3, 0.6, 0.74), cloud_cover=0.3)
            m.reset(seed=seed)
        for k in range(6):
            if k == 3:
                for m in (captured, plain):
                    m.set_conditions(cloud_cover=0.8)
            a, b = captured.step_encoded().numpy(), plain.step_encoded().numpy()
            assert np.abs(a - b).max() < ENCODED_TOLERANCE, f"seed {seed}, step {k}"


def test_interop_writes_the_dome_texture_the_host_copy_writes():
    """CUDA-GL interop (render/cuda_gl.py): the radiance SkyModel.decode_into writes through a
    mapped pixel buffer is, texel for texel, the frame the host copy uploads."""
    from skyviewer.render.context import create_offscreen_context, release_context
    from skyviewer.render.cuda_gl import interop_blocker
    from skyviewer.render.dome import DomeRenderer

    model = SkyModel("default", providers="cuda", resolution=1024)
    ctx = create_offscreen_context()
    blocker = interop_blocker(model.device, ctx)
    if blocker is not None:
        release_context(ctx)
        pytest.skip(f"no CUDA-GL interop here: {blocker}")
    model.reset(seed=4)
    host, device = DomeRenderer(ctx, model.resolution), DomeRenderer(ctx, model.resolution, gpu_frames=True)
    for _ in range(3):  # both pixel buffers of each, twice over one
        encoded = model.step_encoded()
        host.push_frame(model.decode(encoded))
        device.push_device(lambda pointer, encoded=encoded: model.decode_into(encoded, pointer))
        texels = [np.frombuffer(d.sky.next.read(), np.float16) for d in (host, device)]
        assert np.array_equal(texels[0], texels[1]) and np.isfinite(texels[0]).all()
        assert device.scene_key_nits(1.0) == pytest.approx(host.scene_key_nits(1.0), rel=1e-6)
    release_context(ctx)
