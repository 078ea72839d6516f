// Skybox shader for SkyviewerSky: the viewer's dome (SkyDome.generated.hlsl, generated from
// shaders/dome.vert + dome.frag) on Unity's skybox mesh.
// Built-in RP and URP (Lighting > Environment > Skybox Material); HDRP needs a custom sky
// renderer instead (see README).
// SkyviewerSky.cs binds the textures, the DomeParams constant buffer and _NorthRotation.
Shader "Skyviewer/Sky"
{
    Properties
    {
        [NoScaleOffset] _SkyPrev ("Previous frame (nits, fisheye)", 2D) = "black" {}
        [NoScaleOffset] _SkyNext ("Newest frame (nits, fisheye)", 2D) = "black" {}
        _NorthRotation ("North: degrees about +Y from +Z", Float) = 0
        [Toggle] _OutputRadiance ("Output linear radiance (HDR pipelines) instead of the viewer's ACES display", Float) = 0
        _RadianceScale ("Radiance scale (nits -> scene units)", Float) = 1
    }
    SubShader
    {
        Tags { "Queue" = "Background" "RenderType" = "Background" "PreviewType" = "Skybox" }
        Cull Off ZWrite Off

        Pass
        {
            HLSLPROGRAM
            #pragma vertex vert
            #pragma fragment frag
            #pragma target 4.5

            #include "UnityCG.cginc"
            #define SKYDOME_DECLARE_CBUFFER 1
            #include "SkyDome.generated.hlsl"

            Texture2D<float4> _SkyPrev;
            SamplerState sampler_SkyPrev;
            Texture2D<float4> _SkyNext;
            SamplerState sampler_SkyNext;
            float _NorthRotation;
            float _OutputRadiance;
            float _RadianceScale;

            struct Attributes { float4 vertex : POSITION; };
            struct Varyings
            {
                float4 position : SV_Position;
                float3 direction : TEXCOORD0;                    // Unity world direction (skybox mesh)
                nointerpolation float3 ground : TEXCOORD1;
                nointerpolation float4 sun_glow_visibility : TEXCOORD2;
            };

            Varyings vert(Attributes v)
            {
                Varyings o;
                o.position = UnityObjectToClipPos(v.vertex);
                o.direction = v.vertex.xyz;
                // dome.vert's per-draw values (the same for every vertex)
                SkyDomeVarying d = SkyDome_Vertex(SkyDome_ParamsFromCBuffer(), _SkyPrev, sampler_SkyPrev, _SkyNext, sampler_SkyNext);
                o.ground = d.ground;
                o.sun_glow_visibility = float4(d.sun_glow, d.sun_visibility);
                return o;
            }

            float3 SrgbToLinear(float3 c)
            {
                return c <= 0.04045f ? c / 12.92f : pow((c + 0.055f) / 1.055f, 2.4f);
            }

            float4 frag(Varyings i) : SV_Target
            {
                float a = radians(_NorthRotation);   // undo the north rotation: Unity -> north-aligned
                float3 u = normalize(i.direction);
                u = float3(cos(a) * u.x - sin(a) * u.z, u.y, sin(a) * u.x + cos(a) * u.z);   // Rot_Y(-a)
                float3 ray = SkyDome_FromEngineAxes(u);
                float pixel_angle = max(max(length(ddx(ray)), length(ddy(ray))), 1e-6f);
                SkyDomeVarying d;
                d.ground = i.ground;
                d.sun_glow = i.sun_glow_visibility.xyz;
                d.sun_visibility = i.sun_glow_visibility.w;
                SkyDomeOutput o = SkyDome_Pixel(SkyDome_ParamsFromCBuffer(), d, ray, pixel_angle, i.position.xy,
                                                _SkyPrev, sampler_SkyPrev, _SkyNext, sampler_SkyNext);
                if (_OutputRadiance > 0.5f)
                    return float4(o.radiance.rgb * _RadianceScale, 1.0f);
            #if defined(UNITY_COLORSPACE_GAMMA)
                return float4(o.display.rgb, 1.0f);
            #else
                return float4(SrgbToLinear(saturate(o.display.rgb)), 1.0f);   // the target re-encodes sRGB
            #endif
            }
            ENDHLSL
        }
    }
    Fallback Off
}
