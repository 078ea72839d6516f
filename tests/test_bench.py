"""The viewer's bench sections run: model step times (ONNX Runtime and torch eager), the soak."""

import re

import pytest
import test_package_fixtures as fixtures

from skyviewer.bench import SECTIONS
from skyviewer.cli import main

snapshots, package_dir, layered_dir = fixtures.snapshots, fixtures.package_dir, fixtures.layered_dir


def test_viewer_sections_are_registered():
    assert {"render", "model"} <= set(SECTIONS)


def test_soak_reports_memory_and_non_finite_frames(package_dir, capsys):
    assert main(["bench", "--soak", "--soak-steps", "30", "--package", str(package_dir)]) == 0
    out = capsys.readouterr().out
    match = re.search(r"30 steps in .* RSS start ([\d.]+) MiB, end ([\d.]+) MiB .* NaN/Inf frames: 0", out)
    assert match, out


def test_model_section_times_the_default_in_onnx_runtime(tmp_path, monkeypatch, capsys):
    """As on a fresh clone: no runs/ and no snapshot, only the package. The default is format 3:
    its step is weightless arithmetic (no torch twin to time) and its decoders are timed at each size."""
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--only", "model", "--seconds", "0.3", "--package", "default"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"step ONNX Runtime CPU +[\d.]+ ms/step", out), out
    for px in (256, 1024, 2048):
        assert re.search(rf"step\+decode {px}px ONNX Runtime CPU +[\d.]+ ms/step", out), out
    assert re.search(r"step torch eager +n/a +why=format 3", out), out
    assert re.search(r"viewer 1280x720 display +[\d.]+ frames/s", out), out
    for view in ("default view", "looking down"):
        assert re.search(rf"viewer 1280x720 display, look-dev scene, {view} +[\d.]+ frames/s", out), out
        assert re.search(rf"viewer steps while rendering \(3 asked\), look-dev scene, {view} +[\d.]+", out)


def test_lighting_section_times_the_update_at_each_frame_size(capsys):
    assert main(["bench", "--only", "lighting", "--seconds", "0.2"]) == 0
    out = capsys.readouterr().out
    for n in (64, 256, 1024):
        assert re.search(rf"lighting update sky {n} +[\d.]+ ms/frame", out), out
        assert re.search(rf"lighting push alone \(no finish\) sky {n} +[\d.]+ ms/frame", out), out
        assert re.search(rf"lighting GPU timer query sky {n} +[\d.]+ ms/frame", out), out


def test_torch_twin_is_the_packages_net_or_none(package_dir):
    """The twin of the tiny package holds the package's weights and makes outputs of the graph's
    shapes; a package naming another net's preset, or none, has no twin."""
    import onnx
    import torch
    from onnx import numpy_helper

    from skyviewer.bench.twin import NoTwin, torch_twin
    from skyviewer.runtime.package import load_package

    package = load_package(package_dir)
    net, inputs, source = torch_twin(package, "step")
    graph = onnx.load_from_string(package.files["step.onnx"]).graph
    state = net.state_dict()
    named = {t.name: numpy_helper.to_array(t) for t in graph.initializer if t.name in state}
    assert len(named) > 10 and all((state[k].numpy() == v).all() for k, v in named.items())
    assert source == f"preset smoke, {len(named)} of {len(state)} weight tensors from the package"
    with torch.inference_mode():
        outputs = net(*inputs.values())
    shapes = [[d.dim_value for d in o.type.tensor_type.shape.dim] for o in graph.output]
    assert [list(t.shape) for t in outputs] == shapes
    other = onnx.load_from_string(package.files["step.onnx"])
    next(n for n in other.graph.node if n.op_type == "LeakyRelu").op_type = "Relu"  # same weights
    package.files["step.onnx"] = other.SerializeToString()
    with pytest.raises(NoTwin, match="is not what preset 'smoke' builds"):
        torch_twin(package, "step")
    package.manifest["provenance"]["runs"]["step"]["preset"] = "cpu"  # a 64 px net, not this 16 px one
    with pytest.raises(NoTwin, match="weight"):
        torch_twin(package, "step")
    del package.manifest["provenance"]["runs"]["step"]["preset"]
    with pytest.raises(NoTwin, match="no known training preset"):
        torch_twin(package, "step")


def test_model_section_times_step_and_each_decoder_of_a_format_3_package(layered_dir, tmp_path, capsys):
    """Format 3: the step alone, each decoder alone and step + decode at each resolution; torch eager
    says why it does not apply; the viewer plays the package."""
    import json

    out = tmp_path / "bench.json"
    args = [
        "bench",
        "--only",
        "model",
        "--seconds",
        "0.1",
        "--package",
        str(layered_dir),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert re.search(r"step ONNX Runtime CPU +[\d.]+ ms/step .*state_values=\d+", text), text
    for px in (64, 128):
        assert re.search(rf"decode {px}px ONNX Runtime CPU +[\d.]+ ms/frame", text), text
        assert re.search(rf"step\+decode {px}px ONNX Runtime CPU +[\d.]+ ms/step", text), text
    assert re.search(r"step torch eager +n/a .*why=format 3", text), text
    assert re.search(r"viewer 1280x720 display +[\d.]+ frames/s", text), text
    rows = json.loads(out.read_text())["results"]
    assert {r.get("model") for r in rows if r["name"].startswith("decode")} == {"decode", "decode_128"}
    assert all(r["value"] > 0 for r in rows if r["unit"].startswith("ms/"))
