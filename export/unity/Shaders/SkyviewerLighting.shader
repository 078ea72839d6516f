// Image-based lighting passes for SkyviewerLighting.cs: the viewer's lighting bake
// (skyviewer/shaders/lighting_*.glsl, cross-compiled to SkyLighting.generated.hlsl by
// `skyviewer export-shaders`) plus two small passes of its own (the fullscreen triangle every pass
// draws, and the mix of two reduced sky maps). SkyviewerLighting.cs draws them with
// CommandBuffer.DrawProcedural (3 vertices, no mesh) and a MaterialPropertyBlock per draw; the pass
// indices are its Pass* constants.
Shader "Hidden/Skyviewer/Lighting"
{
    HLSLINCLUDE
    // The fullscreen triangle (fullscreen.glsl) and, for the passes that read the environment,
    // the dome's ground colour from the 1x1 target the Ground pass wrote (lighting.vert's v_ground).
    Texture2D<float4> _SkyLightingGround;
    struct SkyLightingVaryings
    {
        float4 position : SV_Position;
        nointerpolation float3 ground : TEXCOORD0;
    };
    SkyLightingVaryings SkyLightingVert(uint id : SV_VertexID)
    {
        SkyLightingVaryings o;
        o.position = float4(float((id & 1u) << 2) - 1.0f, float((id & 2u) << 1) - 1.0f, 0.0f, 1.0f);
        o.ground = _SkyLightingGround.Load(int3(0, 0, 0)).rgb;
        return o;
    }
    ENDHLSL

    SubShader
    {
        Cull Off ZWrite Off ZTest Always Blend Off

        Pass // 0: the frame -> the reduced clean sky (lighting_reduce.frag)
        {
            Name "Reduce"
            HLSLPROGRAM
            #pragma vertex SkyLightingVert
            #pragma fragment SkyLighting_Reduce
            #pragma target 4.5
            #define SKYLIGHTING_PASS SKYLIGHTING_PASS_REDUCE
            #include "SkyLighting.generated.hlsl"
            ENDHLSL
        }
        Pass // 1: the dome's ground colour into a 1x1 target (lighting.vert)
        {
            Name "Ground"
            HLSLPROGRAM
            #pragma vertex SkyLighting_Ground
            #pragma fragment GroundFrag
            #pragma target 4.5
            #define SKYLIGHTING_PASS SKYLIGHTING_PASS_GROUND
            #include "SkyLighting.generated.hlsl"
            float4 GroundFrag(float4 position : SV_Position, nointerpolation float3 ground : TEXCOORD0) : SV_Target
            {
                return float4(ground, 1.0f);
            }
            ENDHLSL
        }
        Pass // 2: SH coefficients by bands, and the sun's visibility (lighting_sh.frag)
        {
            Name "SH"
            HLSLPROGRAM
            #pragma vertex SkyLightingVert
            #pragma fragment SkyLighting_SH
            #pragma target 4.5
            #define SKYLIGHTING_PASS SKYLIGHTING_PASS_SH
            #include "SkyLighting.generated.hlsl"
            ENDHLSL
        }
        Pass // 3: the environment on six faces side by side, Unity axes (lighting_cube.frag, PREFILTER 0)
        {
            Name "Cube"
            HLSLPROGRAM
            #pragma vertex SkyLightingVert
            #pragma fragment SkyLighting_Cube
            #pragma target 4.5
            #define SKYLIGHTING_PASS SKYLIGHTING_PASS_CUBE
            #include "SkyLighting.generated.hlsl"
            ENDHLSL
        }
        Pass // 4: one GGX-prefiltered level, six faces side by side (lighting_cube.frag, PREFILTER 1)
        {
            Name "Prefilter"
            HLSLPROGRAM
            #pragma vertex SkyLightingVert
            #pragma fragment SkyLighting_Prefilter
            #pragma target 4.5
            #define SKYLIGHTING_PASS SKYLIGHTING_PASS_PREFILTER
            #include "SkyLighting.generated.hlsl"
            ENDHLSL
        }
        Pass // 5: the reduced maps of the previous and the newest frame, mixed by the dome's blend
        {
            Name "Mix"
            HLSLPROGRAM
            #pragma vertex SkyLightingVert
            #pragma fragment MixFrag
            #pragma target 4.5
            Texture2D<float4> _EnvPrev;
            Texture2D<float4> _EnvNext;
            float _Blend;
            float4 MixFrag(SkyLightingVaryings i) : SV_Target
            {
                int3 texel = int3(i.position.xy, 0);
                return lerp(_EnvPrev.Load(texel), _EnvNext.Load(texel), _Blend);
            }
            ENDHLSL
        }
    }
    Fallback Off
}
