"""The sky networks: shapes, the horizon mask, the exportable warp, ONNX export (opset <= 15)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from skyviewer.nets.blocks import COND_DIM, GEOMETRY_CHANNELS, MinibatchStd, warp
from skyviewer.nets.discriminator import Discriminator
from skyviewer.nets.field import CloudField
from skyviewer.nets.start import StartGenerator
from skyviewer.nets.step import MOTION_CHANNELS, StepModel
from skyviewer.sky.projection import fisheye_mask
from skyviewer.train.onnx_export import OPSET, example_inputs, export_onnx

torch.set_num_threads(1)
N = 16


def sun_and_cover(b: int) -> tuple[torch.Tensor, torch.Tensor]:
    return F.normalize(torch.randn(b, 3) + torch.tensor([0.0, 2.0, 0.0]), dim=1), torch.rand(b, 1)


def small_start_model() -> StartGenerator:
    return StartGenerator(N, field_channels=2, field_kernel_px=5, render_width=8, render_layers=2).eval()


def small_step_model(evolution: float = 0.1) -> StepModel:
    model = StepModel(
        N,
        field_channels=2,
        field_kernel_px=5,
        render_width=8,
        render_layers=2,
        wind_px=0.5,
        evolution=evolution,
    )
    torch.nn.init.normal_(model.renderer.to_rgb.weight, std=0.3)  # clouds, not the zero-initialised blank
    return model.eval()


def calm_noise(model: StepModel, batch: int) -> torch.Tensor:
    """Step noise whose wind draw is zero: the wind only persists."""
    noise = torch.randn(model.noise_shape(batch))
    noise[:, model.field.channels] = 0.0
    return noise


def sampling_grid(flow: torch.Tensor) -> torch.Tensor:
    """grid_sample's grid (align_corners=True) for a pixel flow (B, 2, N, N)."""
    ys, xs = torch.meshgrid(torch.arange(float(N)), torch.arange(float(N)), indexing="ij")
    return torch.stack([(xs + flow[:, 0]) / (N - 1), (ys + flow[:, 1]) / (N - 1)], dim=-1) * 2 - 1


def test_warp_is_nearest_with_the_bilinear_gradient():
    image, flow = torch.randn(2, 3, N, N), 3 * torch.randn(2, 2, N, N)
    nearest = F.grid_sample(
        image, sampling_grid(flow), mode="nearest", padding_mode="border", align_corners=True
    )
    assert torch.equal(warp(image, flow), nearest)  # copies pixels: repeated warps never blur
    # Training: the same value, and the flow's gradient is the bilinear warp's (straight-through).
    weights = torch.randn_like(image)  # a linear loss, so the gradient does not depend on the value
    flow_st, flow_bl = flow.clone().requires_grad_(True), flow.clone().requires_grad_(True)
    out = warp(image, flow_st)
    torch.testing.assert_close(out, nearest, atol=1e-6, rtol=0)
    (out * weights).sum().backward()
    bilinear = F.grid_sample(image, sampling_grid(flow_bl), padding_mode="border", align_corners=True)
    (bilinear * weights).sum().backward()
    torch.testing.assert_close(flow_st.grad, flow_bl.grad, atol=1e-4, rtol=1e-4)


def test_warp_integer_shift_moves_pixels():
    image = torch.arange(N * N, dtype=torch.float32).reshape(1, 1, N, N)
    flow = torch.zeros(1, 2, N, N)
    flow[:, 0] = 1.0  # sample one pixel to the right: content moves left
    assert torch.equal(warp(image, flow)[..., :-1], image[..., 1:])


def test_cloud_field_is_unit_variance_everywhere_whatever_the_kernel():
    torch.manual_seed(0)
    field = CloudField(channels=2, kernel_px=7, resolution=N)
    with torch.no_grad():
        field.kernel.normal_()  # any kernel: a spectrum, not a gain
        values = field(torch.randn(field.noise_shape(4000)))  # (4000, 2, N, N)
    var = values.var(dim=0)
    assert values.shape[1:] == (2, N, N)
    assert var.min() > 0.9 and var.max() < 1.1  # corners and borders included (valid convolution)


def test_cover_mask_covers_the_requested_fraction_of_a_unit_gaussian_field():
    renderer = small_start_model().renderer
    with torch.no_grad():
        renderer.log_sharpness.fill_(5.0)  # a hard edge: the mask is the indicator field_0 > t
        field = torch.randn(5, 2, 64, 64)
        for cover in (0.05, 0.3, 0.5, 0.8, 0.97):
            mask = renderer.cover_mask(field, torch.full((5, 1), cover))
            assert abs(mask.mean().item() - cover) < 0.02, cover  # the logistic quantile is ~0.01 off


def test_start_generator_shape_range_horizon_and_cloud_noise():
    g = small_start_model()
    sun, cover = sun_and_cover(3)
    z = torch.randn(g.latent_shape(3))
    x, cloud_noise = g(z, sun, cover)
    assert x.shape == (3, 3, N, N) and z.shape == (3, 2, N + 4, N + 4)
    assert torch.equal(cloud_noise, z)  # the step's first state: the clouds the start drew
    assert x.min() >= -1 and x.max() <= 1
    outside = ~torch.from_numpy(fisheye_mask(N))
    assert torch.all(x[:, :, outside] == -1)


