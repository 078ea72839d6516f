"""The sky dome for Unity and Unreal, generated from the viewer's GLSL (one dome to maintain).

skyviewer/shaders/dome.vert and dome.frag (includes resolved) -> glslangValidator (OpenGL SPIR-V) ->
spirv-cross (HLSL, shader model 5.0) -> a small, strict rewrite into one engine-neutral HLSL
include, written twice with an engine header:

    export/unity/Shaders/SkyDome.generated.hlsl
    export/unreal/Shaders/SkyDome.generated.ush

The rewrite keeps every function body as SPIRV-Cross wrote it and only renames and re-plumbs:

* every function, stage variable and DomeParams member gets a `SkyDome_` prefix (an engine's
  shader library defines names such as max3 of its own);
* the DomeParams block becomes `struct SkyDomeParams` (std140 member order) copied into
  `static` globals by `SkyDome_SetParams()`, and, under `#if SKYDOME_DECLARE_CBUFFER`, the
  `cbuffer DomeParams` with the std140 packoffsets, for hosts that bind one buffer (Unity);
* the two sky textures become function parameters (`sky_prev, sky_prevSampler, sky_next,
  sky_nextSampler`) of every function that reads them, because an Unreal material can only pass
  textures into a Custom node as arguments;
* the stage `main`s become `SkyDome_VertexStage()` / `SkyDome_FragmentStage()`, called by the
  engine entry points `SkyDome_Vertex()` (per-draw constants read from the two sky frames) and
  `SkyDome_Pixel()` (one view ray -> display value and linear radiance).

`skyviewer export-shaders` regenerates the files (and Unity's lighting passes,
skyviewer/export/engine_lighting.py); tests/test_engine_samples.py fails when the committed files are
out of date with skyviewer/shaders/.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from skyviewer.errors import UserError
from skyviewer.render.shaders import SHADER_DIR

REPO_ROOT = Path(__file__).resolve().parents[2]
STAGES = ("dome.vert", "dome.frag")
OUTPUTS = {
    "unity": REPO_ROOT / "export" / "unity" / "Shaders" / "SkyDome.generated.hlsl",
    "unreal": REPO_ROOT / "export" / "unreal" / "Shaders" / "SkyDome.generated.ush",
}
GLSLANG_ARGS = ("-G", "--auto-map-bindings", "--auto-map-locations")
SPIRV_CROSS_ARGS = ("--hlsl", "--shader-model", "50")
PREFIX = "SkyDome_"
TEXTURES = ("sky_prev", "sky_next")
TEXTURE_PARAMS = ", ".join(f"Texture2D<float4> {t}, SamplerState {t}Sampler" for t in TEXTURES)
TEXTURE_ARGS = ", ".join(f"{t}, {t}Sampler" for t in TEXTURES)
STAGE_MAINS = {"vert_main": "VertexStage", "frag_main": "FragmentStage"}

_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$', re.M)
_FUNCTION = re.compile(r"^(?P<ret>[A-Za-z_][\w<>]*)\s+(?P<name>\w+)\((?P<params>.*)\)$")
_MEMBER = re.compile(
    r"^\s*(?P<type>float3|float)\s+_(?P<id>\d+)_(?P<name>\w+)\s*:\s*packoffset\((?P<off>c\d+(?:\.[xyzw])?)\);"
)
_STATIC = re.compile(r"^static\s+(?P<type>\w+)\s+(?P<name>\w+);$")


# --------------------------------------------------------------------------- sources and tools


def source_files() -> list[Path]:
    """The GLSL files the dome is built from: the two stages and everything they include."""
    found: list[Path] = []
    pending = [SHADER_DIR / s for s in STAGES]
    while pending:
        path = pending.pop(0).resolve()
        if path in found:
            continue
        found.append(path)
        pending += [path.parent / m for m in _INCLUDE.findall(path.read_text(encoding="utf-8"))]
    return sorted(found, key=lambda p: p.name)


def sources_hash(files: list[Path] | None = None) -> str:
    """sha256 over the names and bytes of the dome's GLSL sources (what the header records)."""
    digest = hashlib.sha256()
    for path in files or source_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def find_tools() -> tuple[str, str]:
    glslang, cross = shutil.which("glslangValidator"), shutil.which("spirv-cross")
    missing = [n for n, p in (("glslangValidator (glslang-tools)", glslang), ("spirv-cross", cross)) if not p]
    if missing:
        raise UserError(f"missing {' and '.join(missing)}: apt-get install glslang-tools spirv-cross")
    return glslang, cross


