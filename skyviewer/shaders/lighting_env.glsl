// Image-based lighting from a sky frame: the parameters and the environment that both the SH
// projection (lighting_sh.frag) and the radiance cube map (lighting_cube.frag) integrate.
// skyviewer/runtime/lighting.py is the numpy reference of all of it. Needs sky_projection.glsl.
//
// The environment is what the dome shows without its analytic sun: the frame's sky with the
// clamped disc capped at the surrounding glow (reduced first to a small map, lighting_reduce.frag)
// and, below the horizon, the horizon haze fading into the dome's ground.

uniform vec3 sun_direction;   // unit vector towards the sun, world axes
uniform float sun_radius;     // angular radius of the solar disc (rad)
uniform float sky_clamp_nits; // radiance at which sky images clamp the disc
uniform float sun_fade_stops; // the frame's peak this many stops under the clamp = sun hidden
uniform float sun_limb_u;     // declared for sun.glsl's sun_disc (the bake does not draw the disc)
uniform vec3 ground_albedo;   // ground radiance = albedo * mean horizon radiance (as the dome)
uniform float haze_depth;     // angle (rad) below the horizon over which haze fades into ground
uniform float env_lod;        // mip of the reduced sky to read (the SH pass reads a coarser one)

const float PI = 3.14159265358979;

// Radiance of the environment along d: the reduced clean sky `env` above the horizon; below it,
// the sky at the same azimuth fading into `ground` (dome.frag's scene_radiance).
vec3 environment_radiance(sampler2D env, vec3 d, vec3 ground) {
    vec2 uv = clamp_to_radius(fisheye_uv(d), inner_radius(textureSize(env, 0).x));
    vec3 sky = textureLod(env, uv, env_lod).rgb;
    float below_horizon = asin(clamp(-d.y, -1.0, 1.0));
    return mix(sky, ground, smoothstep(0.0, haze_depth, below_horizon));
}

// Direction of the texel at (s, t) in [0, 1]^2 of OpenGL cube-map face `face` (+X, -X, +Y, -Y,
// +Z, -Z), t growing with the texel row: the spec's "Selection of cube map images" inverted.
vec3 cube_face_direction(int face, vec2 st) {
    vec2 c = 2.0 * st - 1.0;
    vec3 d;
    if (face == 0) d = vec3(1.0, -c.y, -c.x);
    else if (face == 1) d = vec3(-1.0, -c.y, c.x);
    else if (face == 2) d = vec3(c.x, 1.0, c.y);
    else if (face == 3) d = vec3(c.x, -1.0, -c.y);
    else if (face == 4) d = vec3(c.x, -c.y, 1.0);
    else d = vec3(-c.x, -c.y, -1.0);
    return normalize(d);
}