def test_step_moves_the_clouds_by_whole_pixels_and_fills_the_upwind_edge():
    model = small_step_model(evolution=1e-6)  # no renewal: the clouds only move
    cloud_noise = torch.randn(model.field.noise_shape(1))
    k = cloud_noise.shape[-1]
    motion = torch.tensor([[1.0, -2.0, 0.0, 0.0, 1.0]])  # one pixel east (+x), two north (-y)
    with torch.no_grad():
        _, moved, after = model(cloud_noise, motion, calm_noise(model, 1), *sun_and_cover(1))
        field, moved_field = model.field(cloud_noise), model.field(moved)
    torch.testing.assert_close(moved[..., : k - 2, 1:], cloud_noise[..., 2:, : k - 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(moved_field[..., : N - 2, 1:], field[..., 2:, : N - 1], atol=1e-5, rtol=0)
    assert not torch.allclose(moved[..., :, 0], cloud_noise[..., :, 0])  # entered from beyond the square
    assert torch.allclose(after[0, :2], torch.tensor([1.0, -2.0]) * 0.999)  # the wind persists
    assert after[0, 4] == 1.0


def test_clouds_entering_upwind_continue_the_field_without_seams():
    """After the wind has carried every pixel in from beyond the square, neighbouring columns of the
    field correlate at the upwind edge as in the middle: one coherent field, not a stripe per step."""
    torch.manual_seed(0)
    model = small_step_model(evolution=1e-6)
    cloud_noise = torch.randn(model.field.noise_shape(500))
    motion = torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0]]).repeat(500, 1)  # one pixel east per step
    with torch.no_grad():
        for _ in range(2 * N):
            noise = calm_noise(model, 500)
            _, cloud_noise, motion = model(cloud_noise, motion, noise, *sun_and_cover(500))
            motion[:, :2] = torch.tensor([1.0, 0.0])  # a steady wind, no veering
        field = model.field(cloud_noise)  # (500, 2, N, N)

    def column_correlation(j: int) -> float:
        return torch.corrcoef(torch.stack([field[..., j].flatten(), field[..., j + 1].flatten()]))[
            0, 1
        ].item()

    assert column_correlation(0) > 0.5  # a kernel of 5 px correlates neighbours strongly
    assert abs(column_correlation(0) - column_correlation(N // 2)) < 0.05


def test_slow_wind_moves_at_its_mean_speed():
    """0.3 px/step: the sub-pixel phase in the motion state adds up, so the field moves one
    pixel on ~30 % of the steps and the total is exact to within a pixel."""
    model = small_step_model(evolution=1e-6)
    motion = torch.tensor([[0.3, 0.0, 0.0, 0.0, 1.0]])
    total_wind, total_shift = 0.0, 0.0
    with torch.no_grad():
        for _ in range(100):
            total_wind += 0.999 * motion[0, 0].item()
            motion, shift = model.next_motion(motion, torch.zeros(1, 2))
            total_shift += shift[0, 0].item()
            assert shift[0, 0] in (0.0, 1.0)
    assert abs(total_shift - total_wind) <= 0.5 + 1e-4


def test_step_rollout_stays_in_distribution_whatever_the_weights():
    """Variance-preserving renewal: after hundreds of steps of a randomly perturbed model the cloud
    field is still unit variance, the frames in range and finite, and still changing."""
    torch.manual_seed(1)
    model = small_step_model()
    with torch.no_grad():
        for p in model.renderer.parameters():
            p.add_(0.3 * torch.randn_like(p))
        sun, cover = sun_and_cover(8)
        start = small_start_model()
        _, cloud_noise = start(torch.randn(start.latent_shape(8)), sun, cover)
        motion, frame, changes = model.initial_motion(8), None, []
        for _ in range(300):
            nxt, cloud_noise, motion = model(
                cloud_noise, motion, torch.randn(model.noise_shape(8)), sun, cover
            )
            assert torch.isfinite(nxt).all() and nxt.abs().max() <= 1
            if frame is not None:
                changes.append((nxt - frame).abs().mean().item())
            frame = nxt
    assert 0.85 < model.field(cloud_noise).std().item() < 1.15
    assert motion.shape == (8, MOTION_CHANNELS)
    assert min(changes[-50:]) > 0  # still moving, not frozen


def test_step_model_rejects_an_evolution_out_of_range():
    with pytest.raises(ValueError):
        small_step_model(evolution=0.5)


@pytest.mark.parametrize("batch", [4, 6, 3])
def test_discriminator_logits_and_minibatch_std(batch):
    d = Discriminator(
        N, 3 + GEOMETRY_CHANNELS, COND_DIM, channel_base=256, max_channels=16, mbstd_group_size=4
    )
    logits = d(torch.randn(batch, 3 + GEOMETRY_CHANNELS, N, N), torch.randn(batch, COND_DIM))
    assert logits.shape == (batch,)
    # identical samples have zero spread: the statistic must see collapse
    same = MinibatchStd(4)(torch.ones(4, 2, 4, 4))
    assert torch.all(same[:, -1] < 1e-3)


def onnx_matches_torch(model: torch.nn.Module, path) -> onnx.ModelProto:
    inputs = export_onnx(model, path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    with torch.no_grad():
        want = model(*inputs.values())
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want, strict=True):
        assert g.shape == tuple(w.shape)  # static shapes
        np.testing.assert_allclose(g, w.numpy(), atol=1e-4, rtol=1e-4)
    return proto


@pytest.mark.parametrize("kind", ["start", "step"])
def test_onnx_export_is_static_standard_opset15(kind, tmp_path):
    model = small_start_model() if kind == "start" else small_step_model()
    proto = onnx_matches_torch(model, tmp_path / f"{kind}.onnx")
    assert all(o.domain in ("", "ai.onnx") and o.version <= OPSET for o in proto.opset_import)
    ops = {node.op_type for node in proto.graph.node}
    assert "GridSample" not in ops and (kind == "start" or "GatherElements" in ops)
    for value in list(proto.graph.input) + list(proto.graph.output):
        assert all(d.HasField("dim_value") for d in value.type.tensor_type.shape.dim), value.name
    assert [i.name for i in proto.graph.input] == list(example_inputs(model))
