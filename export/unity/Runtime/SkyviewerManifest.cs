// sky.json, the skyviewer sky package manifest (docs/package.md, skyviewer/runtime/sky.schema.json),
// as C# classes for Newtonsoft.Json (com.unity.nuget.newtonsoft-json). Only the fields this sample
// reads are declared; Newtonsoft ignores the rest. Every key is spelled out in [JsonProperty] so that
// tests/test_engine_samples.py can check them against the schema the exporter writes.
using System;
using System.Collections.Generic;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace Skyviewer
{
    [Serializable]
    public sealed class SkyManifest
    {
        [JsonProperty("format")] public string format;
        [JsonProperty("format_version")] public int formatVersion;
        [JsonProperty("name")] public string name;
        [JsonProperty("licence")] public string licence;
        [JsonProperty("projection")] public SkyProjection projection;
        [JsonProperty("radiance")] public SkyRadiance radiance;
        [JsonProperty("step_seconds")] public float stepSeconds;
        [JsonProperty("conditions")] public List<SkyCondition> conditions;
        // "start", "step" and, format 3, "decode" and "decode_N" (the same decoder at N px).
        [JsonProperty("models")] public Dictionary<string, SkyModelSpec> models;
    }

    [Serializable]
    public sealed class SkyProjection
    {
        [JsonProperty("name")] public string name;            // "angular_fisheye_upper_hemisphere"
        [JsonProperty("resolution_px")] public int resolutionPx;  // format 3: decode.onnx's output side
    }

    [Serializable]
    public sealed class SkyRadiance
    {
        [JsonProperty("encoding")] public SkyEncoding encoding;
        [JsonProperty("sun")] public SkySun sun;
        [JsonProperty("below_horizon")] public float belowHorizon;
    }

    [Serializable]
    public sealed class SkyEncoding
    {
        [JsonProperty("name")] public string name;            // "log2"
        [JsonProperty("eps")] public float eps;               // radiance (nits) that encodes to -1
        [JsonProperty("x_max")] public float xMax;            // radiance (nits) that encodes to +1
    }

    [Serializable]
    public sealed class SkySun
    {
        [JsonProperty("strategy")] public string strategy;    // "clamped_disc_plus_analytic"
        [JsonProperty("angular_radius_deg")] public float angularRadiusDeg;
        [JsonProperty("luminance_nits")] public float luminanceNits;
        [JsonProperty("limb_darkening_u")] public float limbDarkeningU;
    }

    [Serializable]
    public sealed class SkyCondition
    {
        [JsonProperty("name")] public string name;            // "sun_dir", "cloud_cover"; format 3 also "cirrus_cover", "wind_speed", "wind_towards"
        [JsonProperty("shape")] public int[] shape;
        [JsonProperty("range")] public float[] range;
        [JsonProperty("default")] public float[] defaultValue;
    }

    [Serializable]
    public sealed class SkyModelSpec
    {
        [JsonProperty("file")] public string file;
        [JsonProperty("opset")] public int opset;
        [JsonProperty("inputs")] public List<SkyTensor> inputs;
        [JsonProperty("outputs")] public List<SkyTensor> outputs;
        [JsonProperty("recurrence")] public List<SkyRecurrence> recurrence;
        [JsonProperty("variants")] public List<SkyVariant> variants;
    }

    [Serializable]
    public sealed class SkyVariant
    {
        [JsonProperty("precision")] public string precision;  // "fp16": same float32 inputs and outputs
        [JsonProperty("file")] public string file;
    }

    [Serializable]
    public sealed class SkyTensor
    {
        [JsonProperty("name")] public string name;
        [JsonProperty("shape")] public int[] shape;
        [JsonProperty("dtype")] public string dtype;          // "float32" (fp16 variants keep float32 I/O)
        [JsonProperty("layout")] public string layout;        // "NC" or "NCHW"
        [JsonProperty("role")] public string role;            // latent | noise | condition | frame | state
        [JsonProperty("condition")] public string condition;  // role == condition: which condition
        [JsonProperty("at")] public string at;                // role == condition: "current" or "next"
    }

    [Serializable]
    public sealed class SkyRecurrence
    {
        [JsonProperty("input")] public string input;          // step input fed back ...
        [JsonProperty("output")] public string output;        // ... from this output of the previous step
        [JsonProperty("initial")] public JToken initial;      // a number, or "start:OUTPUT"
    }
}
