// SkyviewerLighting: the scene lit by the sky SkyviewerSky plays (image-based lighting per model frame).
//
// The same bake as the viewer (skyviewer/render/lighting.py, docs/rendering.md "Lighting"), on the GPU
// with the viewer's own shaders (SkyLighting.generated.hlsl, generated from shaders/lighting_*.glsl):
//   per new model frame:  reduce the frame to a small map of the clean sky (the clamped sun disc
//                         capped at its glow), then 9 RGB SH coefficients of radiance and the sun's
//                         visibility behind cloud, read back asynchronously (AsyncGPUReadback);
//   every frame:          the reduced maps of the previous and the newest frame mixed by the dome's
//                         blend, baked into a cube map with a GGX mip chain laid out as Unity reads
//                         reflection cubes; the two frames' SH mixed by the same blend;
//   outputs:              RenderSettings.ambientProbe (SphericalHarmonicsL2, converted below),
//                         RenderSettings.customReflectionTexture (and an optional ReflectionProbe),
//                         the sun Light's colour and intensity after the atmosphere and the clouds.
//
// Unity 6, Built-in RP or URP (HDRP lights through its own sky system; use AmbientProbe / ReflectionCube /
// SunIrradianceLux from scripts there). Written against the documented APIs and NOT run here:
// see export/unity/README.md, "Lighting".
using System;
using Unity.Collections;
using UnityEngine;
using UnityEngine.Rendering;

namespace Skyviewer
{
    [AddComponentMenu("Skyviewer/Skyviewer Lighting")]
    [RequireComponent(typeof(SkyviewerSky))]
    public sealed class SkyviewerLighting : MonoBehaviour
    {
        // ---- Hidden/Skyviewer/Lighting (SkyviewerLighting.shader) passes, in its order.
        const int PassReduce = 0, PassGround = 1, PassSH = 2, PassCube = 3, PassPrefilter = 4, PassMix = 5;
        // lighting_sh.frag's grid and bands (tests/test_engine_lighting.py checks them against the GLSL).
        const int SHGrid = 64, SHBands = 64, SHCount = 9;
        // LightingConfig.env_size of skyviewer/render/lighting.py: the reduced map's largest side.
        const int EnvSize = 128;

        // The irradiance of SH coefficient i per unit coefficient: A_l (pi, 2 pi / 3, pi / 4) times the
        // constant of its polynomial in skyviewer's basis (sh.glsl): E(n) = sum_i L_i IrradianceFactor_i p_i(n)
        // with p = (1, y, z, x, xy, yz, 3z^2 - 1, xz, x^2 - y^2). tests/test_engine_lighting.py checks
        // them and the conversion below against skyviewer/runtime/lighting.py.
        static readonly double[] IrradianceFactor =
        {
            Math.PI * 0.282095,
            2.0 * Math.PI / 3.0 * 0.488603, 2.0 * Math.PI / 3.0 * 0.488603, 2.0 * Math.PI / 3.0 * 0.488603,
            Math.PI / 4.0 * 1.092548, Math.PI / 4.0 * 1.092548, Math.PI / 4.0 * 0.315392,
            Math.PI / 4.0 * 1.092548, Math.PI / 4.0 * 0.546274,
        };

        // Perceptual roughness of reflection-cube mip m as Unity's Standard / URP shaders read it:
        // mip = r (1.7 - 0.7 r) * UNITY_SPECCUBE_LOD_STEPS (6), inverted; mips past 6 are fully rough.
        static readonly float[] MipRoughness = { 0f, 0.10235f, 0.21514f, 0.34239f, 0.49171f, 0.68136f, 1f };

