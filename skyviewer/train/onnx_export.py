"""Snapshot -> ONNX: static shapes (batch 1), opset 15, standard ops only.

The exported graphs and their tensor names are the runtime contract (K = N + k - 1, the
field kernel's k; C field channels):
  start.onnx  z (1, C, K, K), sun_dir (1, 3), cloud_cover (1, 1) -> sky (1, 3, N, N), field (1, C, K, K)
  step.onnx   field (1, C, K, K), motion (1, 5), noise (1, C + 1, K, K), sun_dir_next (1, 3),
              cloud_cover (1, 1) -> next_frame (1, 3, N, N), next_field, next_motion
All images are encoded radiance (skyviewer.sky.radiance.ENCODING), -1 below the horizon;
z and noise are N(0, 1). `field` is the recurrent cloud state: the white noise the clouds'
field is drawn from (nets/step.py), the start's z at first; the motion starts as zeros. The
package exporter wraps these files with the manifest.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from skyviewer.nets.start import StartGenerator
from skyviewer.nets.step import StepModel
from skyviewer.train import sky, start, step
from skyviewer.train.config import TrainConfig
from skyviewer.train.run import load_snapshot

OPSET = 15
"""Highest opset both Unity's Inference Engine and Unreal's NNE import."""


def build_generator(cfg: TrainConfig) -> nn.Module:
    return {"start": start.build_generator, "step": step.build_generator, "sky": sky.build_generator}[
        cfg.model
    ](cfg)


def load_generator(snapshot: str | Path) -> tuple[nn.Module, TrainConfig]:
    """The EMA generator of a snapshot, in eval mode on the CPU, and its config."""
    cfg, state, _ = load_snapshot(snapshot)
    model = build_generator(cfg)
    model.load_state_dict(state)
    return model.eval().requires_grad_(False), cfg


def example_inputs(model: nn.Module) -> dict[str, torch.Tensor]:
    """Named batch-1 example inputs of a generator, in forward() order."""
    sun = torch.nn.functional.normalize(torch.tensor([[0.3, 0.6, -0.5]]), dim=1)
    cover = torch.tensor([[0.4]])
    if isinstance(model, StartGenerator):
        return {"z": torch.randn(model.latent_shape(1)), "sun_dir": sun, "cloud_cover": cover}
    if isinstance(model, StepModel):
        return {
            "field": torch.randn(model.field.noise_shape(1)),
            # A step well into a rollout: a wind, a sub-pixel phase away from the rounding's ties.
            "motion": torch.tensor([[0.7, -1.2, 0.2, -0.1, 1.0]]),
            "noise": torch.randn(model.noise_shape(1)),
            "sun_dir_next": sun,
            "cloud_cover": cover,
        }
    raise TypeError(f"no ONNX signature for {type(model).__name__}")


def output_names(model: nn.Module) -> list[str]:
    start = isinstance(model, StartGenerator)
    return ["sky", "field"] if start else ["next_frame", "next_field", "next_motion"]


def export_onnx(model: nn.Module, path: str | Path, opset: int = OPSET) -> dict[str, torch.Tensor]:
    """Write `model` (start or step generator) to `path` as ONNX; returns the example inputs used."""
    with torch.no_grad():  # also picks the models' inference paths (nets.blocks.warp)
        inputs = example_inputs(model)
    with torch.no_grad(), warnings.catch_warnings():  # the TorchScript exporter announces its own deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        _export(model, inputs, path, opset)
    return inputs


def _export(model: nn.Module, inputs: dict[str, torch.Tensor], path, opset: int) -> None:
    torch.onnx.export(
        model,
        tuple(inputs.values()),
        str(path),
        input_names=list(inputs),
        output_names=output_names(model),
        opset_version=opset,
        dynamo=False,  # the TorchScript exporter emits the requested opset directly (dynamo starts at 18)
        do_constant_folding=True,
    )
