"""The torch twin of a package's model: the eager baseline of `skyviewer bench --only model`.

A package holds ONNX, not torch, and the training snapshot it came from stays with whoever
trained it. The twin is rebuilt from what the package says and holds:

1. the net: the training preset its manifest's provenance names for that model, built by the
   training code (train/onnx_export.build_generator, which knows every model family);
2. the weights: the ONNX initializers, which keep torch's parameter names (the few that
   constant folding merged into other tensors keep the preset's initial values; a step's time
   does not depend on them);
3. the check: the twin, exported the way packages are, must give the package's graph (the same
   ops and the same inputs and outputs), or there is no twin: timing another net would say
   nothing about this package.

torch is imported here; only bench imports this module.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import onnx
import torch
from onnx import numpy_helper

from skyviewer.runtime.package import SkyPackage
from skyviewer.train.config import PRESETS, preset
from skyviewer.train.onnx_export import build_generator, export_onnx

IGNORED_OPS = {"Constant", "Identity"}
"""Ops the exporter adds or folds away depending on its version: not part of a graph's shape."""


class NoTwin(Exception):
    """The package's model cannot be rebuilt in torch; the message says why."""


def torch_twin(package: SkyPackage, kind: str) -> tuple[torch.nn.Module, dict[str, torch.Tensor], str]:
    """(net in eval mode, example inputs in forward() order, a note on where it came from) for
    the package's `kind` model ('start', 'step'); NoTwin when the package does not allow one."""
    name = package.manifest["provenance"].get("runs", {}).get(kind, {}).get("preset")
    if name not in PRESETS:
        raise NoTwin(f"the manifest names no known training preset for its {kind} model ({name!r})")
    net = build_generator(preset(kind, name)).eval().requires_grad_(False)
    graph = onnx.load_from_string(package.files[package.model_file(kind)])
    loaded, total = load_weights(net, graph)
    with tempfile.TemporaryDirectory(prefix="skyviewer-twin-") as tmp:
        inputs = export_onnx(net, Path(tmp) / "twin.onnx")
        twin = onnx.load(Path(tmp) / "twin.onnx")
    if signature(twin.graph) != signature(graph.graph):
        raise NoTwin(f"the package's {kind} graph is not what preset {name!r} builds now (ops or shapes)")
    return net, inputs, f"preset {name}, {loaded} of {total} weight tensors from the package"


def load_weights(net: torch.nn.Module, graph: onnx.ModelProto) -> tuple[int, int]:
    """Copy every initializer named like one of net's parameters or buffers into it; returns
    (copied, all of net's tensors). A tensor of another shape means another net: NoTwin."""
    state = net.state_dict()
    found = {t.name: numpy_helper.to_array(t) for t in graph.graph.initializer if t.name in state}
    for key, value in found.items():
        if tuple(value.shape) != tuple(state[key].shape):
            raise NoTwin(f"weight {key}: {tuple(value.shape)} in the package, {tuple(state[key].shape)} here")
    net.load_state_dict({**state, **{k: torch.from_numpy(v.copy()) for k, v in found.items()}})
    return len(found), len(state)


def signature(graph: onnx.GraphProto) -> tuple:
    """What two exports of the same net share: the op counts and every input and output."""
    ops = Counter(node.op_type for node in graph.node if node.op_type not in IGNORED_OPS)
    shape = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    io = [(v.name, shape(v)) for v in [*graph.input, *graph.output]]
    return sorted(ops.items()), io
