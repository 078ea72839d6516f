"""Package format 3: one LayerSky snapshot -> start.onnx, step.onnx and decoders (docs/package.md).

    start.onnx      z_a, z_b (1, 4, G, G), z_motion (1, 6)                -> noise_a, noise_b, motion
    step.onnx       noise_a, noise_b, motion, noise, wind_speed, wind_towards
                    -> next_noise_a, next_noise_b, next_motion
    decode.onnx     noise_a, noise_b, motion, sun_dir, cloud_cover, cirrus_cover -> sky (1, 3, R, R)
    decode_N.onnx   the same decoder at N px (e.g. 2,048 for GPU hosts)

The state is small (2 x 4 x G^2 noise values and 6 numbers); the decoder draws the frame at
its output resolution. Each graph is exported, checked, and measured against torch by the
same functions as format 2 (export/package.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from skyviewer.errors import UserError
from skyviewer.export.package import (
    MAX_FP32_DIFF,
    ModelExport,
    check_graph,
    max_abs_diff,
    to_fp16,
)
from skyviewer.nets.sky import LAYERS, SPECS, LayerSkyNet, SkyDecode, SkyStart, SkyStep, net_tile
from skyviewer.train.config import TrainConfig

MAX_DECODER_DIFF = 1e-2
"""Decoders compute each pixel's view ray with the runtime's own sin/cos: a pixel whose layer point
lands within float32 rounding of a texel edge may differ from torch by a few 1e-3 (one pixel in a
million measured at 1.2e-3), where the state graphs are held to MAX_FP32_DIFF."""
DEFAULT_WIND = {"wind_speed": 8.0, "wind_towards": 90.0}
"""SkySim's default wind: 8 m/s at the cumulus layer, clouds drifting east."""

STATE = {
    "noise_a": "white noise the layers' fields fade from (cumulus channels 0-1, cirrus 2-3)",
    "noise_b": "white noise the layers' fields fade to",
    "motion": "per layer (cumulus, cirrus): offset east, offset north (fractions of its tile), fade phase",
}
ROLES = {
    **{
        name: {"role": "latent", "range": None, "description": "N(0, 1), drawn once per reset"}
        for name in ("z_a", "z_b", "z_motion")
    },
    **{name: {"role": "state", "range": None, "description": text} for name, text in STATE.items()},
    **{
        f"next_{name}": {"role": "state", "range": None, "description": f"next step's {name}"}
        for name in STATE
    },
    "noise": {"role": "noise", "range": None, "description": "fresh N(0, 1) noise, drawn every step"},
    "wind_speed": {"role": "condition", "condition": "wind_speed", "at": "next", "range": [0.0, 40.0]},
    "wind_towards": {
        "role": "condition",
        "condition": "wind_towards",
        "at": "next",
        "range": [-360.0, 720.0],
    },
    "sun_dir": {"role": "condition", "condition": "sun_dir", "at": "current", "range": [-1.0, 1.0]},
    "cloud_cover": {"role": "condition", "condition": "cloud_cover", "at": "current", "range": [0.0, 1.0]},
    "cirrus_cover": {"role": "condition", "condition": "cirrus_cover", "at": "current", "range": [0.0, 1.0]},
    "sky": {"role": "frame", "range": [-1.0, 1.0], "description": "encoded radiance, -1 below the horizon"},
}
RECURRENCE = [{"input": name, "output": f"next_{name}", "initial": f"start:{name}"} for name in STATE]
EXTRA_CONDITIONS = [
    {
        "name": "cirrus_cover",
        "shape": [1],
        "range": [0.0, 1.0],
        "default": [0.2],
        "units": "fraction of the high layer",
        "description": "Fraction of the cirrus layer (9 km) covered by ice cloud.",
    },
    {
        "name": "wind_speed",
        "shape": [1],
        "range": [0.0, 40.0],
        "default": [DEFAULT_WIND["wind_speed"]],
        "units": "m/s at the cumulus layer",
        "description": "Wind speed carrying the clouds; the cirrus layer moves at its wind_scale times this.",
    },
    {
        "name": "wind_towards",
        "shape": [1],
        "range": [-360.0, 720.0],
        "default": [DEFAULT_WIND["wind_towards"]],
        "units": "degrees from north towards east",
        "description": "Azimuth the clouds drift towards (90: they move east).",
    },
]


@dataclass
class Graph:
    """One graph of the package: the module that computes it and example inputs in forward() order."""

    name: str
    module: torch.nn.Module
    inputs: dict[str, torch.Tensor]
    outputs: list[str]


