"""A non-editable install plays the bundled default sky from an empty folder: the wheel carries
the default package and the GLSL, and nothing reads the repository at run time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """skyviewer built as a wheel from a copy of the sources and installed (not editable) into a
    fresh folder; dependencies come from this interpreter's environment."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"  # a copy, so the build's build/ and egg-info never land in the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src)
    shutil.copytree(ROOT / "skyviewer", src / "skyviewer", ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    result = subprocess.run([*pip, "--target", str(site), str(src)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return site


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed `skyviewer` console script, run in `cwd`, seeing only the installed package
    (and no per-user packages)."""
    env = {**os.environ, "PYTHONPATH": str(site), "SKYVIEWER_PACKAGES": str(cwd / "no-user-packages")}
    command = [str(site / "bin" / "skyviewer"), *args]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def test_installed_skyviewer_lists_and_records_the_default_from_an_empty_folder(installed, tmp_path):
    bundled = installed / "skyviewer" / "models" / "default"
    out = run_installed(installed, tmp_path, "list").stdout
    assert f"bundled ({bundled})" in out and out.split()[0] == "default", out
    run_installed(installed, tmp_path, "validate", "default")
    clip = tmp_path / "clip.mp4"
    args = ["record", "--out", clip.name, "--frames", "3", "--size", "64x32", "--quiet"]
    assert "wrote 3 frames" in run_installed(installed, tmp_path, *args).stdout
    with av.open(str(clip)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # nothing else written here
