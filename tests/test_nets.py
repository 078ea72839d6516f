"""The sky networks: shapes, the horizon mask, the exportable warp, ONNX export (opset <= 15)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from skyviewer.nets.blocks import COND_DIM, GEOMETRY_CHANNELS, MinibatchStd, SkyGeometry, warp
from skyviewer.nets.discriminator import Discriminator
from skyviewer.nets.start import StartGenerator
from skyviewer.nets.step import CLOUD_FADE, NEW_GATE_INIT, StepModel
from skyviewer.sky.projection import fisheye_mask
from skyviewer.train.onnx_export import OPSET, example_inputs, export_onnx

torch.set_num_threads(1)
N = 16


def sun_and_cover(b: int) -> tuple[torch.Tensor, torch.Tensor]:
    return F.normalize(torch.randn(b, 3) + torch.tensor([0.0, 2.0, 0.0]), dim=1), torch.rand(b, 1)


def small_step_model() -> StepModel:
    model = StepModel(
        N, levels=1, state_channels=8, noise_channels=2, channel_base=256, max_channels=16, max_flow_px=2
    )
    for conv in (model.motion, model.head):  # leave the near-identity initialisation: real motion
        torch.nn.init.normal_(conv.weight, std=0.1)
    return model.eval()


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


def test_start_generator_shape_range_and_horizon():
    g = StartGenerator(N, latent_dim=16, channel_base=256, max_channels=16)
    sun, cover = sun_and_cover(3)
    x = g(torch.randn(3, 16), sun, cover)
    assert x.shape == (3, 3, N, N)
    assert x.min() >= -1 and x.max() <= 1
    outside = ~torch.from_numpy(fisheye_mask(N))
    assert torch.all(x[:, :, outside] == -1)


def test_step_model_starts_near_identity_and_keeps_state_shape():
    model = StepModel(
        N, levels=2, state_channels=8, noise_channels=2, channel_base=256, max_channels=16, max_flow_px=2
    )
    geo = SkyGeometry(N)
    frame = geo.apply_mask(torch.rand(2, 3, N, N) * 2 - 1)
    sun, cover = sun_and_cover(2)
    nxt, state = model(frame, model.initial_state(2), torch.randn(model.noise_shape(2)), sun, sun, cover)
    assert state.shape == model.state_shape(2) == (2, 8, N // 4, N // 4)
    # No motion; the deviation from the background faded (at most by CLOUD_FADE), the whole
    # blended by NEW_GATE_INIT towards a grey drawn field; the sun disc half open.
    background = model.background(sun, cover)
    carried = model.fade(frame - background)
    assert (carried - (frame - background)).abs().max() <= CLOUD_FADE * (frame - background).abs().max()
    expected = (1 - NEW_GATE_INIT) * (background + carried)
    disc = geo.composite_sun(torch.zeros_like(frame), sun, torch.zeros(2, 1, N, N))
    checked = (disc < 1e-6) & (geo.mask > 0)  # away from the sun, inside the horizon
    torch.testing.assert_close(nxt[checked], expected[checked])


def test_step_model_rollout_stays_in_range_whatever_the_weights():
    """The next frame is a convex blend of copied pixels and a tanh-bounded target: even random
    weights cannot push a long rollout out of the encoding's range or to NaN."""
    torch.manual_seed(1)
    model = small_step_model()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
        frame = SkyGeometry(N).apply_mask(torch.rand(1, 3, N, N) * 2 - 1)
        state, (sun, cover), changes = model.initial_state(1), sun_and_cover(1), []
        for _ in range(300):
            nxt, state = model(frame, state, torch.randn(model.noise_shape(1)), sun, sun, cover)
            assert torch.isfinite(nxt).all() and nxt.abs().max() <= 1 and torch.isfinite(state).all()
            changes.append((nxt - frame).abs().mean().item())
            frame = nxt
    assert max(changes[-50:]) > 0  # still moving, not frozen


def test_warp_offset_makes_the_mean_motion_exact():
    """Randomised rounding: a 0.3 px/step flow moves content one pixel on ~30 % of the steps."""
    image = torch.arange(N, dtype=torch.float32).expand(1, 1, N, N).contiguous()
    flow = torch.full((1, 2, N, N), 0.3)
    offsets = torch.rand(2000, 2) - 0.5
    moved = [warp(image, flow, o[None])[0, 0, N // 2, N // 2] - image[0, 0, N // 2, N // 2] for o in offsets]
    assert abs(torch.stack(moved).mean().item() - 0.3) < 0.04
    assert torch.equal(warp(image, torch.zeros_like(flow), torch.zeros(1, 2)), image)


def test_step_model_rejects_bad_levels():
    with pytest.raises(ValueError):
        StepModel(
            12, levels=3, state_channels=8, noise_channels=2, channel_base=256, max_channels=16, max_flow_px=2
        )


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
    model = StartGenerator(N, 16, 256, 16).eval() if kind == "start" else small_step_model()
    proto = onnx_matches_torch(model, tmp_path / f"{kind}.onnx")
    assert all(o.domain in ("", "ai.onnx") and o.version <= OPSET for o in proto.opset_import)
    ops = {node.op_type for node in proto.graph.node}
    assert "GridSample" not in ops and (kind == "start" or "GatherElements" in ops)
    for value in list(proto.graph.input) + list(proto.graph.output):
        assert all(d.HasField("dim_value") for d in value.type.tensor_type.shape.dim), value.name
    assert [i.name for i in proto.graph.input] == list(example_inputs(model))