def tool_versions() -> str:
    """One line naming the tool versions (the generated text can change between versions)."""
    glslang, cross = find_tools()
    g = subprocess.run([glslang, "--version"], capture_output=True, text=True).stdout.splitlines()
    c = subprocess.run([cross, "--revision"], capture_output=True, text=True)
    cross_rev = (c.stdout or c.stderr).strip().splitlines()
    return f"{g[0].strip() if g else 'glslang ?'}; spirv-cross {cross_rev[0] if cross_rev else '?'}"


def cross_compile(stage: str, workdir: Path) -> str:
    """HLSL (SM 5.0) that spirv-cross writes for one resolved stage of the dome."""
    from skyviewer.render.shaders import resolve_includes  # moderngl import only when generating

    glslang, cross = find_tools()
    glsl = workdir / stage  # the extension tells glslang the stage
    glsl.write_text(resolve_includes(SHADER_DIR / stage), encoding="utf-8")
    spv = workdir / f"{stage}.spv"
    for cmd in ([glslang, *GLSLANG_ARGS, "-o", str(spv), str(glsl)], [cross, str(spv), *SPIRV_CROSS_ARGS]):
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise UserError(f"{Path(cmd[0]).name} failed on {stage}:\n{result.stdout}{result.stderr}")
    return result.stdout


# --------------------------------------------------------------------------- HLSL parsing


@dataclass
class Member:
    name: str
    type: str
    packoffset: str

    @property
    def byte_offset(self) -> int:
        """Byte offset of a packoffset(cN.x): 16 bytes per register, 4 per component."""
        reg, _, comp = self.packoffset[1:].partition(".")
        return 16 * int(reg) + 4 * "xyzw".index(comp or "x")


@dataclass
class Module:
    """The parts of one spirv-cross HLSL file the rewrite uses."""

    members: list[Member]
    block_id: str
    statics: dict[str, str]  # name -> type
    functions: dict[str, tuple[str, str, str]]  # name -> (return type, params, body)


def top_level_items(hlsl: str) -> list[str]:
    """Top-level declarations: brace-balanced groups of lines, blank lines between dropped."""
    items, current, depth = [], [], 0
    for line in hlsl.splitlines():
        if not current and not line.strip():
            continue
        current.append(line)
        depth += line.count("{") - line.count("}")
        if depth == 0 and (line.rstrip().endswith(("}", "};", ";"))):
            items.append("\n".join(current))
            current = []
    if current:
        raise UserError("spirv-cross output: unbalanced braces at the end")
    return items


def parse_module(hlsl: str) -> Module:
    members: list[Member] = []
    block_ids: set[str] = set()
    statics: dict[str, str] = {}
    functions: dict[str, tuple[str, str, str]] = {}
    for item in top_level_items(hlsl):
        first = item.splitlines()[0].strip()
        if first.startswith("cbuffer "):
            if not first.startswith("cbuffer DomeParams"):
                raise UserError(f"spirv-cross output: unexpected {first!r}")
            for line in item.splitlines()[2:-1]:
                m = _MEMBER.match(line)
                if m is None:
                    raise UserError(f"spirv-cross output: unexpected DomeParams member {line.strip()!r}")
                block_ids.add(m["id"])
                members.append(Member(m["name"], m["type"], m["off"]))
        elif first.startswith(("Texture2D<float4> ", "SamplerState ")):
            name = first.split()[1]
            if name not in (*TEXTURES, *(f"_{t}_sampler" for t in TEXTURES)):
                raise UserError(f"spirv-cross output: unexpected resource {first!r}")
        elif first.startswith("static "):
            m = _STATIC.match(first)
            if m is None:
                raise UserError(f"spirv-cross output: unexpected static {first!r}")
            statics[m["name"]] = m["type"]
        elif first.startswith("struct SPIRV_Cross_"):
            continue
        else:
            m = _FUNCTION.match(first)
            lines = item.splitlines()
            if m is None or lines[1] != "{" or lines[-1] != "}":
                raise UserError(f"spirv-cross output: cannot parse {first!r}")
            functions[m["name"]] = (m["ret"], m["params"], "\n".join(lines[1:]))
    if len(block_ids) != 1 or not members:
        raise UserError("spirv-cross output: no DomeParams cbuffer")
    return Module(members, block_ids.pop(), statics, functions)


