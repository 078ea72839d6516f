"""Run a Python snippet that opens a real window: on the display if there is one, else under Xvfb."""

import os
import shutil
import subprocess
import sys

import pytest


def run_windowed(script: str, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    """Run `python -c script args...` with a display (xvfb-run -a when DISPLAY is unset); skip
    the test if neither exists. Fails the test with the child's stderr if it exits non-zero."""
    command = [sys.executable, "-c", script, *args]
    if not os.environ.get("DISPLAY"):
        if shutil.which("xvfb-run") is None:
            pytest.skip("needs a display or xvfb-run")
        command = ["xvfb-run", "-a", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    assert result.returncode == 0, result.stderr
    return result
