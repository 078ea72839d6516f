// The dome's per-frame parameters: one std140 block, so a host (or a SPIRV-Cross port to an
// HLSL cbuffer) updates one buffer per frame. Members come in vec3 + float pairs, which std140
// and HLSL packing lay out identically (16 bytes each). skyviewer/render/dome.py parses this
// block to pack it, so the member list here is the single source of truth.
layout(std140) uniform DomeParams {
    vec3 cam_right;       // camera right axis * tan(horizontal fov / 2)
    float exposure_scale; // 0.18 / key_nits * 2^exposure_stops
    vec3 cam_up;          // camera up axis * tan(vertical fov / 2)
    float blend;          // fraction of the model step elapsed: 0 = sky_prev, 1 = sky_next
    vec3 cam_forward;     // unit view axis
    float pixel_angle;    // angular size (rad) of one pixel at the image centre
    vec3 sun_direction;   // unit vector towards the sun, world axes
    float sun_radius;     // angular radius of the solar disc (rad)
    vec3 sun_radiance;    // mean radiance of the disc (nits, linear RGB)
    float sun_limb_u;     // linear limb darkening: I(mu) = I0 * (1 - u * (1 - mu))
    vec3 ground_albedo;   // ground radiance = albedo * mean horizon radiance of the sky
    float haze_depth;     // angle (rad) below the horizon over which haze fades into ground
    float dither_lsb;     // triangular dither amplitude in 8-bit steps (1 = +-1 LSB, 0 = off)
    float frame_index;    // decorrelates the dither pattern between frames
    float sun_fade_stops; // sky peak this many stops under the clamp = sun fully occluded
    float sky_clamp_nits; // radiance at which sky images clamp the solar disc (ENCODING.x_max)
};
