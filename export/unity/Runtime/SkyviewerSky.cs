// SkyviewerSky: plays a skyviewer sky package (sky.json + start.onnx + step.onnx) as the skybox.
//
// Unity 6 (6000.0+), Inference Engine (com.unity.ai.inference) 2.2+, Newtonsoft JSON
// (com.unity.nuget.newtonsoft-json). Written against the documented APIs and NOT run here:
// see export/unity/README.md for what to check first.
//
// Loop (the same as skyviewer/runtime/model.py, driven by the manifest's tensor roles):
//   reset:  start.onnx(z ~ N(0,1), conditions) -> sky, field; recurrent inputs = their "initial"
//   tick:   step.onnx(field, motion, noise ~ N(0,1), conditions next) -> next_frame, next_field, next_motion
//   every frame: blend = sky time since the last step / step_seconds; the skybox shader mixes
//   the previous and the newest frame (decoded on the GPU) and draws the analytic sun.
using System;
using System.Collections.Generic;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;
using Unity.InferenceEngine;
using UnityEngine;

namespace Skyviewer
{
    public enum SunSource
    {
        ManifestDefault,   // the package's default sun_dir, fixed
        SolarPath,         // a simple solar path at latitudeDeg on dayOfYear, clock from startHour
        DirectionalLight,  // follow sunLight (points from the sun: the sun is at -forward)
    }

    [AddComponentMenu("Skyviewer/Skyviewer Sky")]
    public sealed class SkyviewerSky : MonoBehaviour
    {
        // ---- the package contract (skyviewer/train/onnx_export.py, skyviewer/export/package.py);
        // tests/test_engine_samples.py checks these lists against the exporter.
        public static readonly string[] StartInputs = { "z", "sun_dir", "cloud_cover" };
        public static readonly string[] StartOutputs = { "sky", "field" };
        public static readonly string[] StepInputs = { "field", "motion", "noise", "sun_dir_next", "cloud_cover" };
        public static readonly string[] StepOutputs = { "next_frame", "next_field", "next_motion" };
        public const string PackageFormat = "skyviewer-sky-package";
        public const int PackageFormatVersion = 2;
        public const string ConditionSunDir = "sun_dir";
        public const string ConditionCloudCover = "cloud_cover";
        public const string InitialFromStart = "start:";

        // ---- DomeParams (skyviewer/shaders/uniforms.glsl) as float indices into the std140 block (byte offset / 4);
        // tests/test_engine_samples.py checks them against the GLSL and skyviewer/render/dome.py.
        const int CamRight = 0, ExposureScale = 3, CamUp = 4, Blend = 7, CamForward = 8, PixelAngle = 11,
            SunDirection = 12, SunRadius = 15, SunRadiance = 16, SunLimbU = 19, GroundAlbedo = 20,
            HazeDepth = 23, DitherLsb = 24, FrameIndex = 25, SunFadeStops = 26, SkyClampNits = 27,
            DomeParamsFloats = 28;

        [Header("Sky package (the exported folder, copied under Assets/)")]
        [Tooltip("sky.json (imported as a TextAsset)")] public TextAsset manifestJson;
        [Tooltip("start.onnx (imported as a ModelAsset)")] public ModelAsset startModel;
        [Tooltip("step.onnx (imported as a ModelAsset)")] public ModelAsset stepModel;
        public BackendType backend = BackendType.GPUCompute;
        public int seed = 1;

        [Header("Time")]
        [Tooltip("Sky seconds per real second (1 = real time). One model step covers step_seconds of sky time.")]
        public float timeMultiplier = 60f;

        [Header("Conditions")]
        public SunSource sunSource = SunSource.SolarPath;
        [Range(-90f, 90f)] public float latitudeDeg = 46.8f;
        [Range(1, 366)] public int dayOfYear = 172;
        [Range(0f, 24f)] public float startHour = 9f;   // local solar time
        public Light sunLight;                          // driven by SolarPath/ManifestDefault, read by DirectionalLight
        [Tooltip("Fraction of the sky covered by cloud; negative = the manifest's default.")]
        public float cloudCover = -1f;
        [Tooltip("Degrees about +Y from Unity +Z to geographic north (0: +Z is north, +X east).")]
        public float northRotationDeg = 0f;

