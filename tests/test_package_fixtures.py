"""Tiny sky packages for the package, export and runtime tests (no tests of its own).

Untrained smoke-preset nets, with every weight nudged so the step model is not the
identity it is at initialisation (its head starts at zero): parity then means something.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from skyviewer.export.package import PackageInfo, export_package
from skyviewer.train.config import preset
from skyviewer.train.onnx_export import build_generator
from skyviewer.train.run import save_snapshot

INFO = PackageInfo(
    name="tiny", licence="CC0-1.0", step_seconds=60.0, training_data="none (untrained test nets)"
)


def make_snapshots(root: Path) -> list[Path]:
    """A start and a step snapshot of nudged smoke-preset nets, written by the training code."""
    torch.manual_seed(0)
    snapshots = []
    for model in ("start", "step"):
        cfg = preset(model, "smoke")
        net = build_generator(cfg)
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.05 * torch.randn_like(p))
        run = root / f"00000-{model}-smoke"
        run.mkdir(parents=True)
        snapshots.append(save_snapshot(run, cfg, 2, net.state_dict()))
    return snapshots


@pytest.fixture(scope="session")
def snapshots(tmp_path_factory) -> list[Path]:
    return make_snapshots(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory, snapshots) -> Path:
    """models/tiny (+ tiny.zip) with fp16 variants; read-only for tests (copy before tampering)."""
    out = tmp_path_factory.mktemp("models") / "tiny"
    torch.set_num_threads(1)
    export_package(snapshots, out, INFO, fp16=True, make_zip=True)
    return out


@pytest.fixture(scope="session")
def layered_dir(tmp_path_factory) -> Path:
    """A format-3 package (LayerSky, smoke preset, untrained) with every weather condition:
    cloud_cover, cirrus_cover, wind_speed, wind_towards, its decoders at 64 and 128 px (the same
    graphs as 1,024 and 2,048, sized for tests). Read-only for tests."""
    from skyviewer.train.sky import build_generator as build_sky

    root = tmp_path_factory.mktemp("layered")
    cfg = preset("sky", "smoke")
    torch.manual_seed(0)
    snapshot = save_snapshot(root, cfg, 1, build_sky(cfg).state_dict())
    info = PackageInfo(
        name="layered",
        licence="CC0-1.0",
        step_seconds=20.0,
        training_data="none (test)",
        decoder_px=(64, 128),
    )
    out = root / "layered"
    torch.set_num_threads(1)
    export_package([snapshot], out, info)
    return out
