"""The engine samples' image-based lighting (issue 17, "Engines"): Unity's lighting passes generated from
the viewer's lighting GLSL (fresh, compiling as the Unity shader's passes use them, every uniform fed by
the C#), the SH conversion into Unity's SphericalHarmonicsL2 evaluated from the C#'s own expressions
against skyviewer/runtime/lighting.py, the reflection mips' roughness against Unity's mapping, and the
sun tables of both samples against the numpy sun light. Nothing here compiles C# or C++."""

import math
import re

import numpy as np
import pytest

from skyviewer.export import engine_lighting as el
from skyviewer.export import engine_shaders as es
from skyviewer.render.lighting import LightingConfig
from skyviewer.runtime.lighting import (
    REC709_LUMA,
    SUN_SOLID_ANGLE_SR,
    frame_lighting,
    sh_irradiance,
    sun_light,
)
from tests.test_engine_samples import _cs_fields, _glslang_hlsl, needs_tools

ROOT = es.REPO_ROOT
UNITY = ROOT / "export" / "unity"
UNREAL = ROOT / "export" / "unreal"
CS_LIGHTING = UNITY / "Runtime" / "SkyviewerLighting.cs"
LIGHTING_SHADER = UNITY / "Shaders" / "SkyviewerLighting.shader"
CPP_HEADER = UNREAL / "Source" / "SkyviewerSky" / "Public" / "SkyviewerSkyComponent.h"


# ------------------------------------------------------------------ the generated passes


@needs_tools
def test_committed_lighting_passes_are_current():
    committed = el.OUTPUT.read_text(encoding="utf-8")
    recorded = re.search(r"^// sources-sha256: ([0-9a-f]{64})$", committed, re.M)
    assert recorded and recorded[1] == es.sources_hash(el.source_files()), (
        f"{el.OUTPUT.relative_to(ROOT)} was generated from other shaders: run `skyviewer export-shaders`"
    )
    tools = re.search(r"^// tools: (.*)$", committed, re.M)[1]
    if tools != es.tool_versions():
        pytest.skip(f"text not compared: generated with {tools!r}, this machine has {es.tool_versions()!r}")
    assert committed == el.generate_current(), "stale: run `skyviewer export-shaders`"


def test_lighting_sources_cover_every_pass_and_include():
    names = {p.name for p in el.source_files()}
    assert {stage for stage, _ in el.PASSES.values()} | {"lighting_env.glsl", "sh.glsl", "sun.glsl"} <= names


def _passes() -> list[tuple[str, str]]:
    """(name, HLSLPROGRAM text with the shader's HLSLINCLUDE block in front) per pass, in order."""
    text = LIGHTING_SHADER.read_text()
    include = re.search(r"HLSLINCLUDE(.*?)ENDHLSL", text, re.S)[1]
    blocks = re.findall(r'Pass\b[^{]*\{\s*Name "(\w+)"\s*HLSLPROGRAM(.*?)ENDHLSL', text, re.S)
    return [(name, include + body) for name, body in blocks]


@needs_tools
@pytest.mark.parametrize("index", range(6))
def test_unity_lighting_passes_compile(index, tmp_path):
    """Each pass's vertex and fragment entry points through glslang's HLSL front end, as Unity builds them."""
    (tmp_path / el.OUTPUT.name).write_text(el.OUTPUT.read_text())
    name, program = _passes()[index]
    entries = dict(re.findall(r"#pragma (vertex|fragment) (\w+)", program))
    source = re.sub(r"#pragma .*", "", program)
    _glslang_hlsl(source, "vert", entries["vertex"], tmp_path)
    _glslang_hlsl(source, "frag", entries["fragment"], tmp_path)


def test_pass_constants_follow_the_shader():
    names = [name for name, _ in _passes()]
    consts = dict(re.findall(r"\bPass(\w+) = (\d+)", CS_LIGHTING.read_text()))
    assert names == [n for n, _ in sorted(consts.items(), key=lambda kv: int(kv[1]))]
    assert [n for n in names if n in el.PASSES] == list(el.PASSES)  # every generated pass, in order