def _normalise_ids(text: str) -> str:
    return re.sub(r"\b_\d+", "_N", text)


# --------------------------------------------------------------------------- the rewrite


def merge(vert: Module, frag: Module) -> tuple[list[Member], dict[str, str], dict[str, tuple[str, str, str]]]:
    """One set of members, statics and functions (vertex order first, shared ones checked equal)."""
    if [(m.name, m.type, m.packoffset) for m in vert.members] != [
        (m.name, m.type, m.packoffset) for m in frag.members
    ]:
        raise UserError("dome.vert and dome.frag disagree on the DomeParams layout")
    statics = {**vert.statics, **frag.statics}
    functions: dict[str, tuple[str, str, str]] = {}
    for module in (vert, frag):
        for name, (ret, params, body) in module.functions.items():
            if name == "main":
                continue
            if name in functions:
                if _normalise_ids(functions[name][2]) != _normalise_ids(body):
                    raise UserError(f"dome.vert and dome.frag compile {name}() differently")
                continue
            functions[name] = (ret, params, _rename_block(body, module.block_id))
    return vert.members, statics, functions


def _rename_block(text: str, block_id: str) -> str:
    return re.sub(rf"\b_{block_id}_(\w+)", rf"{PREFIX}\1", text)


def _needs_textures(functions: dict[str, tuple[str, str, str]]) -> set[str]:
    """Functions that read the sky textures, directly or through a call."""
    needs = {n for n, (_, _, body) in functions.items() if re.search(rf"\b({'|'.join(TEXTURES)})\b", body)}
    while True:
        more = {
            n
            for n, (_, _, body) in functions.items()
            if n not in needs and any(re.search(rf"\b{c}\(", body) for c in needs)
        }
        if not more:
            return needs
        needs |= more


def rewrite(vert_hlsl: str, frag_hlsl: str) -> tuple[list[Member], str]:
    """The engine-neutral body of the generated include (without header and entry points)."""
    members, statics, functions = merge(parse_module(vert_hlsl), parse_module(frag_hlsl))
    textured = _needs_textures(functions)
    renames = {name: PREFIX + STAGE_MAINS.get(name, name) for name in functions}
    renames.update({name: PREFIX + name for name in statics})
    renames.update({f"_{t}_sampler": f"{t}Sampler" for t in TEXTURES})
    token = re.compile(r"\b(" + "|".join(sorted(map(re.escape, renames), key=len, reverse=True)) + r")\b")

    def rename(text: str) -> str:
        return token.sub(lambda m: renames[m[1]], text)

    def plumb(body: str) -> str:
        # the textures into every call of a function that reads them, then the renames
        for name in textured:
            call = re.compile(rf"\b{name}\((\s*\))?")
            body = call.sub(lambda m, n=name: f"{n}({TEXTURE_ARGS}{')' if m[1] else ', '}", body)
        return rename(body)

    out = ["// ---- DomeParams (skyviewer/shaders/uniforms.glsl), member for member"]
    out += ["struct SkyDomeParams", "{"]
    out += [f"    {m.type} {m.name};" for m in members]
    out += ["};", "", "#if SKYDOME_DECLARE_CBUFFER"]
    out += ["// The std140 block as one constant buffer (112 bytes)."]
    out += ["cbuffer DomeParams", "{"]
    out += [f"    {m.type} DomeParams_{m.name} : packoffset({m.packoffset});" for m in members]
    out += ["};", "", "SkyDomeParams SkyDome_ParamsFromCBuffer()", "{", "    SkyDomeParams p;"]
    out += [f"    p.{m.name} = DomeParams_{m.name};" for m in members]
    out += ["    return p;", "}", "#endif", ""]
    out += ["// ---- the block's values and the stage variables, as private globals"]
    out += [f"static {m.type} {PREFIX}{m.name};" for m in members]
    out += [f"static {t} {PREFIX}{n};" for n, t in statics.items()]
    out += ["", "void SkyDome_SetParams(SkyDomeParams p)", "{"]
    out += [f"    {PREFIX}{m.name} = p.{m.name};" for m in members]
    out += ["}", "", "// ---- dome.vert and dome.frag as SPIRV-Cross wrote them", ""]
    for name, (ret, params, body) in functions.items():
        if name in textured:
            params = TEXTURE_PARAMS + (f", {params}" if params.strip() else "")
        out += [rename(f"{ret} {name}({params})"), plumb(body), ""]
    return members, "\n".join(out)


