// Encoded network output (RenderTexture written by TextureConverter.RenderToTexture) -> radiance
// in nits, with the manifest's encoding constants (radiance.encoding.eps / x_max). Used by
// SkyviewerSky.cs through Graphics.Blit; the dome then filters nits, as the viewer does.
Shader "Hidden/Skyviewer/Decode"
{
    Properties
    {
        _MainTex ("Encoded frame", 2D) = "black" {}
        _Eps ("eps", Float) = 0.0001
        _XMax ("x_max", Float) = 65504
    }
    SubShader
    {
        Cull Off ZWrite Off ZTest Always
        Pass
        {
            HLSLPROGRAM
            #pragma vertex vert
            #pragma fragment frag
            #include "UnityCG.cginc"
            #include "SkyDome.generated.hlsl"

            Texture2D<float4> _MainTex;
            SamplerState sampler_point_clamp;   // one texel per texel: no filtering of encoded values
            float _Eps;
            float _XMax;

            struct Varyings { float4 position : SV_Position; float2 uv : TEXCOORD0; };

            Varyings vert(float4 vertex : POSITION, float2 uv : TEXCOORD0)
            {
                Varyings o;
                o.position = UnityObjectToClipPos(vertex);
                o.uv = uv;
                return o;
            }

            float4 frag(Varyings i) : SV_Target
            {
                float3 e = _MainTex.SampleLevel(sampler_point_clamp, i.uv, 0).rgb;
                return float4(SkyDome_DecodeRadiance(e, _Eps, _XMax), 1.0f);
            }
            ENDHLSL
        }
    }
}
