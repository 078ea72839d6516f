"""docs/package.md lists exactly the op set the loader allows (skyviewer/runtime/opset.py)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from skyviewer.runtime.opset import UNITY_INFERENCE_ENGINE_OPS

DOC = Path(__file__).resolve().parents[1] / "docs" / "package.md"
BEGIN = "<!-- op list: generated from skyviewer/runtime/opset.py by tests/test_package_doc.py -->"
END = "<!-- end of op list -->"


def op_list_text() -> str:
    """The doc's op list as the code has it: sorted, comma separated, wrapped like the doc."""
    return textwrap.fill(", ".join(sorted(UNITY_INFERENCE_ENGINE_OPS)) + ".", width=90)


def test_doc_lists_the_allowed_op_set():
    text = DOC.read_text()
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    assert match, f"{DOC}: no op list between {BEGIN!r} and {END!r}"
    documented, allowed = set(re.findall(r"[A-Za-z]\w*", match[1])), UNITY_INFERENCE_ENGINE_OPS
    missing, extra = sorted(allowed - documented), sorted(documented - allowed)
    assert match[1] == op_list_text(), (
        f"{DOC}'s op list differs from skyviewer/runtime/opset.py (missing {missing}, not allowed {extra});"
        f" put this between the markers:\n{op_list_text()}"
    )
