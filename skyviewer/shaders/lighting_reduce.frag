#version 330 core
// Lighting bake, pass 1: the sky frame (any N) -> a small map of the clean sky. Each fragment
// averages one block x block tile of the frame's texels inside the horizon circle, with the
// clamped solar disc capped at the glow around it (as dome.frag does; the sun is lit apart).
// Reading every texel once keeps the SH exact for any N, and later passes cost the same at
// 64 or 1024 px.

#include "sky_projection.glsl"
#include "lighting_env.glsl"
#include "sun.glsl"

uniform sampler2D sky;  // the model frame, nits
uniform int block;      // frame texels per map texel along each axis

out vec4 out_env;       // (mean clean radiance, fraction of the tile inside the horizon)

void main() {
    ivec2 n = textureSize(sky, 0);
    vec2 sun_uv = fisheye_uv(sun_direction);
    float visibility = sun_direction.y > -sun_radius ? sun_visibility(sun_peak(sky, sun_uv)) : 0.0;
    vec3 glow = sun_glow(sky, sun_uv);
    ivec2 first = ivec2(gl_FragCoord.xy) * block;
    vec3 sum = vec3(0.0);
    float count = 0.0;
    // 2 x 2 texels at a time: one bilinear fetch at their shared corner is their exact mean,
    // where all four lie inside the horizon and away from the sun; else texel by texel.
    for (int y = first.y; y < min(first.y + block, n.y); y += 2) {
        for (int x = first.x; x < min(first.x + block, n.x); x += 2) {
            vec2 corner = vec2(x + 1, y + 1) / vec2(n);
            vec2 offset = abs(corner - 0.5) + 0.5 / vec2(n);
            bool plain = x + 1 < min(first.x + block, n.x) && y + 1 < min(first.y + block, n.y) && 4.0 * dot(offset, offset) <= 1.0
                && length(corner - sun_uv) * float(n.x) > SUN_BLOB_TEXELS + 2.0;
            if (plain) {
                sum += 4.0 * textureLod(sky, corner, 0.0).rgb;
                count += 4.0;
                continue;
            }
            for (int dy = 0; dy < 2 && y + dy < min(first.y + block, n.y); ++dy) {
                for (int dx = 0; dx < 2 && x + dx < min(first.x + block, n.x); ++dx) {
                    ivec2 texel = ivec2(x + dx, y + dy);
                    vec2 uv = (vec2(texel) + 0.5) / vec2(n);
                    vec2 off = uv - 0.5;
                    if (4.0 * dot(off, off) <= 1.0) {
                        vec3 s = texelFetch(sky, texel, 0).rgb;
                        float texels_from_sun = length(uv - sun_uv) * float(n.x);
                        float in_blob = 1.0 - smoothstep(SUN_BLOB_TEXELS - 0.5, SUN_BLOB_TEXELS + 0.5, texels_from_sun);
                        sum += mix(s, min(s, glow), in_blob * visibility);
                        count += 1.0;
                    }
                }
            }
        }
    }
    if (count == 0.0) {
        // Wholly below the horizon: the sky just above it, so the map's mips (which the SH pass
        // reads) do not darken towards the rim.
        vec2 centre = (vec2(first) + 0.5 * float(block)) / vec2(n);
        sum = textureLod(sky, clamp_to_radius(centre, inner_radius(n.x)), 0.0).rgb;
    }
    out_env = vec4(sum / max(count, 1.0), count / float(block * block));
}