        // Clear-sky sun irradiance (lux per RGB channel, on a surface facing the sun) at elevation
        // SunElevationDeg, turbidity 3: SkySim's atmosphere (skyviewer/data/skysim/atmosphere.py
        // sun_radiance x the disc's solid angle), as skyviewer.runtime.lighting.sun_light uses it.
        // Interpolated in log; tests/test_engine_lighting.py checks the table against the reference.
        static readonly float[] SunElevationDeg =
        {
            0f, 0.25f, 0.5f, 0.75f, 1f, 1.25f, 1.5f, 1.75f, 2f, 2.25f, 2.5f, 2.75f,
            3f, 3.5f, 4f, 4.5f, 5f, 5.5f, 6f, 7f, 8f, 9f, 10f, 12f, 14f, 17f, 20f, 25f, 30f, 40f, 50f, 65f, 90f
        };
        static readonly float[] SunIrradianceRgb =
        {
            5.8836f, 0.79584f, 0.006421f,   14.999f, 2.4401f, 0.030712f,   34.112f, 6.5258f, 0.12137f,
            70.004f, 15.432f, 0.40391f,   131.28f, 32.762f, 1.1561f,   227.74f, 63.356f, 2.9046f,
            369.52f, 113.1f, 6.526f,   566.23f, 188.53f, 13.324f,   826.2f, 296.37f, 25.066f,
            1156f, 443.07f, 43.959f,   1560.2f, 634.41f, 72.581f,   2041.2f, 875.19f, 113.77f,
            2599.6f, 1169.1f, 170.48f,   3942.6f, 1924.9f, 342.12f,   5565f, 2908.1f, 608.85f,
            7429.3f, 4109.9f, 987.1f,   9492.2f, 5511.1f, 1487.1f,   11710f, 7086.5f, 2112.9f,
            14043f, 8808.2f, 2863f,   18915f, 12581f, 4711.1f,   23881f, 16632f, 6957.5f,
            28789f, 20804f, 9511f,   33545f, 24983f, 12282f,   42410f, 33080f, 18180f,
            50309f, 40586f, 24192f,   60424f, 50539f, 32864f,   68752f, 58988f, 40786f,
            79586f, 70284f, 52096f,   87672f, 78916f, 61246f,   98645f, 90883f, 74599f,
            1.0544e+05f, 98432f, 83395f,   1.1128e+05f, 1.0499e+05f, 91258f,   1.1439e+05f, 1.0851e+05f, 95566f,
        };
        static readonly Vector3 Rec709Luma = new Vector3(0.2126f, 0.7152f, 0.0722f);

        [Tooltip("Hidden/Skyviewer/Lighting (SkyviewerLighting.shader); found by name when empty.")]
        public Shader lightingShader;
        [Tooltip("Scene units per nit for the ambient, the reflections and the sun. Negative: the skybox's own scale " +
                 "(its exposure for the display output, _RadianceScale when it outputs linear radiance).")]
        public float lightingScale = -1f;
        [Tooltip("Texels per face side of the reflection cube's mip 0.")]
        public int cubeSize = 128;
        public bool driveAmbient = true;
        public bool driveReflections = true;
        [Tooltip("Optional: a ReflectionProbe set to Custom whose texture follows the sky too.")]
        public ReflectionProbe reflectionProbe;
        [Tooltip("Set the SkyviewerSky's sunLight colour and intensity (its direction is set by SkyviewerSky).")]
        public bool driveSunLight = true;

        SkyviewerSky m_Sky;
        Material m_Material;
        CommandBuffer m_Cmd;
        RenderTexture m_EnvPrev, m_EnvNext, m_EnvMix, m_Ground, m_SHBands, m_RawCube, m_Cube;
        RenderTexture[] m_Strips;   // six faces side by side, one per mip level
        int m_Block, m_FrameSerial = -1, m_Requested;
        // Radiance SH (9 x RGB, skyviewer axes, nits) and sun visibility of the previous and the newest frame.
        readonly double[,] m_SHPrev = new double[SHCount, 3], m_SHNext = new double[SHCount, 3];
        float m_VisPrev, m_VisNext;

        /// SH of the sky's radiance now (9 x RGB, nits, skyviewer axes: x east, y up, z south), blended.
        public double[,] RadianceSH { get; } = new double[SHCount, 3];
        /// The ambient probe in Unity's convention and axes (what RenderSettings.ambientProbe gets), scaled.
        public SphericalHarmonicsL2 AmbientProbe { get; private set; }
        /// The prefiltered reflection cube (mip m: perceptual roughness MipRoughness[m]), radiance x scale.
        public RenderTexture ReflectionCube => m_Cube;
        /// Sunlight on a surface facing the sun, linear RGB lux, after the atmosphere and the clouds.
        public Vector3 SunIrradianceLux { get; private set; }
        /// How much of the sun the clouds let through (1 clear, 0 hidden), blended.
        public float SunVisibility { get; private set; }

        // ------------------------------------------------------------------ lifetime

        void OnEnable()
        {
            m_Sky = GetComponent<SkyviewerSky>();
            m_Material = new Material(lightingShader != null ? lightingShader : Shader.Find("Hidden/Skyviewer/Lighting"));
            m_Cmd = new CommandBuffer { name = "Skyviewer lighting" };
            m_FrameSerial = -1;
        }

