"""The viewer's bench sections are registered, and the soak reports memory and NaN/Inf."""

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
