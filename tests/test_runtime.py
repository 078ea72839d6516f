"""SkyModel, providers, the sun clock and the runtime commands; the runtime runs with torch absent."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import test_package_fixtures as fixtures

from skyviewer.cli import main
from skyviewer.runtime.model import SkyModel
from skyviewer.runtime.providers import CPU, probe, resolve_providers
from skyviewer.runtime.sun import SunClock

snapshots, package_dir, layered_dir = fixtures.snapshots, fixtures.package_dir, fixtures.layered_dir


def test_steps_are_seeded_and_decoded(package_dir):
    sky = SkyModel(package_dir)
    assert (sky.resolution, sky.step_seconds, sky.provider) == (16, 60.0, CPU)
    runs = []
    for seed in (3, 3, 4):
        sky.reset(seed)
        runs.append(np.stack([sky.frame()] + [sky.step() for _ in range(3)]))
    assert runs[0].shape == (4, 16, 16, 3) and runs[0].dtype == np.float16
    assert np.isfinite(runs[0]).all() and runs[0].min() >= 0
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])
    assert sky.steps == 3


def test_conditions_are_checked_and_sun_normalised(package_dir):
    sky = SkyModel(package_dir)
    sky.set_conditions(sun_dir=(0, 2, 0), cloud_cover=0.9)
    sky.reset(0)
    assert np.allclose(sky.conditions()["sun_dir"], [0, 1, 0])
    with pytest.raises(KeyError, match="wind"):
        sky.set_conditions(wind=3)
    with pytest.raises(ValueError, match="outside its range"):
        sky.set_conditions(cloud_cover=1.5)
    with pytest.raises(RuntimeError, match="reset"):
        SkyModel(package_dir).step()


def test_fp16_variant_stays_close_to_fp32_when_driven_by_its_own_state(package_dir):
    """The fp16 variant carries its recurrent state in fp32 (export/package.py to_fp16), so its
    frames stay within fp16's rounding of fp32's step after step. (With the state in fp16 too,
    the motion's sub-pixel phase rounded to another whole-pixel shift within 50 steps and the
    frames were 0.2 apart from then on.)"""
    for seed in (0, 1):
        frames = []
        for precision in ("fp32", "fp16"):
            sky = SkyModel(package_dir, providers="cpu", precision=precision)
            sky.reset(seed)  # the same seed: the same start, noise and wind draws
            frames.append(np.stack([sky.step_encoded().numpy().copy() for _ in range(50)]))
        worst = np.abs(frames[0] - frames[1]).max(axis=(1, 2, 3, 4))
        assert worst.max() < 5e-3, f"seed {seed}: {worst.max():.3f} off fp32 at step {worst.argmax() + 1}"


def test_gpu_providers_fall_back_quietly():
    assert resolve_providers("cpu") == [CPU]
    if not probe("CUDAExecutionProvider").usable:  # no GPU here: auto is the CPU, cuda is refused
        assert resolve_providers("auto") == [CPU]
        with pytest.raises(RuntimeError, match="not usable"):
            resolve_providers("cuda")
    code = "from skyviewer.runtime.providers import resolve_providers; print(resolve_providers())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr == ""  # no CUDA/TensorRT library-loading noise


NO_TORCH = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
from skyviewer.runtime import SkyModel, SunClock
clock = SunClock(46.8, -71.2, 1_700_000_000.0)
sky = SkyModel(sys.argv[1])
sky.set_conditions(sun_dir=clock.direction())
sky.reset(seed=0)
sky.set_conditions(sun_dir=clock.advance(sky.step_seconds))
print(sky.step().shape, sky.provider)
"""


def test_runtime_runs_without_torch(package_dir):
    result = subprocess.run(
        [sys.executable, "-c", NO_TORCH, str(package_dir)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(16, 16, 3) CPUExecutionProvider"


def test_sun_clock_follows_the_day():
    clock = SunClock(latitude_deg=0.0, longitude_deg=0.0, unix_time=1_710_936_000.0)  # 2024-03-20 12:00 UTC
    noon = clock.direction()
    assert noon.dtype == np.float32 and np.isclose(np.linalg.norm(noon), 1, atol=1e-5) and noon[1] > 0.99
    evening = clock.advance(6 * 3600.0)
    assert evening[1] < 0.05 and evening[0] < -0.9  # setting in the west (-X)


def test_list_and_doctor(package_dir, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SKYVIEWER_PACKAGES", str(package_dir.parent))
    monkeypatch.chdir(tmp_path)
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "16 px" in out and "INVALID" not in out
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for label in (
        "onnxruntime",
        "CPU",
        "GPU",
        "OpenGL context",
        "CUDA-GL interop",
        "display",
        "video",
        "sky packages",
    ):
        assert label in out


def test_the_viewers_sessions_sleep_between_operators_and_others_spin(layered_dir):
    """The viewer's renderer shares the cores (session_options): its model's threads sleep between
    operators, every graph's; a model loaded for anything else keeps ONNX Runtime's spinning."""
    from skyviewer.app.commands import load_model

    def spinning(model):
        graphs = [model._start, model._step, model._decode]
        return {
            g.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
            for g in graphs
        }

    assert spinning(load_model(str(layered_dir), "cpu")) == {"0"}
    assert spinning(SkyModel(layered_dir, providers="cpu")) == {"1"}


def test_graphs_run_on_two_fixed_buffer_sets(layered_dir):
    """What replaying a captured CUDA graph needs (runtime/model.py): every run of the step and the
    decoder reads and writes the same two sets of buffers, alternately, across steps and resets;
    and a buffer set bound to other buffers is refused, not replayed on stale addresses."""
    sky = SkyModel(layered_dir, providers="cpu")
    assert sky.graph_capture == "off"  # asked for, but only CUDA captures
    pointers = []
    for seed in (0, 1):
        sky.reset(seed)
        pointers.append([sky.frame_encoded().data_ptr()] + [sky.step_encoded().data_ptr() for _ in range(4)])
    assert pointers[0] == pointers[1] and len(set(pointers[0])) == 2
    assert pointers[0][0::2] == [pointers[0][0]] * 3
    sky._frames.reverse()  # as if a host had swapped the model's frame buffers
    with pytest.raises(RuntimeError, match="buffer set"):
        sky.step_encoded()