        void OnDisable()
        {
            Release();
            m_Cmd?.Release();
            if (m_Material != null) Destroy(m_Material);
        }

        void Release()
        {
            foreach (var rt in new[] { m_EnvPrev, m_EnvNext, m_EnvMix, m_Ground, m_SHBands, m_RawCube, m_Cube })
                if (rt != null) rt.Release();
            if (m_Strips != null) foreach (var rt in m_Strips) rt.Release();
            m_Strips = null;
            m_EnvPrev = null;
        }

        // The reduced maps are at most EnvSize a side: k x k frame texels each, k = ceil(N / EnvSize).
        void Allocate(int n)
        {
            Release();
            m_Block = Math.Max(1, (n + EnvSize - 1) / EnvSize);
            int env = (n + m_Block - 1) / m_Block;
            m_EnvPrev = Target(env, env, RenderTextureFormat.ARGBFloat, true);
            m_EnvNext = Target(env, env, RenderTextureFormat.ARGBFloat, true);
            m_EnvMix = Target(env, env, RenderTextureFormat.ARGBFloat, true);
            m_Ground = Target(1, 1, RenderTextureFormat.ARGBFloat, false);
            m_SHBands = Target(SHCount + 1, SHBands, RenderTextureFormat.ARGBFloat, false);
            m_SHBands.filterMode = FilterMode.Point;
            m_RawCube = Cube(cubeSize);
            m_Cube = Cube(cubeSize);
            m_Strips = new RenderTexture[m_Cube.mipmapCount];
            for (int m = 0; m < m_Strips.Length; m++)
            {
                int s = Math.Max(1, cubeSize >> m);
                m_Strips[m] = Target(6 * s, s, RenderTextureFormat.ARGBHalf, false);
            }
        }

        static RenderTexture Target(int w, int h, RenderTextureFormat format, bool mips)
        {
            var rt = new RenderTexture(w, h, 0, format, RenderTextureReadWrite.Linear)
            {
                useMipMap = mips, autoGenerateMips = false, wrapMode = TextureWrapMode.Clamp,
                filterMode = mips ? FilterMode.Trilinear : FilterMode.Bilinear,
            };
            rt.Create();
            return rt;
        }

        static RenderTexture Cube(int size)
        {
            var rt = new RenderTexture(size, size, 0, RenderTextureFormat.ARGBHalf, RenderTextureReadWrite.Linear)
            {
                dimension = TextureDimension.Cube, useMipMap = true, autoGenerateMips = false,
                filterMode = FilterMode.Trilinear, wrapMode = TextureWrapMode.Clamp,
            };
            rt.Create();
            return rt;
        }

        // ------------------------------------------------------------------ per frame

        // After SkyviewerSky.Update has stepped (and uploaded a new frame) for this frame.
        void LateUpdate()
        {
            if (m_Sky == null || m_Sky.Manifest == null || m_Sky.NewestFrame == null) return;
            if (m_EnvPrev == null || m_Strips == null) Allocate(m_Sky.Resolution);
            m_Cmd.Clear();
            if (m_Sky.FrameSerial != m_FrameSerial) NewFrame(m_Sky.FrameSerial == m_Sky.StartSerial);
            float blend = m_Sky.BlendFactor;
            Bake(blend);
            Graphics.ExecuteCommandBuffer(m_Cmd);
            Apply(blend);
        }

        // A new model frame: reduce it into the newest map (the first frame of a sky fills both), then
        // its SH and sun visibility, read back when the GPU has them.
        void NewFrame(bool start)
        {
            m_FrameSerial = m_Sky.FrameSerial;
            (m_EnvPrev, m_EnvNext) = (m_EnvNext, m_EnvPrev);
            Array.Copy(m_SHNext, m_SHPrev, m_SHNext.Length);
            m_VisPrev = m_VisNext;
            var p = Common(m_Sky.SunSky(true));
            p.SetTexture("sky", m_Sky.NewestFrame);
            p.SetInteger("block", m_Block);
            Draw(PassReduce, m_EnvNext, p);
            m_Cmd.GenerateMips(m_EnvNext);
            DrawGround(m_EnvNext);
            p = Common(m_Sky.SunSky(true));
            p.SetTexture("env", m_EnvNext);
            p.SetTexture("sky", m_Sky.NewestFrame);
            p.SetFloat("env_lod", Mathf.Max(0f, Mathf.Log(m_EnvNext.width / (SHGrid / 2f), 2f)));
            Draw(PassSH, m_SHBands, p);
            int serial = m_FrameSerial;
            m_Requested = serial;
            bool fillBoth = start;
            m_Cmd.RequestAsyncReadback(m_SHBands, 0, TextureFormat.RGBAFloat, r => OnSH(r, serial, fillBoth));
            if (start) m_Cmd.CopyTexture(m_EnvNext, m_EnvPrev);
        }

