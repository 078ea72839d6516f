"""The Unity/Unreal samples in export/: the generated dome HLSL (real glslangValidator + spirv-cross),
its freshness against skyviewer/shaders/, its cbuffer against the std140 block dome.py packs, and the tensor
names, model names, roles and manifest keys the C# and C++ use against what the exporter writes (package
formats 2 and 3)."""

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from skyviewer.export import engine_shaders as es
from skyviewer.render.dome import block_layout

ROOT = es.REPO_ROOT
UNITY = ROOT / "export" / "unity"
UNREAL = ROOT / "export" / "unreal"
CS_SKY = UNITY / "Runtime" / "SkyviewerSky.cs"
CS_MANIFEST = UNITY / "Runtime" / "SkyviewerManifest.cs"
CPP_HEADER = UNREAL / "Source" / "SkyviewerSky" / "Public" / "SkyviewerSkyComponent.h"
CPP_SOURCE = UNREAL / "Source" / "SkyviewerSky" / "Private" / "SkyviewerSkyComponent.cpp"
USH_WRAPPER = UNREAL / "Shaders" / "SkyviewerSky.ush"

GLSLANG, SPIRV_CROSS = shutil.which("glslangValidator"), shutil.which("spirv-cross")
needs_tools = pytest.mark.skipif(
    GLSLANG is None or SPIRV_CROSS is None,
    reason="glslangValidator / spirv-cross missing: apt-get install glslang-tools spirv-cross",
)


@pytest.fixture(scope="module")
def generated():
    return es.generate_all()


# ------------------------------------------------------------------ the generated HLSL


@needs_tools
@pytest.mark.parametrize("stage", es.STAGES)
def test_dome_stage_cross_compiles_to_hlsl(stage, tmp_path):
    hlsl = es.cross_compile(stage, tmp_path)
    module = es.parse_module(hlsl)
    assert "main" in module.functions and es.STAGE_MAINS and module.members
    assert [m.name for m in module.members] == [name for name, _, _ in block_layout()]


@needs_tools
@pytest.mark.parametrize("engine", sorted(es.OUTPUTS))
def test_committed_generated_files_are_current(engine, generated):
    path = es.OUTPUTS[engine]
    assert path.exists(), f"{path} missing: run `skyviewer export-shaders`"
    committed = path.read_text(encoding="utf-8")
    recorded = re.search(r"^// sources-sha256: ([0-9a-f]{64})$", committed, re.M)
    assert recorded and recorded[1] == es.sources_hash(), (
        f"{path.relative_to(ROOT)} was generated from other shaders: run `skyviewer export-shaders`"
    )
    tools = re.search(r"^// tools: (.*)$", committed, re.M)[1]
    if tools != es.tool_versions():
        pytest.skip(f"text not compared: generated with {tools!r}, this machine has {es.tool_versions()!r}")
    assert committed == generated[engine], (
        f"{path.relative_to(ROOT)} is stale: run `skyviewer export-shaders`"
    )


def test_sources_hash_follows_every_included_file(tmp_path):
    names = {p.name for p in es.source_files()}
    assert {
        "dome.vert",
        "dome.frag",
        "uniforms.glsl",
        "sky_projection.glsl",
        "sun.glsl",
        "tonemap.glsl",
    } <= names
    files = []
    for p in es.source_files():
        copy = tmp_path / p.name
        copy.write_bytes(p.read_bytes())
        files.append(copy)
    before = es.sources_hash(files)
    files[-1].write_text(files[-1].read_text() + "\n// edit\n")
    assert es.sources_hash(files) != before


def _cbuffer(text: str) -> list[tuple[str, str, int]]:
    block = re.search(r"cbuffer DomeParams\s*\{(.*?)\};", text, re.S)[1]
    members = re.findall(r"(float3|float)\s+DomeParams_(\w+)\s*:\s*packoffset\((c\d+(?:\.[xyzw])?)\)", block)
    return [(name, t, es.Member(name, t, off).byte_offset) for t, name, off in members]