ENTRY_POINTS = """\
// ---- engine entry points (written by the generator, not by SPIRV-Cross)

// Skyviewer world axes: +Y up, -Z north, +X east (docs/conventions.md). {axes_note}
float3 SkyDome_FromEngineAxes(float3 d)
{{
    return {axes_expr};
}}

// Network encoding -> radiance (nits): the exact inverse of radiance.ENCODING with the
// manifest's eps and x_max (-1 -> 0, +1 -> x_max). Decode before filtering: the dome filters nits.
float3 SkyDome_DecodeRadiance(float3 e, float eps, float x_max)
{{
    float lo = log2(eps);
    float stops = log2(x_max + eps) - lo;
    return max(exp2((clamp(e, -1.0f, 1.0f) + 1.0f) * 0.5f * stops + lo) - eps, 0.0f);
}}

// What dome.vert computes once per draw from the two sky frames (constant over the dome).
struct SkyDomeVarying
{{
    float3 ground;          // radiance of the ground far below the horizon (nits)
    float3 sun_glow;        // sky radiance around the sun, replaces the clamped disc
    float sun_visibility;   // 1 = disc unoccluded, 0 = behind cloud
}};

// Run per vertex (or once per frame into a tiny render target); the result is the same for
// every vertex. Textures hold radiance in nits (decoded), canonical fisheye, row 0 = north at v = 0.
SkyDomeVarying SkyDome_Vertex(SkyDomeParams p, {texture_params})
{{
    SkyDome_SetParams(p);
    SkyDome_gl_VertexID = 0;
    SkyDome_VertexStage({texture_args});
    SkyDomeVarying v;
    v.ground = SkyDome_v_ground;
    v.sun_glow = SkyDome_v_sun_glow;
    v.sun_visibility = SkyDome_v_sun_visibility;
    return v;
}}

struct SkyDomeOutput
{{
    float4 display;   // dome.frag out_display: exposure, ACES, sRGB-encoded, dithered (an LDR target)
    float4 radiance;  // dome.frag out_radiance: linear radiance in nits, sun included (an HDR pipeline)
}};

// One pixel of the dome. ray: unit view direction in skyviewer world axes (SkyDome_FromEngineAxes);
// pixel_angle: the pixel's angular size (rad) along the ray; pixel: its integer position (dither).
// dome.frag builds the ray from cam_forward + ndc.x * cam_right + ndc.y * cam_up and the footprint
// as pixel_angle * dot(ray, cam_forward): with the basis (ray, 0, 0) and ndc = 0 it runs unchanged.
SkyDomeOutput SkyDome_Pixel(SkyDomeParams p, SkyDomeVarying v, float3 ray, float pixel_angle, float2 pixel,
                            {texture_params})
{{
    SkyDome_SetParams(p);
    SkyDome_cam_forward = normalize(ray);
    SkyDome_cam_right = 0.0f.xxx;
    SkyDome_cam_up = 0.0f.xxx;
    SkyDome_pixel_angle = pixel_angle;
    SkyDome_v_ndc = 0.0f.xx;
    SkyDome_v_ground = v.ground;
    SkyDome_v_sun_glow = v.sun_glow;
    SkyDome_v_sun_visibility = v.sun_visibility;
    SkyDome_gl_FragCoord = float4(floor(pixel) + 0.5f, 0.5f, 1.0f);
    SkyDome_FragmentStage({texture_args});
    SkyDomeOutput o;
    o.display = SkyDome_out_display;
    o.radiance = SkyDome_out_radiance;
    return o;
}}
"""