        // Bands of (SH_COUNT + 1) cells: coefficient i of band b at texel (i, b); the sun's visibility at (9, *).
        void OnSH(AsyncGPUReadbackRequest request, int serial, bool fillBoth)
        {
            if (request.hasError || serial != m_Requested) return;   // stale: a newer frame is on its way
            NativeArray<float> data = request.GetData<float>();
            Array.Clear(m_SHNext, 0, m_SHNext.Length);
            for (int band = 0; band < SHBands; band++)
                for (int i = 0; i < SHCount; i++)
                    for (int c = 0; c < 3; c++)
                        m_SHNext[i, c] += data[(band * (SHCount + 1) + i) * 4 + c];
            MatchUpIrradiance(data);
            m_VisNext = data[SHCount * 4];
            if (!fillBoth) return;
            Array.Copy(m_SHNext, m_SHPrev, m_SHNext.Length);
            m_VisPrev = m_VisNext;
        }

        // The exact irradiance facing up (cell SHCount's gba, summed over the bands) replaces the order-2
        // projection's there, the change fading out facing down (skyviewer.runtime.lighting.match_up_irradiance):
        // a dusk sky's bright horizon band otherwise lights the ground 8% too bright.
        void MatchUpIrradiance(NativeArray<float> data)
        {
            const float Y0 = 0.282095f, Y1 = 0.488603f, Y6 = 0.315392f, Y8 = 0.546274f;
            const float A0 = Mathf.PI, A1 = 2f * Mathf.PI / 3f, A2 = Mathf.PI / 4f;
            for (int c = 0; c < 3; c++)
            {
                float exact = 0f;
                for (int band = 0; band < SHBands; band++)
                    exact += data[(band * (SHCount + 1) + SHCount) * 4 + 1 + c];
                float projected = A0 * Y0 * m_SHNext[0, c] + A1 * Y1 * m_SHNext[1, c]
                    - A2 * (Y6 * m_SHNext[6, c] + Y8 * m_SHNext[8, c]);   // E(up): the SH basis at (0, 1, 0)
                float delta = exact - projected;
                m_SHNext[0, c] += delta / (2f * A0 * Y0);
                m_SHNext[1, c] += delta / (2f * A1 * Y1);
            }
        }

        // The reflection cube of the blended sky: the two reduced maps mixed (every bake step is linear
        // in the map, so this is the mix of the two frames' cubes), level 0 with box mips, then GGX levels.
        void Bake(float blend)
        {
            var p = new MaterialPropertyBlock();
            p.SetTexture("_EnvPrev", m_EnvPrev);
            p.SetTexture("_EnvNext", m_EnvNext);
            p.SetFloat("_Blend", blend);
            Draw(PassMix, m_EnvMix, p);
            m_Cmd.GenerateMips(m_EnvMix);
            DrawGround(m_EnvMix);
            p = Common(m_Sky.SunSky(true));
            p.SetTexture("env", m_EnvMix);
            p.SetInteger("face_size", cubeSize);
            p.SetFloat("env_lod", 0f);
            p.SetFloat("north_rotation", m_Sky.northRotationDeg * Mathf.Deg2Rad);
            Draw(PassCube, m_Strips[0], p);
            CopyFaces(m_Strips[0], m_RawCube, 0);
            CopyFaces(m_Strips[0], m_Cube, 0);
            m_Cmd.GenerateMips(m_RawCube);
            for (int m = 1; m < m_Strips.Length; m++)
            {
                p = new MaterialPropertyBlock();
                p.SetTexture("radiance", m_RawCube);
                p.SetInteger("face_size", m_Strips[m].height);
                p.SetFloat("roughness", MipRoughness[Math.Min(m, MipRoughness.Length - 1)]);
                p.SetFloat("texel_solid_angle", 4f * Mathf.PI / (6f * cubeSize * cubeSize));
                Draw(PassPrefilter, m_Strips[m], p);
                CopyFaces(m_Strips[m], m_Cube, m);
            }
        }

