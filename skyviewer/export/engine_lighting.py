"""The image-based lighting passes for Unity, generated from the viewer's GLSL (one bake to maintain).

The lighting bake of skyviewer/render/lighting.py runs five shader stages per model frame
(docs/rendering.md, "Lighting"). Each is compiled like the dome (glslangValidator to OpenGL SPIR-V,
spirv-cross to HLSL shader model 5.0) into one section of

    export/unity/Shaders/SkyLighting.generated.hlsl

selected by `#define SKYLIGHTING_PASS SKYLIGHTING_PASS_<NAME>` before the include, so each pass of
export/unity/Shaders/SkyviewerLighting.shader compiles one stage on its own. The rewrite is small:

* `main` becomes `SkyLighting_<Name>` (the pass's entry point), the register bindings go (Unity
  binds by name) and each `_<tex>_sampler` becomes `sampler<tex>` (Unity's sampler-per-texture
  naming, so the render textures' own filtering applies);
* in the level-0 cube pass the face texel's direction is turned from the engine's axes into
  skyviewer's (Unity samples cube maps with Unity world directions, +Z north) and by the sample's
  north rotation, before the environment is looked up. The GGX pass stays in the cube's own axes:
  its lobe is symmetric, so it needs no conversion.

The GROUND pass is lighting.vert's vertex stage (the dome's ground colour, v_ground); the SH and
level-0 cube passes read it from a 1x1 target instead of their own vertex stage, because two
spirv-cross stages cannot share one HLSL program. `skyviewer export-shaders` writes the file;
tests/test_engine_lighting.py fails when it is stale.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from skyviewer.errors import UserError
from skyviewer.export.engine_shaders import (
    GLSLANG_ARGS,
    REPO_ROOT,
    SPIRV_CROSS_ARGS,
    find_tools,
    sources_hash,
    tool_versions,
    top_level_items,
)
from skyviewer.render.shaders import SHADER_DIR

OUTPUT = REPO_ROOT / "export" / "unity" / "Shaders" / "SkyLighting.generated.hlsl"
# name -> (GLSL stage, defines); the order is the pass numbering.
PASSES: dict[str, tuple[str, dict[str, int]]] = {
    "Reduce": ("lighting_reduce.frag", {}),
    "Ground": ("lighting.vert", {}),
    "SH": ("lighting_sh.frag", {}),
    "Cube": ("lighting_cube.frag", {"PREFILTER": 0}),
    "Prefilter": ("lighting_cube.frag", {"PREFILTER": 1}),
}
AXES_PASSES = ("Cube",)
_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$', re.M)
_REGISTER = re.compile(r"\s*:\s*register\([ts]\d+\)")
_SAMPLER = re.compile(r"\b_(\w+?)_sampler\b")

AXES = """\
// Unity's cube maps are indexed by Unity world directions (+Y up, +Z north after the sample's
// north rotation, +X east): the texel's skyviewer direction (+Y up, -Z north, +X east).
uniform float north_rotation;  // radians about +Y from Unity +Z to geographic north