        [Header("Display (DomeSettings of the viewer)")]
        public Material skyboxMaterial;                 // a material using Skyviewer/Sky (SkyviewerSky.shader)
        public Shader decodeShader;                     // Hidden/Skyviewer/Decode (SkyviewerDecode.shader)
        public bool assignSkybox = true;
        [Tooltip("Luminance (nits) that lands on middle grey; the viewer meters it, here it is set by hand.")]
        public float keyNits = 4000f;
        public float exposureStops = 1.5f;              // tonemap.SKY_EXPOSURE_BIAS_STOPS
        public Color groundAlbedo = new Color(0.3f, 0.3f, 0.3f, 1f);
        public float hazeDepthDeg = 8f;
        public float sunFadeStops = 1f;
        public bool dither = true;

        SkyManifest m_Manifest;
        Worker m_Start, m_Step;
        int m_N;
        readonly Dictionary<string, float[]> m_Now = new Dictionary<string, float[]>();
        readonly Dictionary<string, float[]> m_Next = new Dictionary<string, float[]>();
        readonly Dictionary<string, Tensor> m_Recurrent = new Dictionary<string, Tensor>();
        readonly Dictionary<string, Tensor> m_Spare = new Dictionary<string, Tensor>();
        Tensor m_Frame;   // the newest frame: the start's, then each step's frame output
        readonly List<Tensor> m_HostInputs = new List<Tensor>();
        System.Random m_Random;
        RenderTexture m_Encoded, m_Prev, m_Next0;
        Material m_Decode;
        GraphicsBuffer m_DomeParams;
        readonly float[] m_Params = new float[DomeParamsFloats];
        double m_SkySeconds;      // sky time of the newest frame (m_Next0), since the start
        double m_SinceStep;       // sky seconds since the newest frame was produced
        int m_FrameIndex;

        public SkyManifest Manifest => m_Manifest;
        public float StepSeconds => m_Manifest.stepSeconds;
        public float BlendFactor => (float)Math.Min(m_SinceStep / m_Manifest.stepSeconds, 1.0);
        public Texture PreviousFrame => m_Prev;   // decoded radiance (nits), canonical fisheye
        public Texture NewestFrame => m_Next0;

        // ------------------------------------------------------------------ lifetime

        void OnEnable()
        {
            m_Manifest = LoadManifest(manifestJson);
            m_N = m_Manifest.projection.resolutionPx;
            m_Start = new Worker(ModelLoader.Load(startModel), backend);
            m_Step = new Worker(ModelLoader.Load(stepModel), backend);
            m_Encoded = MakeTexture(RenderTextureFormat.ARGBFloat, "skyviewer encoded");
            m_Prev = MakeTexture(RenderTextureFormat.ARGBHalf, "skyviewer prev");
            m_Next0 = MakeTexture(RenderTextureFormat.ARGBHalf, "skyviewer next");
            m_Decode = new Material(decodeShader != null ? decodeShader : Shader.Find("Hidden/Skyviewer/Decode"));
            m_DomeParams = new GraphicsBuffer(GraphicsBuffer.Target.Constant, DomeParamsFloats, sizeof(float));
            if (assignSkybox && skyboxMaterial != null) RenderSettings.skybox = skyboxMaterial;
            ResetSky(seed);
        }

        void OnDisable()
        {
            DisposeTensors();
            m_Start?.Dispose();
            m_Step?.Dispose();
            m_DomeParams?.Release();
            foreach (var rt in new[] { m_Encoded, m_Prev, m_Next0 }) if (rt != null) rt.Release();
            if (m_Decode != null) Destroy(m_Decode);
        }

