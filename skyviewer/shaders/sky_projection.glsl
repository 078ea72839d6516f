// The canonical sky image (docs/conventions.md): angular fisheye of the upper hemisphere,
// zenith at the centre, horizon on the inscribed circle, north up, east LEFT.
// Same maths as skyviewer.sky.projection.direction_to_fisheye_uv, written without atan2 of the
// azimuth so there is no seam at +-180 degrees and no singularity at the zenith.

const float HALF_PI = 1.5707963267948966;

// Unit direction (world axes: +Y up, -Z north, +X east) -> fisheye uv in [0, 1]^2.
// Rays below the horizon continue the equidistant mapping outside the circle (r > 1).
vec2 fisheye_uv(vec3 d) {
    float s = length(d.xz);          // sin(zenith angle)
    float zenith = atan(s, d.y);     // accurate near the zenith, unlike acos(d.y)
    // r * (sin az, cos az) = (zenith / HALF_PI) * (x, -z) / s; zenith / s -> 1 at the zenith.
    float k = s > 1e-7 ? zenith / (HALF_PI * s) : 1.0 / HALF_PI;
    return vec2(0.5) + 0.5 * k * vec2(-d.x, d.z);
}

// Pull uv radially in to radius r_max (r = 1 is the horizon circle), so bilinear filtering
// never reaches the zero texels outside the circle: rays at or below the horizon read the
// sky just above it, at their own azimuth.
vec2 clamp_to_radius(vec2 uv, float r_max) {
    vec2 offset = uv - vec2(0.5);
    float r = 2.0 * length(offset);
    return r > r_max ? vec2(0.5) + offset * (r_max / r) : uv;
}

// Largest radius whose bilinear footprint stays on texels whose centres lie inside the circle:
// the footprint reaches one texel (2/N in r) along each axis, sqrt(2) of that diagonally.
float inner_radius(int n) {
    return 1.0 - 3.0 / float(n);
}

const int HORIZON_SAMPLES = 64;

// Mean radiance just above the horizon, all azimuths: the haze colour the ground fades into
// (the dome's ground and the lighting's, shaders/lighting_env.glsl).
vec3 horizon_mean(sampler2D sky) {
    float r = inner_radius(textureSize(sky, 0).x);
    vec3 sum = vec3(0.0);
    for (int k = 0; k < HORIZON_SAMPLES; ++k) {
        float a = float(k) * (4.0 * HALF_PI / float(HORIZON_SAMPLES));
        sum += textureLod(sky, vec2(0.5) + 0.5 * r * vec2(cos(a), sin(a)), 0.0).rgb;
    }
    return sum / float(HORIZON_SAMPLES);
}
