// The solar disc (radiance.SUN, strategy "clamped_disc_plus_analytic"): sky images carry the
// disc clamped at sky_clamp_nits, which after bilinear magnification is a blurry blob one to
// two texels wide (0.7 deg per texel at 256 px, the real disc is 0.53 deg across). The dome
// removes that blob and draws the true disc analytically.
//
// Occlusion comes from the image itself (not from a uniform), because the image is the only
// thing that knows where the clouds are; it is read three times per frame in the vertex shader.
// Needs uniforms.glsl and sky_projection.glsl.

const float SUN_BLOB_TEXELS = 2.5;  // the clamped disc's bilinear footprint stays within this
const float SUN_RING_TEXELS = 3.5;  // radius (texels) at which the sky around the sun is sampled

float max3(vec3 v) {
    return max(v.r, max(v.g, v.b));
}

// Brightest channel of the 3x3 texels around the sun: the clamped disc covers one to four texels.
float sun_peak(sampler2D sky, vec2 sun_uv) {
    ivec2 n = textureSize(sky, 0);
    ivec2 centre = ivec2(sun_uv * vec2(n));
    float peak = 0.0;
    for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
            ivec2 texel = clamp(centre + ivec2(dx, dy), ivec2(0), n - 1);
            peak = max(peak, max3(texelFetch(sky, texel, 0).rgb));
        }
    }
    return peak;
}

// Mean sky radiance on a ring just outside the blob: the circumsolar glow that replaces it.
vec3 sun_glow(sampler2D sky, vec2 sun_uv) {
    float n = float(textureSize(sky, 0).x);
    vec3 sum = vec3(0.0);
    for (int k = 0; k < 8; ++k) {
        float a = float(k) * (HALF_PI / 2.0);
        vec2 uv = sun_uv + (SUN_RING_TEXELS / n) * vec2(cos(a), sin(a));
        sum += textureLod(sky, clamp_to_radius(uv, inner_radius(int(n))), 0.0).rgb;
    }
    return sum / 8.0;
}

// 1 when the image's peak at the sun is at the clamp (disc unoccluded), 0 once clouds have
// dimmed it sun_fade_stops below; smooth in between so a passing cloud fades the disc. Only
// the disc reaches the clamp: the brightest clouds (~20k nits) stay 1.7 stops under it.
float sun_visibility(float peak) {
    float stops_below = log2(max(peak, 1e-30) / sky_clamp_nits);
    return smoothstep(-sun_fade_stops, 0.0, stops_below);
}

// Disc radiance for a visibility: interpolated in log space from what the image shows (the
// clamp) to the true disc, so the disc dims through visible levels instead of popping off
// (any linear fraction of 1.6e9 nits still tone-maps to white).
vec3 sun_strength(vec3 radiance, float visibility) {
    vec3 log_radiance = mix(vec3(log2(sky_clamp_nits)), log2(radiance), visibility);
    return visibility * exp2(log_radiance);
}

// Limb-darkened disc radiance (rgb) and its coverage of the pixel (a), the disc edge box-filtered
// over the pixel's angular footprint; `strength` is sun_strength(sun_radiance, visibility), the
// same for every pixel (the vertex stage computes it once).
vec4 sun_disc(vec3 ray, float footprint, vec3 strength) {
    // Angle to the sun from the chord c = |ray - sun| = 2 sin(d / 2): d = c (1 + c^2 / 24) to
    // 1e-12 rad at the disc, and still increasing far from it (where coverage is 0 anyway).
    // An exact atan here cost ~3 ms of a 21 ms llvmpipe frame at 1280x720.
    float c = length(ray - sun_direction);
    float d = c * (1.0 + c * c / 24.0);
    float coverage = clamp((sun_radius - d) / footprint + 0.5, 0.0, 1.0);
    float rho = min(d / sun_radius, 1.0);
    float mu = sqrt(1.0 - rho * rho);
    // sun_radiance is the disc mean; the mean of 1 - u (1 - mu) over the disc is 1 - u / 3.
    float profile = (1.0 - sun_limb_u * (1.0 - mu)) / (1.0 - sun_limb_u / 3.0);
    return vec4(strength * profile, coverage);
}