float3 cube_face_direction(int face, float2 st)
{
    float3 u = cube_face_direction_engine(face, st);
    float a = north_rotation;
    u = float3(cos(a) * u.x - sin(a) * u.z, u.y, sin(a) * u.x + cos(a) * u.z);
    return float3(u.x, u.y, -u.z);
}
"""


def source_files() -> list[Path]:
    """The GLSL the passes are built from: the stages and everything they include."""
    found: list[Path] = []
    pending = [SHADER_DIR / stage for stage, _ in PASSES.values()]
    while pending:
        path = pending.pop(0).resolve()
        if path not in found:
            found.append(path)
            pending += [path.parent / m for m in _INCLUDE.findall(path.read_text(encoding="utf-8"))]
    return sorted(found, key=lambda p: p.name)


def cross_compile(name: str, workdir: Path) -> str:
    """HLSL (SM 5.0) that spirv-cross writes for one pass."""
    from skyviewer.render.shaders import resolve_includes, with_defines

    stage, defines = PASSES[name]
    glslang, cross = find_tools()
    glsl = workdir / f"{name}{Path(stage).suffix}"  # the extension tells glslang the stage
    glsl.write_text(with_defines(resolve_includes(SHADER_DIR / stage), defines), encoding="utf-8")
    spv = workdir / f"{name}.spv"
    for cmd in ([glslang, *GLSLANG_ARGS, "-o", str(spv), str(glsl)], [cross, str(spv), *SPIRV_CROSS_ARGS]):
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            log = result.stdout + result.stderr
            raise UserError(f"{Path(cmd[0]).name} failed on {stage} ({name}):\n{log}")
    return result.stdout


def rewrite(name: str, hlsl: str) -> str:
    """One pass's section: entry renamed, registers dropped, samplers renamed, axes where needed."""
    items = []
    for item in top_level_items(hlsl):
        item = _SAMPLER.sub(r"sampler\1", _REGISTER.sub("", item))
        first = item.splitlines()[0]
        if first.startswith("SPIRV_Cross_Output main("):
            item = item.replace("SPIRV_Cross_Output main(", f"SPIRV_Cross_Output SkyLighting_{name}(", 1)
        if name in AXES_PASSES and first.startswith("float3 cube_face_direction("):
            items.append(item.replace("cube_face_direction(", "cube_face_direction_engine(", 1))
            items.append(AXES)
            continue
        items.append(item)
    text = items[0]
    for before, item in zip(items, items[1:], strict=False):  # one declaration a line; bodies apart
        text += ("\n" if "\n" not in before + item else "\n\n") + item
    axes_done = name not in AXES_PASSES or "cube_face_direction_engine" in text
    if f"SkyLighting_{name}(" not in text or not axes_done:
        raise UserError(f"spirv-cross output for {name}: entry point or cube_face_direction not found")
    return text


def generate(sections: dict[str, str], versions: str, digest: str) -> str:
    names = ", ".join(f"skyviewer/shaders/{p.name}" for p in source_files())
    out = [
        "// GENERATED FILE - DO NOT EDIT. Regenerate with: skyviewer export-shaders",
        f"// Generated by skyviewer/export/engine_lighting.py for Unity from {names}",
        f"// (one section per lighting pass, includes resolved) via glslangValidator {' '.join(GLSLANG_ARGS)}"
        f" and spirv-cross {' '.join(SPIRV_CROSS_ARGS)}.",
        f"// tools: {versions}",
        f"// sources-sha256: {digest}",
        "// Use: #define SKYLIGHTING_PASS SKYLIGHTING_PASS_<NAME>, then #include (SkyviewerLighting.shader).",
        "",
    ]
    out += [f"#define SKYLIGHTING_PASS_{name.upper()} {i + 1}" for i, name in enumerate(PASSES)]
    out += ["", "#ifndef SKYLIGHTING_PASS", '#error "define SKYLIGHTING_PASS before including"', "#endif"]
    for name, (stage, defines) in PASSES.items():
        variant = ", ".join(f"{k} {v}" for k, v in defines.items())
        out += ["", f"#if SKYLIGHTING_PASS == SKYLIGHTING_PASS_{name.upper()}"]
        out += [f"// ---- {stage}{f' ({variant})' if variant else ''}: entry point SkyLighting_{name}", ""]
        out += [sections[name], "", f"#endif // SKYLIGHTING_PASS_{name.upper()}"]
    return "\n".join(out) + "\n"


def generate_current() -> str:
    """The generated text from the current skyviewer/shaders/ (runs the real tools)."""
    with tempfile.TemporaryDirectory(prefix="skyviewer-lighting-") as tmp:
        sections = {name: rewrite(name, cross_compile(name, Path(tmp))) for name in PASSES}
    return generate(sections, tool_versions(), sources_hash(source_files()))
