#version 330 core
// Auto-exposure, first reduction step: each fragment sums the log luminance of one
// BLOCK x BLOCK tile of sky texels (those whose centre lies inside the horizon circle) and
// counts them. Python reads the ceil(N / BLOCK)^2 sums back and finishes the log-average,
// which then equals skyviewer.sky.tonemap.auto_key_nits(sky, fisheye_mask(N)) for any N.

uniform sampler2D sky;

out vec2 out_sum;  // (sum of ln(max(Y, floor)), number of texels summed)

const int BLOCK = 8;  // keep in sync with LogLuminanceMeter.BLOCK
const vec3 REC709_LUMA = vec3(0.2126, 0.7152, 0.0722);
const float LUMINANCE_FLOOR = 1e-4;  // nits: auto_key_nits' floor, keeps ln finite at night

void main() {
    ivec2 n = textureSize(sky, 0);
    ivec2 first = ivec2(gl_FragCoord.xy) * BLOCK;
    vec2 sum = vec2(0.0);
    for (int y = first.y; y < min(first.y + BLOCK, n.y); ++y) {
        for (int x = first.x; x < min(first.x + BLOCK, n.x); ++x) {
            vec2 offset = (vec2(x, y) + 0.5) / vec2(n) - 0.5;
            if (4.0 * dot(offset, offset) <= 1.0) {
                float y_nits = dot(texelFetch(sky, ivec2(x, y), 0).rgb, REC709_LUMA);
                sum += vec2(log(max(y_nits, LUMINANCE_FLOOR)), 1.0);
            }
        }
    }
    out_sum = sum;
}