def _declared(text: str, indent: str = "") -> set[str]:
    """Global uniforms and textures (the generated file's are at column 0, the shader's one level in)."""
    kinds = r"(?:uniform\s+\w+|Texture(?:2D|Cube)<float4>|float|int)"
    return set(re.findall(rf"^{indent}{kinds}\s+(\w+);", text, re.M))


def test_the_cs_feeds_every_uniform_of_the_passes():
    """Every property the C# sets is declared by a pass, and every uniform the passes declare is set
    (sun_limb_u excepted: declared for sun.glsl's disc, which the bake does not draw)."""
    cs = CS_LIGHTING.read_text()
    set_names = set(re.findall(r'\.Set(?:Texture|Float|Integer|Vector)\("(\w+)"', cs))
    generated = _declared(el.OUTPUT.read_text())
    shader = _declared(LIGHTING_SHADER.read_text(), r"\s+")
    assert set_names <= generated | shader, sorted(set_names - generated - shader)
    assert generated - {"sun_limb_u"} <= set_names, sorted(generated - set_names)
    assert {"_EnvPrev", "_EnvNext", "_Blend", "_SkyLightingGround"} <= set_names


def test_cs_constants_match_the_bake():
    cs = CS_LIGHTING.read_text()
    frag = (es.SHADER_DIR / "lighting_sh.frag").read_text()
    glsl = {k: int(v) for k, v in re.findall(r"const int (SH_GRID|SH_BANDS) = (\d+);", frag)}
    assert int(re.search(r"SHGrid = (\d+)", cs)[1]) == glsl["SH_GRID"]
    assert int(re.search(r"SHBands = (\d+)", cs)[1]) == glsl["SH_BANDS"]
    assert int(re.search(r"EnvSize = (\d+)", cs)[1]) == LightingConfig().env_size


def test_unity_lighting_fields_are_declared_once():
    fields = _cs_fields(CS_LIGHTING.read_text())
    assert {"m_Sky", "m_Material", "m_EnvPrev", "m_Cube"} <= set(fields)
    assert len(fields) == len(set(fields)), sorted(f for f in fields if fields.count(f) > 1)


# ------------------------------------------------------------------ SH: skyviewer -> Unity


def _cs_expr(text: str):
    """A C# constant expression or array literal as Python (Math.X -> math.X, braces -> lists)."""
    text = re.sub(r"\bMath\.(\w+)", lambda m: f"math.{m[1].lower()}", text)
    return text.replace("{", "[").replace("}", "]")


def _to_unity_from_cs(sh: np.ndarray, north_deg: float, scale: float) -> np.ndarray:
    """SkyviewerLighting.ToUnity with the C#'s own expressions (the factors, Q, b, k, M and the
    read-back) evaluated in Python; the two matrix products its loops spell out done by numpy."""
    cs = CS_LIGHTING.read_text()
    body = re.search(r"public static SphericalHarmonicsL2 ToUnity\(.*?\n        \}\n", cs, re.S)[0]
    factors = eval(_cs_expr(re.search(r"IrradianceFactor =\s*(\{.*?\});", cs, re.S)[1]), {"math": math})
    grab = lambda pattern: _cs_expr(re.search(pattern, body, re.S)[1])  # noqa: E731
    out = np.zeros((9, 3))
    a = north_deg * math.pi / 180.0
    m = np.array(eval(grab(r"var m = new double\[3, 3\] (\{.*?\});"), {"math": math, "a": a}))
    for c in range(3):
        f = np.asarray(sh[:, c] * np.asarray(factors))
        k = eval(grab(r"double k = (.*?);"), {"f": f})
        b = np.array(eval(grab(r"var b = new\[\] (\{.*?\});"), {"f": f}))
        q = np.array(eval(grab(r"var q = new double\[3, 3\]\s*(\{.*?\});"), {"f": f}))
        qu, bu = m.T @ q @ m, m.T @ b
        t = eval(grab(r"double t = (.*?);"), {"qu": qu})
        c6 = eval(grab(r"double c6 = (.*?);"), {"qu": qu, "t": t})
        u = eval(grab(r"double\[\] u =\s*(\{.*?\});"), {"qu": qu, "bu": bu, "t": t, "k": k, "c6": c6})
        out[:, c] = np.asarray(u) / math.pi * scale
    return out


