"""GLSL sources: the #include resolver, and every shader compiles with the reference compiler
(desktop GLSL 330, and to OpenGL SPIR-V, the route to HLSL through SPIRV-Cross)."""

import shutil
import subprocess

import pytest

from skyviewer.errors import UserError
from skyviewer.render.shaders import SHADER_DIR, resolve_includes

ENTRY_SHADERS = ["dome.vert", "dome.frag", "fullscreen.vert", "luminance.frag"]
GLSLANG = shutil.which("glslangValidator")


@pytest.mark.skipif(GLSLANG is None, reason="glslangValidator missing: apt-get install glslang-tools")
@pytest.mark.parametrize("name", ENTRY_SHADERS)
@pytest.mark.parametrize(
    "target", [[], ["-G", "--auto-map-bindings", "--auto-map-locations"]], ids=["glsl", "spirv"]
)
def test_shader_compiles_with_glslang(name, target, tmp_path):
    resolved = tmp_path / name  # the extension tells glslang the stage
    resolved.write_text(resolve_includes(SHADER_DIR / name))
    out = ["-o", str(tmp_path / "out.spv")] if target else []
    result = subprocess.run([GLSLANG, *target, *out, str(resolved)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_include_inlines_each_file_once_and_restores_line_numbers(tmp_path):
    (tmp_path / "a.glsl").write_text('#include "b.glsl"\nfloat a;\n')
    (tmp_path / "b.glsl").write_text("float b;\n")
    (tmp_path / "main.frag").write_text(
        '#version 330 core\n#include "a.glsl"\n#include "b.glsl"\nvoid main() {}\n'
    )
    source = resolve_includes(tmp_path / "main.frag")
    assert source.count("float b;") == 1
    assert source.index("float b;") < source.index("float a;")
    # The line after the last include is line 4 of main.frag.
    lines = source.splitlines()
    assert lines[lines.index("void main() {}") - 1] == "#line 4"


def test_include_errors_name_the_file(tmp_path):
    (tmp_path / "main.frag").write_text('#include "missing.glsl"\n')
    with pytest.raises(UserError, match="missing.glsl.*included from .*main.frag"):
        resolve_includes(tmp_path / "main.frag")
    (tmp_path / "x.glsl").write_text('#include "y.glsl"\n')
    (tmp_path / "y.glsl").write_text('#include "x.glsl"\n')
    with pytest.raises(UserError, match="cycle"):
        resolve_includes(tmp_path / "x.glsl")