        static SkyManifest LoadManifest(TextAsset json)
        {
            if (json == null) throw new ArgumentException("SkyviewerSky: assign the package's sky.json");
            var m = JsonConvert.DeserializeObject<SkyManifest>(json.text);
            if (m == null || m.format != PackageFormat || m.formatVersion != PackageFormatVersion)
                throw new ArgumentException($"SkyviewerSky: {json.name} is not a {PackageFormat} v{PackageFormatVersion} manifest");
            Require(m.models.start, StartInputs, StartOutputs, "start");
            Require(m.models.step, StepInputs, StepOutputs, "step");
            return m;
        }

        static void Require(SkyModelSpec spec, string[] inputs, string[] outputs, string what)
        {
            var have = new HashSet<string>();
            foreach (var t in spec.inputs) have.Add(t.name);
            foreach (var t in spec.outputs) have.Add(t.name);
            foreach (var name in inputs) if (!have.Contains(name)) throw new ArgumentException($"SkyviewerSky: {what} model has no input '{name}'");
            foreach (var name in outputs) if (!have.Contains(name)) throw new ArgumentException($"SkyviewerSky: {what} model has no output '{name}'");
        }

        RenderTexture MakeTexture(RenderTextureFormat format, string label)
        {
            var rt = new RenderTexture(m_N, m_N, 0, format, RenderTextureReadWrite.Linear)
            {
                name = label, filterMode = FilterMode.Bilinear, wrapMode = TextureWrapMode.Clamp,
                useMipMap = false, enableRandomWrite = format == RenderTextureFormat.ARGBFloat,
            };
            rt.Create();
            return rt;
        }

        // ------------------------------------------------------------------ the model loop

        /// Draw a new start sky (seeded) under the current conditions; the recurrent state starts fresh.
        public void ResetSky(int newSeed)
        {
            m_Random = new System.Random(newSeed);
            m_SkySeconds = 0.0;
            m_SinceStep = 0.0;
            SetConditions(m_Now, 0.0);
            SetConditions(m_Next, 0.0);
            DisposeTensors();

            SetHostInputs(m_Start, m_Manifest.models.start);
            m_Start.Schedule();
            foreach (var r in m_Manifest.models.step.recurrence)
            {
                var spec = m_Manifest.models.step.inputs.Find(t => t.name == r.input);
                Tensor value = null;
                if (r.initial.Type == JTokenType.String && ((string)r.initial).StartsWith(InitialFromStart))
                    m_Start.CopyOutput(((string)r.initial).Substring(InitialFromStart.Length), ref value);
                else
                    value = new Tensor<float>(new TensorShape(spec.shape), Filled(spec.shape, (float)r.initial));
                m_Recurrent[r.input] = value;
            }
            m_Start.CopyOutput(FrameOutput(m_Manifest.models.start), ref m_Frame);
            ShowNewestFrame();
            Graphics.Blit(m_Next0, m_Prev);   // blend 0 and 1 both show the start sky
        }

        /// One model step: the frame step_seconds of sky time after the newest one.
        public void StepSky()
        {
            foreach (var kv in m_Now) Array.Copy(m_Next[kv.Key], kv.Value, kv.Value.Length);
            SetConditions(m_Next, m_SkySeconds + m_Manifest.stepSeconds);
            var step = m_Manifest.models.step;
            SetHostInputs(m_Step, step);
            foreach (var r in step.recurrence) m_Step.SetInput(r.input, m_Recurrent[r.input]);
            m_Step.Schedule();
            foreach (var r in step.recurrence)   // double-buffered, as skyviewer/runtime/model.py
            {
                m_Spare.TryGetValue(r.input, out var spare);
                m_Step.CopyOutput(r.output, ref spare);
                m_Spare[r.input] = m_Recurrent[r.input];
                m_Recurrent[r.input] = spare;
            }
            m_Step.CopyOutput(FrameOutput(step), ref m_Frame);
            m_SkySeconds += m_Manifest.stepSeconds;
            (m_Prev, m_Next0) = (m_Next0, m_Prev);
            ShowNewestFrame();
        }