        void DrawGround(RenderTexture env)
        {
            var p = Common(m_Sky.SunSky(true));
            p.SetTexture("env", env);
            Draw(PassGround, m_Ground, p);
        }

        // The uniforms of lighting_env.glsl, as SkyviewerSky's dome has them.
        MaterialPropertyBlock Common(Vector3 sunSky)
        {
            var p = new MaterialPropertyBlock();
            var sun = m_Sky.Manifest.radiance.sun;
            p.SetVector("sun_direction", sunSky.normalized);
            p.SetFloat("sun_radius", sun.angularRadiusDeg * Mathf.Deg2Rad);
            p.SetFloat("sky_clamp_nits", m_Sky.Manifest.radiance.encoding.xMax);
            p.SetFloat("sun_fade_stops", m_Sky.sunFadeStops);
            p.SetVector("ground_albedo", (Vector4)m_Sky.groundAlbedo);
            p.SetFloat("haze_depth", m_Sky.hazeDepthDeg * Mathf.Deg2Rad);
            p.SetTexture("_SkyLightingGround", m_Ground);
            return p;
        }

        void Draw(int pass, RenderTexture target, MaterialPropertyBlock properties)
        {
            m_Cmd.SetRenderTarget(target);
            m_Cmd.DrawProcedural(Matrix4x4.identity, m_Material, pass, MeshTopology.Triangles, 3, 1, properties);
        }

        void CopyFaces(RenderTexture strip, RenderTexture cube, int mip)
        {
            int s = strip.height;
            for (int face = 0; face < 6; face++)   // +X, -X, +Y, -Y, +Z, -Z: CubemapFace order
                m_Cmd.CopyTexture(strip, 0, 0, face * s, 0, s, s, cube, face, mip, 0, 0);
        }

        // ------------------------------------------------------------------ outputs

        void Apply(float blend)
        {
            for (int i = 0; i < SHCount; i++)
                for (int c = 0; c < 3; c++)
                    RadianceSH[i, c] = (1.0 - blend) * m_SHPrev[i, c] + blend * m_SHNext[i, c];
            SunVisibility = Mathf.Lerp(m_VisPrev, m_VisNext, blend);
            float scale = Scale();
            Vector3 sunSky = Vector3.Lerp(m_Sky.SunSky(false), m_Sky.SunSky(true), blend).normalized;
            SunIrradianceLux = ClearSkySun(sunSky, m_Sky.Manifest.radiance.sun.angularRadiusDeg) * SunVisibility;
            AmbientProbe = ToUnity(RadianceSH, m_Sky.northRotationDeg, scale);
            if (driveAmbient)
            {
                RenderSettings.ambientMode = AmbientMode.Custom;
                RenderSettings.ambientProbe = AmbientProbe;
            }
            if (driveReflections)
            {
                RenderSettings.defaultReflectionMode = DefaultReflectionMode.Custom;
                RenderSettings.customReflectionTexture = m_Cube;
                RenderSettings.reflectionIntensity = scale;   // the cube holds nits
                if (reflectionProbe != null)
                {
                    reflectionProbe.mode = ReflectionProbeMode.Custom;
                    reflectionProbe.customBakedTexture = m_Cube;
                    reflectionProbe.intensity = scale;
                }
            }
            var light = m_Sky.sunLight;
            if (driveSunLight && light != null)
            {
                float lux = Vector3.Dot(SunIrradianceLux, Rec709Luma);
                Vector3 rgb = lux > 0f ? SunIrradianceLux / lux : Vector3.one;
                light.color = new Color(rgb.x, rgb.y, rgb.z, 1f);
                light.intensity = lux * scale / Mathf.PI;   // Unity's BRDFs leave out the 1/pi: the ambient's convention
                light.enabled = lux > 0f;
            }
        }

        float Scale()
        {
            if (lightingScale >= 0f) return lightingScale;
            var mat = m_Sky.skyboxMaterial;
            if (mat != null && mat.GetFloat("_OutputRadiance") > 0.5f) return mat.GetFloat("_RadianceScale");
            return 0.18f / Mathf.Max(m_Sky.keyNits, 1e-12f) * Mathf.Pow(2f, m_Sky.exposureStops);
        }

