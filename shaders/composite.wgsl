// Compositing the generated interaction with the conditioning streams (viewer): one full-viewport quad that
// shows, per pixel, one of the modes below. Video frames are display-referred RGB (as stored in the mp4s) and are
// read with textureLoad (no filtering), so a mode that shows a frame shows it exactly.

#import bevy_pbr::forward_io::VertexOutput
#import bevy_pbr::mesh_view_bindings::view

struct CompositeSettings {
    // 0 generated, 1 static, 2 hands, 3 residual heat map |generated − static|, 4 wipe static | generated,
    // 5 grid (static, hands / generated, ground truth), 6 A/B wipe (generated A | generated B).
    mode: u32,
    // 1: the target is sRGB-encoded, so decode the display-referred frames to linear first.
    decode_srgb: u32,
    // 1: a ground-truth frame is bound.
    has_truth: u32,
    _pad: u32,
    // Wipe position as a fraction of the width: columns left of it show the first clip.
    wipe: f32,
    // Heat map gain: a mean absolute difference of 1/gain maps to the top of the colour ramp.
    heat_gain: f32,
    _pad2: vec2<f32>,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> settings: CompositeSettings;
@group(#{MATERIAL_BIND_GROUP}) @binding(1) var static_frame: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(2) var hand_frame: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(3) var generated_frame: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(4) var truth_frame: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(5) var generated_b_frame: texture_2d<f32>;

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

fn load(frame: texture_2d<f32>, uv: vec2<f32>) -> vec3<f32> {
    let size = vec2<f32>(textureDimensions(frame));
    let texel = vec2<i32>(clamp(floor(uv * size), vec2<f32>(0.0), size - 1.0));
    return textureLoad(frame, texel, 0).rgb;
}

// A perceptually ordered ramp: black → purple → orange → pale yellow. Zero maps to exact black.
fn heat(t: f32) -> vec3<f32> {
    let x = clamp(t, 0.0, 1.0);
    let c1 = vec3<f32>(0.35, 0.05, 0.5);
    let c2 = vec3<f32>(0.95, 0.45, 0.1);
    let c3 = vec3<f32>(1.0, 0.95, 0.7);
    if x < 0.33 {
        return c1 * (x / 0.33);
    }
    if x < 0.66 {
        return mix(c1, c2, (x - 0.33) / 0.33);
    }
    return mix(c2, c3, (x - 0.66) / 0.34);
}

fn composite(uv: vec2<f32>) -> vec3<f32> {
    switch settings.mode {
        case 1u: { return load(static_frame, uv); }
        case 2u: { return load(hand_frame, uv); }
        case 3u: {
            let difference = abs(load(generated_frame, uv) - load(static_frame, uv));
            return heat((difference.r + difference.g + difference.b) / 3.0 * settings.heat_gain);
        }
        case 4u: {
            if uv.x < settings.wipe { return load(static_frame, uv); }
            return load(generated_frame, uv);
        }
        case 5u: {
            let cell = vec2<f32>(step(0.5, uv.x), step(0.5, uv.y));
            let inner = fract(uv * 2.0);
            if cell.y < 0.5 {
                if cell.x < 0.5 { return load(static_frame, inner); }
                return load(hand_frame, inner);
            }
            if cell.x < 0.5 { return load(generated_frame, inner); }
            if settings.has_truth == 1u { return load(truth_frame, inner); }
            return vec3<f32>(0.0);
        }
        case 6u: {
            if uv.x < settings.wipe { return load(generated_frame, uv); }
            return load(generated_b_frame, uv);
        }
        default: { return load(generated_frame, uv); }
    }
}

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    // Position inside this camera's viewport, 0..1, y down (image rows).
    let uv = (in.position.xy - view.viewport.xy) / view.viewport.zw;
    var color = composite(uv);
    if settings.decode_srgb == 1u {
        color = srgb_to_linear(color);
    }
    return vec4<f32>(color, 1.0);
}