def _shade_sh9(c: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Unity's ShadeSH9 with the shader constants built from SphericalHarmonicsL2 as Unity builds them
    (SHAr = (c3, c1, c2, c0 - c6), SHBr = (c4, c5, 3 c6, c7), SHC = c8), at unit normals n (..., 3)."""
    x, y, z = n[..., 0:1], n[..., 1:2], n[..., 2:3]
    sha = np.stack([c[3], c[1], c[2], c[0] - c[6]])  # (4, 3)
    shb = np.stack([c[4], c[5], 3 * c[6], c[7]])
    linear = np.concatenate([x, y, z, np.ones_like(x)], -1) @ sha
    quadratic = np.concatenate([x * y, y * z, z * z, z * x], -1) @ shb
    return linear + quadratic + (x * x - y * y) * c[8]


def _unity_to_sky(u: np.ndarray, north_deg: float) -> np.ndarray:
    """SkyviewerSky.UnityToSky: Quaternion.Euler(0, -north, 0) * u (left-handed yaw), then z mirrored."""
    a = math.radians(north_deg)
    x = math.cos(a) * u[..., 0] - math.sin(a) * u[..., 2]
    z = math.sin(a) * u[..., 0] + math.cos(a) * u[..., 2]
    return np.stack([x, u[..., 1], -z], -1)


def _test_sky(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A lopsided sky (bright in the east, a warm patch low in the south) and a sun in the south-east."""
    from skyviewer.sky.projection import fisheye_directions

    d, mask = fisheye_directions(n, np.float64)
    sky = 2000.0 * np.stack([0.6 + 0.4 * d[..., 1], 0.8 + 0.2 * d[..., 1], 1.0 + 0.0 * d[..., 1]], -1)
    sky += 9000.0 * np.clip(d[..., 0], 0, None)[..., None] ** 3 * np.array([1.0, 0.9, 0.7])
    patch = np.exp(-20 * ((d[..., 2] - 0.8) ** 2 + d[..., 1] ** 2))
    sky += 6000.0 * patch[..., None] * np.array([1.0, 0.6, 0.3])
    sun = np.array([0.5, 0.5, 0.7])
    return sky * mask[..., None], sun / np.linalg.norm(sun)


@pytest.mark.parametrize("north_deg", [0.0, 37.0, -120.0])
def test_unity_ambient_probe_gives_the_reference_irradiance(north_deg):
    """ShadeSH9 of the converted probe at a Unity normal = the reference irradiance (SH of the same sky,
    skyviewer/runtime/lighting.py) at that normal's skyviewer direction, / pi, x scale."""
    sky, sun = _test_sky()
    sh = frame_lighting(sky, sun, max_size=None).sh
    scale = 3e-4
    unity = _to_unity_from_cs(sh, north_deg, scale)
    rng = np.random.default_rng(5)
    normals = rng.normal(size=(200, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    expected = sh_irradiance(sh, _unity_to_sky(normals, north_deg)) / math.pi * scale
    got = _shade_sh9(unity, normals)
    assert np.abs(got - expected).max() <= 1e-9 * np.abs(expected).max()
    # the sky is lopsided: the east (Unity +X at north 0) gets more light than the west
    if north_deg == 0.0:
        east, west = _shade_sh9(unity, np.array([[1.0, 0, 0], [-1.0, 0, 0]]))
        assert east.sum() > 1.2 * west.sum()


def test_unity_probe_without_rotation_is_the_closed_form():
    """North 0: Unity's coefficient i is A_l K_i L_i / pi with the signs of the terms odd in z (2, 5, 7)
    flipped (docs/engines.md states it so)."""
    sky, sun = _test_sky()
    sh = frame_lighting(sky, sun, max_size=None).sh
    unity = _to_unity_from_cs(sh, 0.0, 1.0)
    a = np.array([math.pi] + [2 * math.pi / 3] * 3 + [math.pi / 4] * 5)
    k = np.array([0.282095, 0.488603, 0.488603, 0.488603, 1.092548, 1.092548, 0.315392, 1.092548, 0.546274])
    sign = np.array([1, 1, -1, 1, 1, -1, 1, -1, 1])
    np.testing.assert_allclose(unity, (sign * a * k / math.pi)[:, None] * sh, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ reflections and the sun


def test_reflection_mips_match_unitys_roughness_mapping():
    """Unity reads mip = r (1.7 - 0.7 r) * 6 for perceptual roughness r (UNITY_SPECCUBE_LOD_STEPS)."""
    cs = CS_LIGHTING.read_text()
    listed = re.search(r"MipRoughness = \{(.*?)\};", cs)[1].split(",")
    r = np.array([float(v.strip().rstrip("f")) for v in listed])
    assert len(r) == 7 and r[0] == 0 and r[-1] == 1
    np.testing.assert_allclose(r * (1.7 - 0.7 * r) * 6, np.arange(7), atol=2e-4)


def _sun_table(text: str, elevations: str, rgb: str) -> tuple[np.ndarray, np.ndarray]:
    def numbers(name):
        block = re.search(rf"\b{name}(?:\[\])?\s*=\s*\{{(.*?)\}};", text, re.S)[1]
        return np.array([float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", block)])

    e, v = numbers(elevations), numbers(rgb)
    assert v.size == 3 * e.size and np.all(np.diff(e) > 0)
    return e, v.reshape(-1, 3)


SUN_TABLES = {
    "unity": (CS_LIGHTING, "SunElevationDeg", "SunIrradianceRgb"),
    "unreal": (CPP_HEADER, "SunElevationDeg", "SunIrradianceRgb"),
}


@pytest.mark.parametrize("sample", sorted(SUN_TABLES))
def test_sun_tables_give_the_reference_sunlight(sample):
    """The samples' clear-sky sun (log-interpolated table x the disc above the horizon) against
    skyviewer.runtime.lighting.sun_light over the whole day: luminance within 2% from 0.5 deg up, and
    within 0.1% of the noon value below; the table's own rows within 0.1%."""
    path, elevations, rgb = SUN_TABLES[sample]
    e, table = _sun_table(path.read_text(), elevations, rgb)
    radius = 0.2666
    worst_rel, worst_abs = 0.0, 0.0
    noon = sun_light(np.array([0.0, 1.0, 0.0]), 1.0).illuminance_lux
    for elevation in np.linspace(-0.5, 90.0, 2000):
        d = np.array([0.0, math.sin(math.radians(elevation)), -math.cos(math.radians(elevation))])
        ref = sun_light(d, 1.0).illuminance_lux
        t = np.clip((elevation + radius) / (2 * radius), 0, 1)
        above = t * t * (3 - 2 * t)
        x = np.clip(elevation, e[0], e[-1])
        got = above * np.exp([np.interp(x, e, np.log(table[:, c])) for c in range(3)]) @ REC709_LUMA
        if elevation >= 0.5:
            worst_rel = max(worst_rel, abs(got - ref) / ref)
        else:
            worst_abs = max(worst_abs, abs(got - ref) / noon)
    assert worst_rel <= 0.02 and worst_abs <= 1e-3, (worst_rel, worst_abs)
    from skyviewer.data.skysim.atmosphere import sun_radiance

    rows = np.array([sun_radiance(x, 3.0) * SUN_SOLID_ANGLE_SR for x in e])
    np.testing.assert_allclose(table, rows, rtol=1e-3)


# ------------------------------------------------------------------ Unreal


@needs_tools
def test_unreal_custom_node_code_of_the_readme_compiles(tmp_path):
    """The README's Custom node (the sun left out of SkyLight captures) with the View members it reads
    stubbed as Unreal's View uniform buffer declares them."""
    code = re.search(r"```hlsl\n(.*?)```", (UNREAL / "README.md").read_text(), re.S)[1]
    assert "SunRadiance * (1.0 - InCapture)" in code
    mapped = tmp_path / "SkyviewerSky"
    mapped.mkdir()
    for path in (es.OUTPUTS["unreal"], UNREAL / "Shaders" / "SkyviewerSky.ush"):
        (mapped / path.name).write_text(path.read_text().replace('"/SkyviewerSky/', '"SkyviewerSky/'))
    source = (
        '#include "SkyviewerSky/SkyviewerSky.ush"\n'
        "struct FViewStub { float RealTimeReflectionCapture; float RenderingReflectionCaptureMask; };\n"
        "cbuffer ViewStub { FViewStub View; };\n"
        "struct FMaterialPixelParameters { float4 SvPosition; };\n"
        "Texture2D SkyPrev; SamplerState SkyPrevSampler; Texture2D SkyNext; SamplerState SkyNextSampler;\n"
        "float3 SunDirection, SunRadiance, GroundAlbedo; float4 DomeScalars0, DomeScalars1, DomeScalars2;\n"
        "float3 CustomNode(FMaterialPixelParameters Parameters, float3 ViewDir) {\n"
        + code
        + "}\nfloat4 main(float4 pos : SV_Position, float3 dir : TEXCOORD0) : SV_Target0 {\n"
        "  FMaterialPixelParameters Parameters; Parameters.SvPosition = pos;\n"
        "  return float4(CustomNode(Parameters, dir), 1);\n}\n"
    )
    _glslang_hlsl(source, "frag", "main", tmp_path)


def test_unreal_drives_the_sky_light_and_the_sun():
    """The SkyLight is recaptured on a new frame in that mode, and the sun light gets the tabled sunlight
    (the visibility of each new frame, blended) in lux through SetIntensity / SetLightColor."""
    cpp = (UNREAL / "Source" / "SkyviewerSky" / "Private" / "SkyviewerSkyComponent.cpp").read_text()
    header = CPP_HEADER.read_text()
    assert re.search(r"TObjectPtr<USkyLightComponent> SkyLight;", header)
    finish = re.search(r"void USkyviewerSkyComponent::FinishStep\(.*?\n\}", cpp, re.S)[0]
    assert "RecaptureOnNewFrame) SkyLight->RecaptureSky();" in finish
    assert "VisibilityNext = Result.SunVisibility;" in finish
    launch = re.search(r"void USkyviewerSkyComponent::LaunchStep\(.*?\n\}", cpp, re.S)[0]
    assert "FrameSunVisibility(Result.Texels" in launch  # on the worker thread, with the frame
    lights = re.search(r"void USkyviewerSkyComponent::UpdateLights\(.*?\n\}", cpp, re.S)[0]
    assert "SetIntensity(Illuminance * LightingScale)" in lights and "SetLightColor(" in lights
    assert "UpdateLights(SunUE);" in cpp
    # lux is the luminance the reference reads a light meter with (not FLinearColor::GetLuminance's weights)
    weights = re.search(
        r"Illuminance = ([\d.]+)f \* Lux.R \+ ([\d.]+)f \* Lux.G \+ ([\d.]+)f \* Lux.B;", lights
    )
    np.testing.assert_array_equal([float(w) for w in weights.groups()], REC709_LUMA)
    cs = re.search(r"Rec709Luma = new Vector3\(([\d.]+)f, ([\d.]+)f, ([\d.]+)f\)", CS_LIGHTING.read_text())
    np.testing.assert_array_equal([float(w) for w in cs.groups()], REC709_LUMA)