        /// Sunlight after the clear atmosphere (the table, log-interpolated) for a sun at sunSky (skyviewer
        /// axes), times the part of the disc above the horizon; the clouds are the caller's (visibility).
        public static Vector3 ClearSkySun(Vector3 sunSky, float sunRadiusDeg)
        {
            float elevation = Mathf.Asin(Mathf.Clamp(sunSky.normalized.y, -1f, 1f)) * Mathf.Rad2Deg;
            float above = Mathf.SmoothStep(0f, 1f, Mathf.InverseLerp(-sunRadiusDeg, sunRadiusDeg, elevation));
            int n = SunElevationDeg.Length, k = 0;
            float e = Mathf.Clamp(elevation, SunElevationDeg[0], SunElevationDeg[n - 1]);
            while (k < n - 2 && e > SunElevationDeg[k + 1]) k++;
            float t = Mathf.InverseLerp(SunElevationDeg[k], SunElevationDeg[k + 1], e);
            var rgb = new Vector3();
            for (int c = 0; c < 3; c++)
                rgb[c] = above * Mathf.Exp(Mathf.Lerp(Mathf.Log(SunIrradianceRgb[3 * k + c]), Mathf.Log(SunIrradianceRgb[3 * k + 3 + c]), t));
            return rgb;
        }

        /// Radiance SH (skyviewer axes, nits) -> Unity's SphericalHarmonicsL2 for RenderSettings.ambientProbe.
        /// Unity stores "normalised" coefficients: the shader evaluates c0 + c1 y + c2 z + c3 x + c4 xy + c5 yz
        /// + c6 (3z^2 - 1) + c7 xz + c8 (x^2 - y^2) in Unity world axes (unity_SHAr/Ag/Ab = (c3, c1, c2, c0 - c6),
        /// SHB = (c4, c5, 3 c6, c7), SHC = c8) and multiplies by albedo: the result is irradiance / pi.
        /// Our irradiance is a quadratic form in the normal, n^T Q n + b.n + k (IrradianceFactor); a Unity
        /// normal u is the skyviewer normal M u (mirror z, north rotation), so Unity's form is
        /// (M^T Q M, M^T b, k), read back into the nine polynomial coefficients (on the sphere
        /// x^2 + y^2 + z^2 = 1, which fixes the split of the diagonal), divided by pi and scaled.
        public static SphericalHarmonicsL2 ToUnity(double[,] sh, float northRotationDeg, float scale)
        {
            double a = northRotationDeg * Math.PI / 180.0;
            // M: Unity direction -> skyviewer direction (SkyviewerSky.UnityToSky): rotate by -a about +Y, mirror z.
            var m = new double[3, 3] { { Math.Cos(a), 0, -Math.Sin(a) }, { 0, 1, 0 }, { -Math.Sin(a), 0, -Math.Cos(a) } };
            var result = new SphericalHarmonicsL2();
            for (int c = 0; c < 3; c++)
            {
                double[] f = new double[SHCount];
                for (int i = 0; i < SHCount; i++) f[i] = sh[i, c] * IrradianceFactor[i];
                double k = f[0] - f[6];
                var b = new[] { f[3], f[1], f[2] };
                var q = new double[3, 3]
                {
                    { f[8], f[4] / 2, f[7] / 2 },
                    { f[4] / 2, -f[8], f[5] / 2 },
                    { f[7] / 2, f[5] / 2, 3 * f[6] },
                };
                var qu = new double[3, 3];   // M^T Q M
                var bu = new double[3];      // M^T b
                for (int r = 0; r < 3; r++)
                {
                    for (int s = 0; s < 3; s++)
                    {
                        bu[r] += m[s, r] * b[s];
                        for (int x = 0; x < 3; x++)
                            for (int y = 0; y < 3; y++)
                                qu[r, s] += m[x, r] * q[x, y] * m[y, s];
                    }
                }
                double t = (qu[0, 0] + qu[1, 1]) / 2;
                double c6 = (qu[2, 2] - t) / 3;
                double[] u =
                {
                    t + k + c6, bu[1], bu[2], bu[0], 2 * qu[0, 1], 2 * qu[1, 2], c6, 2 * qu[0, 2], (qu[0, 0] - qu[1, 1]) / 2,
                };
                for (int i = 0; i < SHCount; i++) result[c, i] = (float)(u[i] / Math.PI * scale);
            }
            return result;
        }
    }
}
