// SkyviewerSky: plays a skyviewer sky package (sky.json, start.onnx, step.onnx and, format 3,
// decode.onnx / decode_N.onnx) as the skybox.
//
// Unity 6 (6000.0+), Inference Engine (com.unity.ai.inference) 2.2+, Newtonsoft JSON
// (com.unity.nuget.newtonsoft-json). Written against the documented APIs and NOT run here:
// see export/unity/README.md for what to check first.
//
// Loop (the same as skyviewer/runtime/model.py, driven by the manifest's tensor roles):
//   format 3 (the package has models.decode): a small state, decoded into each frame
//     reset:  start.onnx(latents ~ N(0,1)) -> state; recurrent inputs = their "initial" (start outputs);
//             then decode(state, conditions of the frame) -> sky
//     tick:   step.onnx(state, noise ~ N(0,1), wind at "next") -> next state (fed back by the recurrence);
//             then decode(new state, conditions of the new frame) -> sky
//     decode.onnx on the CPU backend, decode_N.onnx (e.g. 2,048 px) on a GPU backend when assigned
//   format 2: the frame is the start's and each step's own "frame" output
//     reset:  start.onnx(z ~ N(0,1), conditions) -> sky, field; recurrent inputs = their "initial"
//     tick:   step.onnx(field, motion, noise ~ N(0,1), conditions next) -> next_frame, next_field, next_motion
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
        // ---- the package contract; tests/test_engine_samples.py checks these against the exporter.
        // Format 2 (skyviewer/train/onnx_export.py): start and step each output the frame.
        public static readonly string[] StartInputs = { "z", "sun_dir", "cloud_cover" };
        public static readonly string[] StartOutputs = { "sky", "field" };
        public static readonly string[] StepInputs = { "field", "motion", "noise", "sun_dir_next", "cloud_cover" };
        public static readonly string[] StepOutputs = { "next_frame", "next_field", "next_motion" };
        // Format 3 (skyviewer/export/layered.py): start and step carry the state, a decoder draws the frame.
        public static readonly string[] LayeredStartInputs = { "z_a", "z_b", "z_motion" };
        public static readonly string[] LayeredStartOutputs = { "noise_a", "noise_b", "motion" };
        public static readonly string[] LayeredStepInputs = { "noise_a", "noise_b", "motion", "noise", "wind_speed", "wind_towards" };
        public static readonly string[] LayeredStepOutputs = { "next_noise_a", "next_noise_b", "next_motion" };
        public static readonly string[] DecodeInputs = { "noise_a", "noise_b", "motion", "sun_dir", "cloud_cover", "cirrus_cover" };
        public static readonly string[] DecodeOutputs = { "sky" };
        public const string PackageFormat = "skyviewer-sky-package";
        public static readonly int[] PackageFormatVersions = { 2, 3 };
        public const string ModelStart = "start";
        public const string ModelStep = "step";
        public const string ModelDecode = "decode";       // the decoder at projection.resolution_px (CPU hosts)
        public const string DecoderPrefix = "decode_";    // decode_N: the same decoder at N px (GPU hosts)
        public const string ConditionSunDir = "sun_dir";
        public const string ConditionCloudCover = "cloud_cover";
        public const string ConditionCirrusCover = "cirrus_cover";
        public const string ConditionWindSpeed = "wind_speed";
        public const string ConditionWindTowards = "wind_towards";
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
        [Tooltip("Format 3: decode.onnx, the decoder at the package's resolution (used on the CPU backend)")]
        public ModelAsset decodeModel;
        [Tooltip("Format 3, optional: decode_N.onnx (e.g. decode_2048), used instead on a GPU backend")]
        public ModelAsset gpuDecodeModel;
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
        [Tooltip("Format 3: fraction of the high (cirrus) layer covered; negative = the manifest's default.")]
        public float cirrusCover = -1f;
        [Tooltip("Format 3: wind speed at the cumulus layer, m/s (the cirrus moves faster); negative = the manifest's default.")]
        public float windSpeed = -1f;
        [Tooltip("Format 3: where the clouds drift towards, degrees from geographic north towards east (90: east); negative = the manifest's default.")]
        [Range(-1f, 360f)] public float windTowardsDeg = -1f;
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
        Worker m_Start, m_Step, m_Decoder;   // m_Decoder: format 3 only
        SkyModelSpec m_DecodeSpec;
        int m_N;
        readonly Dictionary<string, float[]> m_Now = new Dictionary<string, float[]>();
        readonly Dictionary<string, float[]> m_Next = new Dictionary<string, float[]>();
        readonly Dictionary<string, Tensor> m_Recurrent = new Dictionary<string, Tensor>();
        readonly Dictionary<string, Tensor> m_Spare = new Dictionary<string, Tensor>();
        Tensor m_Frame;   // the newest frame: the decoder's (format 3) or the start's, then each step's (format 2)
        // Per model: the latent / noise / condition tensors of its last run, kept until it runs again.
        readonly Dictionary<Worker, List<Tensor>> m_HostInputs = new Dictionary<Worker, List<Tensor>>();
        System.Random m_Random;
        RenderTexture m_Encoded, m_Prev, m_Next0;
        Material m_Decode;
        GraphicsBuffer m_DomeParams;
        readonly float[] m_Params = new float[DomeParamsFloats];
        double m_SkySeconds;      // sky time of the newest frame (m_Next0), since the start
        double m_SinceStep;       // sky seconds since the newest frame was produced
        int m_FrameIndex;

        public SkyManifest Manifest => m_Manifest;
        public bool Layered => m_DecodeSpec != null;   // format 3: a decoder draws each frame from the state
        public int Resolution => m_N;                 // side of the frames (the decoder's output in format 3)
        public float StepSeconds => m_Manifest.stepSeconds;
        public float BlendFactor => (float)Math.Min(m_SinceStep / m_Manifest.stepSeconds, 1.0);
        public Texture PreviousFrame => m_Prev;   // decoded radiance (nits), canonical fisheye
        public Texture NewestFrame => m_Next0;
        /// Counts the frames shown (the start's and each step's); SkyviewerLighting bakes when it changes.
        public int FrameSerial { get; private set; }
        /// FrameSerial of the last reset's start frame (then PreviousFrame shows the same sky).
        public int StartSerial { get; private set; }

        /// Unit vector to the sun in skyviewer axes of the newest frame, or of the previous one.
        public Vector3 SunSky(bool newest)
        {
            var d = (newest ? m_Next : m_Now)[ConditionSunDir];
            return new Vector3(d[0], d[1], d[2]).normalized;
        }

        // ------------------------------------------------------------------ lifetime

        void OnEnable()
        {
            m_Manifest = LoadManifest(manifestJson);
            m_N = m_Manifest.projection.resolutionPx;
            m_Start = new Worker(ModelLoader.Load(startModel), backend);
            m_Step = new Worker(ModelLoader.Load(stepModel), backend);
            if (m_Manifest.models.ContainsKey(ModelDecode))
            {
                var asset = ChooseDecoder(out m_DecodeSpec);
                m_N = FrameTensor(m_DecodeSpec).shape[3];
                m_Decoder = new Worker(ModelLoader.Load(asset), backend);
            }
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
            m_Decoder?.Dispose();
            m_DecodeSpec = null;
            m_DomeParams?.Release();
            foreach (var rt in new[] { m_Encoded, m_Prev, m_Next0 }) if (rt != null) rt.Release();
            if (m_Decode != null) Destroy(m_Decode);
        }

        static SkyManifest LoadManifest(TextAsset json)
        {
            if (json == null) throw new ArgumentException("SkyviewerSky: assign the package's sky.json");
            var m = JsonConvert.DeserializeObject<SkyManifest>(json.text);
            if (m == null || m.format != PackageFormat || Array.IndexOf(PackageFormatVersions, m.formatVersion) < 0)
                throw new ArgumentException($"SkyviewerSky: {json.name} is not a {PackageFormat} manifest of version 2 or 3");
            bool layered = m.models.ContainsKey(ModelDecode);
            Require(m.models[ModelStart], layered ? LayeredStartInputs : StartInputs, layered ? LayeredStartOutputs : StartOutputs, ModelStart);
            Require(m.models[ModelStep], layered ? LayeredStepInputs : StepInputs, layered ? LayeredStepOutputs : StepOutputs, ModelStep);
            foreach (var kv in m.models)
                if (IsDecoder(kv.Key)) Require(kv.Value, DecodeInputs, DecodeOutputs, kv.Key);
            return m;
        }

        static bool IsDecoder(string model) => model == ModelDecode || model.StartsWith(DecoderPrefix);

        // Format 3: decode_N.onnx on a GPU backend when assigned, else decode.onnx; the manifest entry is
        // the decoder whose file (or fp16 variant's file) the imported asset was made from.
        ModelAsset ChooseDecoder(out SkyModelSpec spec)
        {
            var asset = backend != BackendType.CPU && gpuDecodeModel != null ? gpuDecodeModel : decodeModel;
            if (asset == null)
                throw new ArgumentException($"SkyviewerSky: {manifestJson.name} is a format 3 package: assign its decode.onnx to decodeModel");
            foreach (var kv in m_Manifest.models)
            {
                if (!IsDecoder(kv.Key)) continue;
                var files = new List<string> { kv.Value.file };
                if (kv.Value.variants != null) files.AddRange(kv.Value.variants.ConvertAll(v => v.file));
                if (files.Contains(asset.name + ".onnx"))
                {
                    spec = kv.Value;
                    return asset;
                }
            }
            throw new ArgumentException($"SkyviewerSky: {asset.name} is not a decoder of {manifestJson.name} (assign decode.onnx or decode_N.onnx of the same package)");
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

            var start = m_Manifest.models[ModelStart];
            var step = m_Manifest.models[ModelStep];
            SetHostInputs(m_Start, start, m_Now, m_Next);
            m_Start.Schedule();
            foreach (var r in step.recurrence)
            {
                var spec = step.inputs.Find(t => t.name == r.input);
                Tensor value = null;
                if (r.initial.Type == JTokenType.String && ((string)r.initial).StartsWith(InitialFromStart))
                    m_Start.CopyOutput(((string)r.initial).Substring(InitialFromStart.Length), ref value);
                else
                    value = new Tensor<float>(new TensorShape(spec.shape), Filled(spec.shape, (float)r.initial));
                m_Recurrent[r.input] = value;
            }
            if (Layered) Decode(m_Now);
            else m_Start.CopyOutput(FrameTensor(start).name, ref m_Frame);
            ShowNewestFrame();
            StartSerial = FrameSerial;
            Graphics.Blit(m_Next0, m_Prev);   // blend 0 and 1 both show the start sky
        }

        /// One model step: the frame step_seconds of sky time after the newest one.
        public void StepSky()
        {
            foreach (var kv in m_Now) Array.Copy(m_Next[kv.Key], kv.Value, kv.Value.Length);
            SetConditions(m_Next, m_SkySeconds + m_Manifest.stepSeconds);
            var step = m_Manifest.models[ModelStep];
            SetHostInputs(m_Step, step, m_Now, m_Next);
            foreach (var r in step.recurrence) m_Step.SetInput(r.input, m_Recurrent[r.input]);
            m_Step.Schedule();
            foreach (var r in step.recurrence)   // double-buffered, as skyviewer/runtime/model.py
            {
                m_Spare.TryGetValue(r.input, out var spare);
                m_Step.CopyOutput(r.output, ref spare);
                m_Spare[r.input] = m_Recurrent[r.input];
                m_Recurrent[r.input] = spare;
            }
            if (Layered) Decode(m_Next);   // the new state, under the new frame's conditions
            else m_Step.CopyOutput(FrameTensor(step).name, ref m_Frame);
            m_SkySeconds += m_Manifest.stepSeconds;
            (m_Prev, m_Next0) = (m_Next0, m_Prev);
            ShowNewestFrame();
        }

        // Format 3: the decoder draws the frame from the state the start or step just made. Its
        // conditions ("current") are those of the frame it draws.
        void Decode(Dictionary<string, float[]> conditions)
        {
            SetHostInputs(m_Decoder, m_DecodeSpec, conditions, conditions);
            foreach (var t in m_DecodeSpec.inputs)
                if (t.role == "state") m_Decoder.SetInput(t.name, m_Recurrent[t.name]);   // the step's recurrent inputs
            m_Decoder.Schedule();
            m_Decoder.CopyOutput(FrameTensor(m_DecodeSpec).name, ref m_Frame);
        }

        // Latent / noise: fresh N(0, 1); conditions: the values of the input frame ("current") or of
        // the frame being produced ("next"). Frame / state inputs come from the recurrence.
        void SetHostInputs(Worker worker, SkyModelSpec spec, Dictionary<string, float[]> now, Dictionary<string, float[]> next)
        {
            if (!m_HostInputs.TryGetValue(worker, out var kept)) m_HostInputs[worker] = kept = new List<Tensor>();
            foreach (var t in kept) t.Dispose();
            kept.Clear();
            foreach (var t in spec.inputs)
            {
                float[] data;
                if (t.role == "latent" || t.role == "noise") data = Gaussian(Count(t.shape));
                else if (t.role == "condition" && t.at == "next") data = next[t.condition];
                else if (t.role == "condition" && t.at == "current") data = now[t.condition];
                else continue;
                var tensor = new Tensor<float>(new TensorShape(t.shape), data);
                worker.SetInput(t.name, tensor);
                kept.Add(tensor);
            }
        }

        // The output with role "frame" (format 2: start sky, step next_frame; format 3: each decoder's sky).
        static SkyTensor FrameTensor(SkyModelSpec spec) => spec.outputs.Find(t => t.role == "frame");

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
            FrameSerial++;
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
            SetScalar(into, ConditionCloudCover, cloudCover);
            SetScalar(into, ConditionCirrusCover, cirrusCover);     // format 3 only (format 2 has no such condition)
            SetScalar(into, ConditionWindSpeed, windSpeed);
            SetScalar(into, ConditionWindTowards, windTowardsDeg);
            if (into.TryGetValue(ConditionSunDir, out var sun))
            {
                Vector3 d = SunDirectionSky(skySeconds);
                sun[0] = d.x; sun[1] = d.y; sun[2] = d.z;
            }
        }

        // A one-value condition from the inspector: negative = the manifest's default, else clamped to its range.
        // A change reaches the sky at the next step (wind: "next") or the next decode; nothing resets.
        void SetScalar(Dictionary<string, float[]> into, string name, float value)
        {
            if (!into.TryGetValue(name, out var v)) return;
            var c = m_Manifest.conditions.Find(x => x.name == name);
            v[0] = value < 0f ? c.defaultValue[0] : Mathf.Clamp(value, c.range[0], c.range[1]);
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
            foreach (var kept in m_HostInputs.Values) foreach (var t in kept) t.Dispose();
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