ENGINES = {
    "unity": {
        "guard": "SKYVIEWER_SKYDOME_GENERATED_HLSL",
        "axes_note": "Unity: +Y up, +Z north, +X east\n"
        "// (left-handed; mirroring z turns one into the other, no physical mirror).",
        "axes_expr": "float3(d.x, d.y, -d.z)",
        "usage": "#define SKYDOME_DECLARE_CBUFFER 1 (optional), then #include from SkyviewerSky.shader",
    },
    "unreal": {
        "guard": "SKYVIEWER_SKYDOME_GENERATED_USH",
        "axes_note": "Unreal: +Z up, +X north, +Y east\n// (left-handed, centimetres; directions only here).",
        "axes_expr": "float3(d.y, d.z, -d.x)",
        "usage": "included by /SkyviewerSky/SkyviewerSky.ush, which a material Custom node includes",
    },
}


def generate(engine: str, vert_hlsl: str, frag_hlsl: str, versions: str, digest: str) -> str:
    """The full text of one engine's generated include."""
    spec = ENGINES[engine]
    _, body = rewrite(vert_hlsl, frag_hlsl)
    names = ", ".join(f"skyviewer/shaders/{p.name}" for p in source_files())
    header = [
        "// GENERATED FILE - DO NOT EDIT. Regenerate with: skyviewer export-shaders",
        f"// Generated by skyviewer/export/engine_shaders.py for {engine.capitalize()} from {names}",
        f"// ({' + '.join(STAGES)}, includes resolved) via glslangValidator {' '.join(GLSLANG_ARGS)}"
        f" and spirv-cross {' '.join(SPIRV_CROSS_ARGS)}.",
        f"// tools: {versions}",
        f"// sources-sha256: {digest}",
        f"// Use: {spec['usage']}.",
        "",
        f"#ifndef {spec['guard']}",
        f"#define {spec['guard']}",
        "",
        "#ifndef SKYDOME_DECLARE_CBUFFER",
        "#define SKYDOME_DECLARE_CBUFFER 0",
        "#endif",
        "",
        "",
    ]
    entry = ENTRY_POINTS.format(
        texture_params=TEXTURE_PARAMS,
        texture_args=TEXTURE_ARGS,
        axes_note=spec["axes_note"],
        axes_expr=spec["axes_expr"],
    )
    return "\n".join(header) + body + "\n" + entry + f"\n#endif // {spec['guard']}\n"


def generate_all() -> dict[str, str]:
    """engine -> generated text, from the current skyviewer/shaders/ (runs the real tools)."""
    with tempfile.TemporaryDirectory(prefix="skyviewer-shaders-") as tmp:
        vert, frag = (cross_compile(stage, Path(tmp)) for stage in STAGES)
    versions, digest = tool_versions(), sources_hash()
    return {engine: generate(engine, vert, frag, versions, digest) for engine in ENGINES}


def generated_files() -> dict[Path, str]:
    """Every generated engine file -> its text from the current skyviewer/shaders/: the dome for
    both engines and Unity's lighting passes (skyviewer/export/engine_lighting.py)."""
    from skyviewer.export import engine_lighting

    files = {OUTPUTS[engine]: text for engine, text in generate_all().items()}
    files[engine_lighting.OUTPUT] = engine_lighting.generate_current()
    return files


def write_all() -> list[Path]:
    written = []
    for path, text in generated_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


# --------------------------------------------------------------------------- command


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-shaders",
        help="regenerate the Unity/Unreal dome HLSL and Unity's lighting passes from skyviewer/shaders/"
        " (glslangValidator + spirv-cross)",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--check", action="store_true", help="only report whether the committed files are current"
    )
    parser.set_defaults(run=run_command)


def run_command(args) -> int:
    if args.check:
        current = generated_files()
        stale = [p for p, text in current.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"out of date: {path.relative_to(REPO_ROOT)}")
        return 1 if stale else 0
    for path in write_all():
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0