        // Latent / noise: fresh N(0, 1); conditions: the values now or at the frame being produced.
        void SetHostInputs(Worker worker, SkyModelSpec spec)
        {
            foreach (var t in m_HostInputs) t.Dispose();
            m_HostInputs.Clear();
            foreach (var t in spec.inputs)
            {
                float[] data;
                if (t.role == "latent" || t.role == "noise") data = Gaussian(Count(t.shape));
                else if (t.role == "condition") data = (t.at == "next" ? m_Next : m_Now)[t.condition];
                else continue;   // frame / state: the recurrence
                var tensor = new Tensor<float>(new TensorShape(t.shape), data);
                worker.SetInput(t.name, tensor);
                m_HostInputs.Add(tensor);
            }
        }

        // The output with role "frame" (start: sky, step: next_frame) is the newest frame.
        static string FrameOutput(SkyModelSpec spec) => spec.outputs.Find(t => t.role == "frame").name;

        // The newest frame (encoded, NCHW): tensor -> texture (row 0 = north at v = 0, hence
        // BottomLeft), then decoded to nits on the GPU.
        void ShowNewestFrame()
        {
            var transform = new TextureTransform().SetCoordOrigin(CoordOrigin.BottomLeft);
            TextureConverter.RenderToTexture(m_Frame as Tensor<float>, m_Encoded, transform);
            m_Decode.SetFloat("_Eps", m_Manifest.radiance.encoding.eps);
            m_Decode.SetFloat("_XMax", m_Manifest.radiance.encoding.xMax);
            Graphics.Blit(m_Encoded, m_Next0, m_Decode);
            m_SinceStep = 0.0;
        }

        void Update()
        {
            if (m_Manifest == null) return;
            m_SinceStep += Time.deltaTime * timeMultiplier;
            if (m_SinceStep >= m_Manifest.stepSeconds) StepSky();   // at most one step per frame
            UpdateMaterial();
        }

        // ------------------------------------------------------------------ conditions

        void SetConditions(Dictionary<string, float[]> into, double skySeconds)
        {
            foreach (var c in m_Manifest.conditions)
                if (!into.ContainsKey(c.name)) into[c.name] = (float[])c.defaultValue.Clone();
            if (into.TryGetValue(ConditionCloudCover, out var cover) && cloudCover >= 0f)
                cover[0] = Mathf.Clamp01(cloudCover);
            if (into.TryGetValue(ConditionSunDir, out var sun))
            {
                Vector3 d = SunDirectionSky(skySeconds);
                sun[0] = d.x; sun[1] = d.y; sun[2] = d.z;
            }
        }

        /// Unit vector to the sun in skyviewer axes (+Y up, -Z north, +X east) at a sky time.
        public Vector3 SunDirectionSky(double skySeconds)
        {
            switch (sunSource)
            {
                case SunSource.DirectionalLight when sunLight != null:
                    return UnityToSky(-sunLight.transform.forward);
                case SunSource.SolarPath:
                    return SolarPath(latitudeDeg, dayOfYear, startHour + skySeconds / 3600.0);
                default:
                    var c = m_Manifest.conditions.Find(x => x.name == ConditionSunDir);
                    return new Vector3(c.defaultValue[0], c.defaultValue[1], c.defaultValue[2]).normalized;
            }
        }

        /// A simple solar path: declination from the day of the year, hour angle from local solar time.
        /// East/north/up components, then skyviewer axes (x = east, y = up, z = -north).
        public static Vector3 SolarPath(float latitude, int day, double hour)
        {
            double phi = latitude * Math.PI / 180.0;
            double decl = -23.44 * Math.PI / 180.0 * Math.Cos(2.0 * Math.PI * (day + 10) / 365.0);
            double h = (hour - 12.0) * 15.0 * Math.PI / 180.0;   // afternoon: sun in the west
            double east = -Math.Cos(decl) * Math.Sin(h);
            double north = Math.Sin(decl) * Math.Cos(phi) - Math.Cos(decl) * Math.Sin(phi) * Math.Cos(h);
            double up = Math.Sin(decl) * Math.Sin(phi) + Math.Cos(decl) * Math.Cos(phi) * Math.Cos(h);
            return new Vector3((float)east, (float)up, (float)-north).normalized;
        }