@pytest.mark.parametrize("engine", sorted(es.OUTPUTS))
def test_cbuffer_matches_the_std140_block_dome_py_packs(engine):
    text = es.OUTPUTS[engine].read_text(encoding="utf-8")
    glsl_types = {"vec3": "float3", "float": "float"}
    expected = [(name, glsl_types[t], offset) for name, t, offset in block_layout()]
    assert _cbuffer(text) == expected
    struct = re.search(r"struct SkyDomeParams\s*\{(.*?)\};", text, re.S)[1]
    assert re.findall(r"(float3|float)\s+(\w+);", struct) == [(t, n) for n, t, _ in expected]
    assert expected[-1][2] + 4 == 112  # the block size Unity's GraphicsBuffer binds


def test_unity_packs_domeparams_at_the_std140_offsets():
    consts = dict(
        (re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(), int(v))
        for k, v in re.findall(
            r"\b([A-Z]\w*) = (\d+)", re.search(r"const int (CamRight.*?);", CS_SKY.read_text(), re.S)[1]
        )
    )
    size = consts.pop("dome_params_floats")
    assert {name: 4 * consts[name] for name, _, _ in block_layout()} == {n: o for n, _, o in block_layout()}
    assert size * 4 == 112


HLSL_STUBS = {
    "UnityCG.cginc": "float4 UnityObjectToClipPos(float4 v) { return v; }\n",
}