def graphs(net: LayerSkyNet, step_seconds: float, resolutions: dict[str, int]) -> list[Graph]:
    """The start, step and decoder graphs of a trained net (eval mode)."""
    state = _example_state(net)
    sun = torch.nn.functional.normalize(torch.tensor([[0.3, 0.6, -0.5]]), dim=1)
    cover = {"cloud_cover": torch.tensor([[0.4]]), "cirrus_cover": torch.tensor([[0.3]])}
    wind = {"wind_speed": torch.tensor([[7.0]]), "wind_towards": torch.tensor([[120.0]])}
    shapes = net.state_shapes(1)
    latents = {
        "z_a": torch.randn(shapes["noise_a"]),
        "z_b": torch.randn(shapes["noise_b"]),
        "z_motion": torch.randn(shapes["motion"]),
    }
    out = [
        Graph("start", SkyStart(net), latents, list(STATE)),
        Graph(
            "step",
            SkyStep(net, step_seconds),
            {**state, "noise": torch.randn(shapes["noise_a"]), **wind},
            [f"next_{n}" for n in STATE],
        ),
    ]
    for name, px in resolutions.items():
        out.append(Graph(name, SkyDecode(net, px), {**state, "sun_dir": sun, **cover}, ["sky"]))
    return out


def _example_state(net: LayerSkyNet) -> dict[str, torch.Tensor]:
    """A state well into a rollout: offsets inside the tiles, phases mid-fade."""
    shapes = net.state_shapes(1)
    motion = torch.tensor(
        [[v for spec in SPECS for v in (0.3 * net_tile(net, spec), 0.7 * net_tile(net, spec), 0.4)]]
    )
    return {
        "noise_a": torch.randn(shapes["noise_a"]),
        "noise_b": torch.randn(shapes["noise_b"]),
        "motion": motion,
    }


def export_graph(
    graph: Graph, folder: Path, fp16: bool, cfg: TrainConfig, snapshot: Path, step: int
) -> ModelExport:
    """folder/NAME.onnx (and NAME.fp16.onnx), checked by onnx and the op set, measured against torch."""
    import warnings

    path = folder / f"{graph.name}.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            graph.module,
            tuple(graph.inputs.values()),
            str(path),
            input_names=list(graph.inputs),
            output_names=graph.outputs,
            opset_version=15,
            dynamo=False,
            # Folding would store the per-pixel geometry (MBs at 1,024 px) as weights; ONNX Runtime
            # folds it at load instead.
            do_constant_folding=False,
        )
    check_graph(path)
    diffs = {"fp32": max_abs_diff(path, graph.module, graph.inputs)}
    if diffs["fp32"] > (MAX_DECODER_DIFF if graph.name.startswith("decode") else MAX_FP32_DIFF):
        raise UserError(
            f"{snapshot}: {graph.name} differs from torch by {diffs['fp32']:.2e} (> {MAX_FP32_DIFF})"
        )
    if fp16 and graph.name.startswith("decode"):  # start and step carry the state: they stay float32
        half = folder / f"{graph.name}.fp16.onnx"
        to_fp16(path, half)
        check_graph(half)
        diffs["fp16"] = max_abs_diff(half, graph.module, graph.inputs)
    return ModelExport(graph.name, graph.module, snapshot, cfg, step, diffs)


def layers_manifest(net: LayerSkyNet) -> dict:
    return {
        "state_grid_cells": net.grid,
        "layers": [
            {
                "name": name,
                "altitude_m": s.altitude_m,
                "cell_m": s.cell_m,
                "lifetime_s": s.lifetime_s,
                "wind_scale": s.wind_scale,
            }
            for name, s in zip(LAYERS, SPECS, strict=True)
        ],
    }


@torch.no_grad()
def preview_frames(
    net: LayerSkyNet, step_seconds: float, conditions: dict, steps: int, px: int
) -> list[np.ndarray]:
    """Encoded frames (px, px, 3) of the start sky and `steps` steps after it, seed 0."""
    g = torch.Generator().manual_seed(0)
    shapes = net.state_shapes(1)
    state = SkyStart(net)(*(torch.randn(shapes[k], generator=g) for k in ("noise_a", "noise_b", "motion")))
    stepper, decoder = SkyStep(net, step_seconds), SkyDecode(net, px)
    c = {k: torch.tensor([v], dtype=torch.float32) for k, v in conditions.items()}
    frames = []
    for k in range(steps + 1):
        if k:
            state = stepper(
                *state, torch.randn(shapes["noise_a"], generator=g), c["wind_speed"], c["wind_towards"]
            )
        frames.append(
            decoder(*state, c["sun_dir"], c["cloud_cover"], c["cirrus_cover"])[0].permute(1, 2, 0).numpy()
        )
    return frames