        // Unity (+Y up, +Z north, +X east after northRotationDeg) <-> skyviewer (+Y up, -Z north, +X east).
        public Vector3 UnityToSky(Vector3 u)
        {
            u = Quaternion.Euler(0f, -northRotationDeg, 0f) * u;
            return new Vector3(u.x, u.y, -u.z);
        }

        public Vector3 SkyToUnity(Vector3 s) => Quaternion.Euler(0f, northRotationDeg, 0f) * new Vector3(s.x, s.y, -s.z);

        // ------------------------------------------------------------------ the dome

        void UpdateMaterial()
        {
            if (skyboxMaterial == null) return;
            float blend = BlendFactor;
            float[] now = m_Now[ConditionSunDir], next = m_Next[ConditionSunDir];
            var sunSky = Vector3.Lerp(new Vector3(now[0], now[1], now[2]), new Vector3(next[0], next[1], next[2]), blend).normalized;
            var sun = m_Manifest.radiance.sun;
            Array.Clear(m_Params, 0, m_Params.Length);   // camera members: the shader passes its own ray
            m_Params[ExposureScale] = 0.18f / Mathf.Max(keyNits, 1e-12f) * Mathf.Pow(2f, exposureStops);
            m_Params[Blend] = blend;
            Put(SunDirection, sunSky);
            m_Params[SunRadius] = sun.angularRadiusDeg * Mathf.Deg2Rad;
            Put(SunRadiance, Vector3.one * sun.luminanceNits);
            m_Params[SunLimbU] = sun.limbDarkeningU;
            Put(GroundAlbedo, new Vector3(groundAlbedo.r, groundAlbedo.g, groundAlbedo.b));
            m_Params[HazeDepth] = hazeDepthDeg * Mathf.Deg2Rad;
            m_Params[DitherLsb] = dither ? 1f : 0f;
            m_Params[FrameIndex] = m_FrameIndex++ % (1 << 24);
            m_Params[SunFadeStops] = sunFadeStops;
            m_Params[SkyClampNits] = m_Manifest.radiance.encoding.xMax;
            m_DomeParams.SetData(m_Params);
            skyboxMaterial.SetConstantBuffer("DomeParams", m_DomeParams, 0, DomeParamsFloats * sizeof(float));
            skyboxMaterial.SetTexture("_SkyPrev", m_Prev);
            skyboxMaterial.SetTexture("_SkyNext", m_Next0);
            skyboxMaterial.SetFloat("_NorthRotation", northRotationDeg);
            if (sunLight != null && sunSource != SunSource.DirectionalLight)
                sunLight.transform.rotation = Quaternion.LookRotation(-SkyToUnity(sunSky));
        }

        void Put(int at, Vector3 v)
        {
            m_Params[at] = v.x; m_Params[at + 1] = v.y; m_Params[at + 2] = v.z;
        }

        // ------------------------------------------------------------------ helpers

        void DisposeTensors()
        {
            foreach (var t in m_HostInputs) t.Dispose();
            m_HostInputs.Clear();
            foreach (var t in m_Recurrent.Values) t?.Dispose();
            foreach (var t in m_Spare.Values) t?.Dispose();
            m_Recurrent.Clear();
            m_Spare.Clear();
            m_Frame?.Dispose();
            m_Frame = null;
        }

        static int Count(int[] shape)
        {
            int n = 1;
            foreach (var d in shape) n *= d;
            return n;
        }

        static float[] Filled(int[] shape, float value)
        {
            var a = new float[Count(shape)];
            for (int i = 0; i < a.Length; i++) a[i] = value;
            return a;
        }

        float[] Gaussian(int count)   // Box-Muller
        {
            var a = new float[count];
            for (int i = 0; i < count; i += 2)
            {
                double u1 = 1.0 - m_Random.NextDouble(), u2 = m_Random.NextDouble();
                double r = Math.Sqrt(-2.0 * Math.Log(u1));
                a[i] = (float)(r * Math.Cos(2.0 * Math.PI * u2));
                if (i + 1 < count) a[i + 1] = (float)(r * Math.Sin(2.0 * Math.PI * u2));
            }
            return a;
        }
    }
}
