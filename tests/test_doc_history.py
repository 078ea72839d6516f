"""History belongs in git: docs and code date a figure by commit, run or date, never by work session."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SESSION = re.compile(r"[Ss]ession[ -][0-9]|[Ss]essions [0-9]")


def test_no_work_sessions_in_docs_or_code():
    tracked = subprocess.run(
        ["git", "ls-files", "*.md", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    hits = [
        f"{name}:{n}: {line.strip()}"
        for name in tracked
        if (ROOT / name).is_file()
        for n, line in enumerate((ROOT / name).read_text(encoding="utf-8").splitlines(), start=1)
        if SESSION.search(line)
    ]
    assert not hits, "name the commit (git log -S), run or date instead:\n" + "\n".join(hits)
