"""Export: snapshots -> package; op set, parity with torch, fp16, OpenCV as a second runtime."""

from __future__ import annotations

import json

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import test_package_fixtures as fixtures
import torch

from skyviewer.cli import main
from skyviewer.errors import UserError
from skyviewer.export.package import export_package
from skyviewer.runtime.model import SkyModel
from skyviewer.runtime.opset import UNITY_INFERENCE_ENGINE_OPS, op_set_problems, used_ops
from skyviewer.train.onnx_export import load_generator

snapshots, package_dir = fixtures.snapshots, fixtures.package_dir


def test_package_files_and_manifest(package_dir):
    names = {p.name for p in package_dir.iterdir()}
    assert names == {
        "sky.json",
        "start.onnx",
        "step.onnx",
        "start.fp16.onnx",
        "step.fp16.onnx",
        "preview.png",
    }
    assert (package_dir.parent / "tiny.zip").is_file()
    m = json.loads((package_dir / "sky.json").read_text())
    assert set(m["files"]) == names - {"sky.json"}
    assert m["projection"]["resolution_px"] == 16 and m["step_seconds"] == 60.0
    assert m["radiance"]["encoding"]["x_max"] == 65504.0


def test_graphs_use_only_engine_ops(package_dir):
    for name in ("start.onnx", "step.onnx", "start.fp16.onnx", "step.fp16.onnx"):
        model = onnx.load(package_dir / name)
        assert op_set_problems(model) == []
        assert set(used_ops(model.graph)) <= UNITY_INFERENCE_ENGINE_OPS


def test_op_set_check_rejects_what_engines_lack():
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    nodes = [
        helper.make_node("GridSample", ["x", "x"], ["y"]),
        helper.make_node("Foo", ["y"], ["z"], domain="evil"),
    ]
    graph = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)])
    opsets = [helper.make_opsetid("", 16), helper.make_opsetid("evil", 1)]
    problems = " ".join(op_set_problems(helper.make_model(graph, opset_imports=opsets)))
    assert "opset 16" in problems and "evil" in problems and "GridSample" in problems


def test_parity_with_torch_is_recorded(package_dir):
    m = json.loads((package_dir / "sky.json").read_text())
    for spec in m["models"].values():
        assert spec["max_abs_diff_vs_torch"] < 1e-4
        assert spec["variants"][0]["max_abs_diff_vs_torch"] < 2e-2  # fp16: 0.3 stop at most


def test_runtime_rollout_matches_torch(package_dir, snapshots):
    """SkyModel's feeding (seeded z and noise in manifest order, conditions, recurrence) == torch by hand."""
    start, _ = load_generator(snapshots[0])
    step, _ = load_generator(snapshots[1])
    sky = SkyModel(package_dir, providers="cpu")
    sky.reset(seed=5)
    rng = np.random.default_rng(5)
    sun, cover = (torch.from_numpy(sky.conditions()[k][None]) for k in ("sun_dir", "cloud_cover"))
    with torch.no_grad():
        frame, field = start(
            torch.from_numpy(rng.standard_normal(start.latent_shape(1), np.float32)), sun, cover
        )
        assert np.abs(sky.frame_encoded().numpy() - frame.numpy()).max() < 1e-4
        motion = step.initial_motion(1)
        for _ in range(3):
            noise = torch.from_numpy(rng.standard_normal(step.noise_shape(1), np.float32))
            frame, field, motion = step(field, motion, noise, sun, cover)
            assert np.abs(sky.step_encoded().numpy() - frame.numpy()).max() < 1e-4


def test_opencv_runs_step_model_like_onnxruntime(package_dir):
    path = str(package_dir / "step.onnx")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {i.name: (0.3 * rng.standard_normal(i.shape)).astype(np.float32) for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]
    expected = session.run(names, feeds)
    net = cv2.dnn.readNetFromONNX(path)
    for name, value in feeds.items():
        net.setInput(value, name)
    actual = net.forward(names)
    for a, e in zip(actual, expected, strict=True):
        assert np.abs(a - e).max() < 1e-4


def test_export_refuses_to_overwrite_and_needs_both_models(tmp_path, snapshots):
    (tmp_path / "taken").mkdir()
    with pytest.raises(UserError, match="already exists"):
        export_package(snapshots, tmp_path / "taken", fixtures.INFO)
    with pytest.raises(UserError, match="second start"):
        export_package([snapshots[0], snapshots[0]], tmp_path / "two", fixtures.INFO)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # the failed export left nothing


def test_export_validate_round_trip_via_cli(tmp_path, snapshots, capsys):
    out = tmp_path / "cli"
    runs = [str(s.parent) for s in snapshots]
    assert main(["export", *runs, "--out", str(out), "--step-seconds", "30", "--licence", "CC0-1.0"]) == 0
    assert "op set ok" in capsys.readouterr().out
    assert main(["validate", str(out)]) == 0
    report = capsys.readouterr().out
    assert "ok  fp32: start + step" in report and report.rstrip().endswith("valid")
    assert main(["export", *runs, "--out", str(tmp_path / "x")]) == 2  # no --step-seconds, no --data