def _glslang_hlsl(source: str, stage: str, entry: str, tmp_path: Path) -> None:
    path = tmp_path / f"{entry}.{stage}.hlsl"
    path.write_text(source)
    result = subprocess.run(
        [
            GLSLANG,
            "-D",
            "-V",
            "-S",
            stage,
            "-e",
            entry,
            "-I" + str(tmp_path),
            "-o",
            str(tmp_path / "out.spv"),
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_tools
def test_generated_hlsl_compiles_as_hlsl_with_both_entry_points(tmp_path):
    (tmp_path / "SkyDome.generated.hlsl").write_text(es.OUTPUTS["unity"].read_text())
    textures = (
        "Texture2D<float4> sky_prev; SamplerState sky_prevSampler;\n"
        "Texture2D<float4> sky_next; SamplerState sky_nextSampler;\n"
    )
    wrapper = (
        '#define SKYDOME_DECLARE_CBUFFER 1\n#include "SkyDome.generated.hlsl"\n'
        + textures
        + "float4 main(float4 pos : SV_Position, float3 dir : TEXCOORD0) : SV_Target0 {\n"
        "  SkyDomeParams p = SkyDome_ParamsFromCBuffer();\n"
        "  SkyDomeVarying v = SkyDome_Vertex(p, sky_prev, sky_prevSampler, sky_next, sky_nextSampler);\n"
        "  SkyDomeOutput o = SkyDome_Pixel(p, v, SkyDome_FromEngineAxes(dir), 1e-3, pos.xy,"
        " sky_prev, sky_prevSampler, sky_next, sky_nextSampler);\n"
        "  return o.display + float4(SkyDome_DecodeRadiance(o.radiance.rgb, 1e-4, 65504.0), 0);\n}\n"
    )
    _glslang_hlsl(wrapper, "frag", "main", tmp_path)


def _hlslprogram(shader: Path) -> str:
    return re.search(r"HLSLPROGRAM(.*?)ENDHLSL", shader.read_text(), re.S)[1]


@needs_tools
@pytest.mark.parametrize("shader", ["SkyviewerSky.shader", "SkyviewerDecode.shader"])
def test_unity_shader_programs_compile(shader, tmp_path):
    (tmp_path / "SkyDome.generated.hlsl").write_text(es.OUTPUTS["unity"].read_text())
    for name, text in HLSL_STUBS.items():
        (tmp_path / name).write_text(text)
    program = _hlslprogram(UNITY / "Shaders" / shader)
    program = re.sub(r"#pragma .*", "", program)
    _glslang_hlsl(program, "vert", "vert", tmp_path)
    _glslang_hlsl(program, "frag", "frag", tmp_path)


@needs_tools
def test_unreal_wrapper_compiles_as_a_custom_node_would_call_it(tmp_path):
    # Unreal resolves "/SkyviewerSky/..." through the module's shader directory mapping; here -I does.
    mapped = tmp_path / "SkyviewerSky"
    mapped.mkdir()
    for path in (es.OUTPUTS["unreal"], USH_WRAPPER):
        (mapped / path.name).write_text(path.read_text().replace('"/SkyviewerSky/', '"SkyviewerSky/'))
    source = (
        '#include "SkyviewerSky/SkyviewerSky.ush"\n'
        "Texture2D SkyPrev; SamplerState SkyPrevSampler; Texture2D SkyNext; SamplerState SkyNextSampler;\n"
        "float3 SunDirection, SunRadiance, GroundAlbedo; float4 DomeScalars0, DomeScalars1, DomeScalars2;\n"
        "float4 main(float4 pos : SV_Position, float3 dir : TEXCOORD0) : SV_Target0 {\n"
        "  return float4(SkyviewerSky_EmissiveAllInOne(dir, pos.xy, SunDirection, SunRadiance, GroundAlbedo,"
        " DomeScalars0, DomeScalars1, DomeScalars2,"
        " SkyPrev, SkyPrevSampler, SkyNext, SkyNextSampler), 1);\n}\n"
    )
    _glslang_hlsl(source, "frag", "main", tmp_path)


def test_unreal_material_parameters_match_the_wrapper():
    cpp, ush = CPP_SOURCE.read_text(), USH_WRAPPER.read_text()
    params = set(re.findall(r'Set(?:Vector|Texture)ParameterValue\(TEXT\("(\w+)"\)', cpp))
    allinone = re.search(r"SkyviewerSky_EmissiveAllInOne\((.*?)\)\s*\{", ush, re.S)[1]
    wrapper_inputs = {m.split()[-1] for m in allinone.split(",")} - {"ViewDirUE", "SvPosition"}
    assert params == {p for p in wrapper_inputs if not p.endswith("Sampler")}


def test_generated_headers_name_their_sources():
    for path in es.OUTPUTS.values():
        head = path.read_text().splitlines()[:6]
        assert head[0].startswith("// GENERATED FILE - DO NOT EDIT")
        assert all(f"skyviewer/shaders/{s}" in head[1] for s in es.STAGES)


# ------------------------------------------------------------------ tensor names and manifest keys


def _onnx_contract() -> dict[str, list[str]]:
    """Input/output names of start.onnx and step.onnx, read from onnx_export.py without torch."""
    tree = ast.parse((ROOT / "skyviewer" / "train" / "onnx_export.py").read_text())
    funcs = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
    dicts = [n for n in ast.walk(funcs["example_inputs"]) if isinstance(n, ast.Dict)]
    lists = [n for n in ast.walk(funcs["output_names"]) if isinstance(n, ast.List)]
    keys = [[k.value for k in d.keys] for d in dicts]
    outs = [[e.value for e in lst.elts] for lst in lists]
    return {"start_in": keys[0], "step_in": keys[1], "start_out": outs[0], "step_out": outs[1]}


def _module_values(path: Path) -> dict[str, ast.expr]:
    """Top-level assignments of a module, read without importing it."""
    tree = ast.parse(path.read_text())
    return {
        t.id: node.value
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for t in ([node.target] if isinstance(node, ast.AnnAssign) else node.targets)
        if isinstance(t, ast.Name)
    }


def _condition_names(conditions: ast.List) -> set[str]:
    return {
        v.value for d in conditions.elts for k, v in zip(d.keys, d.values, strict=True) if k.value == "name"
    }


def _package_contract() -> tuple[set[str], set[str]]:
    """Tensor names with roles and condition names in the package exporter (skyviewer/export/package.py)."""
    values = _module_values(ROOT / "skyviewer" / "export" / "package.py")
    return {k.value for k in values["ROLES"].keys}, _condition_names(values["CONDITIONS"])


def _layered_conditions() -> set[str]:
    """The conditions format 3 adds (skyviewer/export/layered.py EXTRA_CONDITIONS)."""
    return _condition_names(_module_values(ROOT / "skyviewer" / "export" / "layered.py")["EXTRA_CONDITIONS"])


def _cs_array(text: str, name: str) -> list[str]:
    return re.findall(r'"(\w+)"', re.search(rf"\b{name}\s*=\s*\{{(.*?)\}};", text, re.S)[1])


def _cpp_array(text: str, name: str) -> list[str]:
    return re.findall(r'TEXT\("(\w+)"\)', re.search(rf"\b{name}\[\]\s*=\s*\{{(.*?)\}};", text, re.S)[1])


@pytest.mark.parametrize("sample", ["unity", "unreal"])
def test_samples_use_the_exported_tensor_names(sample):
    onnx = _onnx_contract()
    text = CS_SKY.read_text() if sample == "unity" else CPP_HEADER.read_text()
    read = _cs_array if sample == "unity" else _cpp_array
    assert read(text, "StartInputs") == onnx["start_in"]
    assert read(text, "StartOutputs") == onnx["start_out"]
    assert read(text, "StepInputs") == onnx["step_in"]
    assert read(text, "StepOutputs") == onnx["step_out"]
    roles, conditions = _package_contract()
    assert set(onnx["start_in"] + onnx["start_out"] + onnx["step_in"] + onnx["step_out"]) <= roles
    source = text if sample == "unity" else CPP_SOURCE.read_text()
    used_conditions = set(re.findall(r'Condition\w+ = (?:TEXT\()?"(\w+)"', source))
    assert used_conditions == conditions | _layered_conditions()


def _sample_texts(sample: str) -> tuple[str, str]:
    """(where the contract lists are, where the loop is) of a sample."""
    if sample == "unity":
        return CS_SKY.read_text(), CS_SKY.read_text()
    return CPP_HEADER.read_text(), CPP_SOURCE.read_text()


@pytest.mark.parametrize("sample", ["unity", "unreal"])
def test_samples_use_the_format_3_tensor_names(sample):
    """The format-3 lists equal the graphs export/layered.py builds (a tiny net: the names do not
    depend on its size), and every one of those tensors has a role the package contract knows."""
    from skyviewer.export import layered
    from skyviewer.nets.sky import LayerSkyNet

    net = LayerSkyNet(grid=4, kernel_px=3, detail_px=8, detail_period_m=640.0).eval()
    graphs = {g.name: g for g in layered.graphs(net, 20.0, {"decode": 16})}
    lists, _ = _sample_texts(sample)
    read = _cs_array if sample == "unity" else _cpp_array
    for kind, prefix in (("start", "LayeredStart"), ("step", "LayeredStep"), ("decode", "Decode")):
        assert read(lists, f"{prefix}Inputs") == list(graphs[kind].inputs), kind
        assert read(lists, f"{prefix}Outputs") == graphs[kind].outputs, kind
        assert set(graphs[kind].inputs) | set(graphs[kind].outputs) <= set(layered.ROLES)


@pytest.mark.parametrize("sample", ["unity", "unreal"])
def test_samples_drive_format_3_by_the_manifest(sample):
    """Both formats accepted; the models named as the schema names them (decode_N by the pattern the
    loader reads N from); every role and both condition times handled; wind and cirrus settable."""
    from skyviewer.runtime.package import decode_resolution

    _, schema = _schema_keys()
    _, loop = _sample_texts(sample)
    versions = re.search(r"PackageFormatVersions(?:\[\])?\s*=\s*\{([\d,\s]+)\}", loop)[1]
    assert [int(v) for v in versions.split(",")] == schema["properties"]["format_version"]["enum"]
    models = schema["properties"]["models"]
    names = dict(re.findall(r'\bModel(Start|Step|Decode) = (?:TEXT\()?"(\w+)"', loop))
    assert [names["Start"], names["Step"]] == models["required"]
    (pattern,) = models["patternProperties"]
    prefix = re.search(r'\bDecoderPrefix = (?:TEXT\()?"(\w+)"', loop)[1]
    assert re.fullmatch(pattern, names["Decode"]) and re.fullmatch(pattern, f"{prefix}2048")
    assert decode_resolution({"projection": {"resolution_px": 1024}}, f"{prefix}2048") == 2048
    roles = set(re.findall(r'role == (?:TEXT\()?"(\w+)"', loop, re.I))
    assert roles == set(schema["$defs"]["tensor"]["properties"]["role"]["enum"])
    assert set(re.findall(r'\bat == (?:TEXT\()?"(\w+)"', loop, re.I)) == {"current", "next"}
    for condition in ("CirrusCover", "WindSpeed", "WindTowards"):
        setting = condition[0].lower() + condition[1:] if sample == "unity" else condition
        setting += "Deg" if condition == "WindTowards" else ""
        assert re.search(rf"SetScalar\(\w+, Condition{condition}, {setting}\)", loop), condition


def _schema_keys() -> tuple[set[str], dict]:
    schema = json.loads((ROOT / "skyviewer" / "runtime" / "sky.schema.json").read_text())
    keys: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            keys.update(node.get("properties", {}))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    return keys, schema


def test_samples_read_only_keys_the_manifest_has():
    keys, schema = _schema_keys()
    cs_keys = set(re.findall(r'\[JsonProperty\("(\w+)"\)\]', CS_MANIFEST.read_text()))
    cpp_keys = set(re.findall(r'(?:Get|TryGet)\w*Field\(TEXT\("(\w+)"\)', CPP_SOURCE.read_text()))
    assert cs_keys and cpp_keys
    assert cs_keys <= keys, f"C# reads keys the manifest does not have: {sorted(cs_keys - keys)}"
    assert cpp_keys <= keys, f"C++ reads keys the manifest does not have: {sorted(cpp_keys - keys)}"
    # every key needed to run the loop is read by both
    needed = {
        "format",
        "format_version",
        "resolution_px",
        "step_seconds",
        "eps",
        "x_max",
        "conditions",
        "default",
        "models",
        "inputs",
        "outputs",
        "recurrence",
        "initial",
        "role",
        "at",
        "shape",
        "range",
        "file",
    }
    assert needed <= cs_keys and needed <= cpp_keys
    # the enum values the samples compare with
    tensor = schema["$defs"]["tensor"]["properties"]
    for text in (CS_SKY.read_text(), CPP_SOURCE.read_text()):
        for role in re.findall(r'role == (?:TEXT\()?"(\w+)"', text, re.I) + re.findall(
            r'Role == TEXT\("(\w+)"\)', text
        ):
            assert role in tensor["role"]["enum"]
        for at in re.findall(r'At == (?:TEXT\()?"(\w+)"', text, re.I):
            assert at in tensor["at"]["enum"]
        assert '"skyviewer-sky-package"' in text


# ------------------------------------------------------------------ Unreal module dependencies

UNREAL_MODULE = UNREAL / "Source" / "SkyviewerSky"
# The module (UE 5.4 Engine/Source/Runtime/<Module>/Public) of every engine header the plugin
# includes; a new include needs its entry here, so its module is checked against Build.cs.
HEADER_MODULES = {
    "CoreMinimal.h": "Core",
    "Async/Async.h": "Core",
    "Async/Future.h": "Core",
    "Misc/FileHelper.h": "Core",
    "Misc/Paths.h": "Core",
    "Math/Float16Color.h": "Core",
    "Templates/Function.h": "Core",
    "Modules/ModuleManager.h": "Core",
    "Components/ActorComponent.h": "Engine",
    "Components/DirectionalLightComponent.h": "Engine",
    "Components/SkyLightComponent.h": "Engine",
    "Components/StaticMeshComponent.h": "Engine",
    "Engine/Texture2D.h": "Engine",
    "GameFramework/Actor.h": "Engine",
    "Materials/MaterialInstanceDynamic.h": "Engine",
    "NNE.h": "NNE",
    "NNEModelData.h": "NNE",
    "NNERuntimeCPU.h": "NNE",
    "NNERuntimeGPU.h": "NNE",
    "NNETypes.h": "NNE",
    "Dom/JsonObject.h": "Json",
    "Serialization/JsonReader.h": "Json",
    "Serialization/JsonSerializer.h": "Json",
    "Interfaces/IPluginManager.h": "Projects",
    "ShaderCore.h": "RenderCore",
}


def _build_cs_dependencies(kind: str) -> set[str]:
    """Module names in SkyviewerSky.Build.cs's {kind}DependencyModuleNames.AddRange(...)."""
    text = re.sub(r"//.*", "", (UNREAL_MODULE / "SkyviewerSky.Build.cs").read_text())
    lists = re.findall(rf"{kind}DependencyModuleNames\.AddRange\((.*?)\);", text, re.S)
    assert lists, f"no {kind}DependencyModuleNames in SkyviewerSky.Build.cs"
    return {name for block in lists for name in re.findall(r'"(\w+)"', block)}


def _included_modules(path: Path) -> dict[str, str]:
    """{include: module} of a source file; the module's own headers (and UHT's) map to SkyviewerSky."""
    own = {p.name for p in (UNREAL_MODULE / "Public").glob("*.h")}
    modules = {}
    for include in re.findall(r'^\s*#\s*include\s+"([^"]+)"', path.read_text(), re.M):
        if include in own or include.endswith(".generated.h"):
            modules[include] = "SkyviewerSky"
        else:
            assert include in HEADER_MODULES, f"{path.name} includes {include}: add it to HEADER_MODULES"
            modules[include] = HEADER_MODULES[include]
    return modules


def test_unreal_public_headers_include_only_public_dependencies():
    """A module that uses SkyviewerSky sees only its public dependencies' include paths, so a public
    header that includes a private dependency's header (NNE's) breaks every module including it."""
    public, private = _build_cs_dependencies("Public"), _build_cs_dependencies("Private")
    for header in sorted((UNREAL_MODULE / "Public").glob("*.h")):
        for include, module in _included_modules(header).items():
            assert module in public | {"SkyviewerSky"}, (
                f"public {header.name} includes {include} of module {module}, which Build.cs does not list"
                " as public: forward-declare its types and include it in the .cpp, or make it public"
            )
    for source in sorted((UNREAL_MODULE / "Private").glob("*.cpp")):
        for include, module in _included_modules(source).items():
            assert module in public | private | {"SkyviewerSky"}, (
                f"{source.name} includes {include} of module {module}, not a dependency in Build.cs"
            )


def _cs_fields(text: str) -> list[str]:
    """Names of the class-level fields (m_...) a C# file declares, in order, repeats included."""
    declarations = re.findall(
        r"^ {8}(?:readonly )?[\w<>\[\]][\w<>\[\], .]*? (m_\w+(?:, m_\w+)*)(?: = .*)?;", text, re.M
    )
    return [name for d in declarations for name in d.split(", ")]


def test_unity_fields_are_declared_once():
    """No compiler here: at least a field declared twice (a worker and a material both m_Decode) fails."""
    fields = _cs_fields(CS_SKY.read_text())
    assert {"m_Start", "m_Step", "m_Decoder", "m_Decode", "m_Frame"} <= set(fields)
    assert len(fields) == len(set(fields)), sorted(f for f in fields if fields.count(f) > 1)
