"""The viewer's bench sections run: model step times (ONNX Runtime and torch eager), the soak."""

import re

import test_package_fixtures as fixtures

from skyviewer.bench import SECTIONS
from skyviewer.cli import main

snapshots, package_dir = fixtures.snapshots, fixtures.package_dir


def test_viewer_sections_are_registered():
    assert {"render", "model"} <= set(SECTIONS)


def test_soak_reports_memory_and_non_finite_frames(package_dir, capsys):
    assert main(["bench", "--soak", "--soak-steps", "30", "--package", str(package_dir)]) == 0
    out = capsys.readouterr().out
    match = re.search(r"30 steps in .* RSS start ([\d.]+) MiB, end ([\d.]+) MiB .* NaN/Inf frames: 0", out)
    assert match, out


def test_model_section_times_the_same_step_in_onnx_runtime_and_torch_eager(package_dir, capsys):
    assert main(["bench", "--only", "model", "--seconds", "0.3", "--package", str(package_dir)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"ONNX Runtime CPU +[\d.]+ ms/step", out), out
    assert re.search(r"torch eager CPU .* +[\d.]+ ms/step", out), out  # not "n/a": the snapshot runs
    assert re.search(r"viewer 1280x720 display +[\d.]+ frames/s", out), out
