// Compositing the generated interaction with the conditioning streams (viewer): one full-viewport quad that
// shows, per pixel, one of the modes below. Video frames are display-referred RGB (as stored in the mp4s),
// filtered bilinearly when enlarged (at the frame's own size a texel centre reads back exactly). Alpha is 1 in
// every mode but "residual over the scene", where it is the residual mask times the fade, over the live render.

#import bevy_pbr::forward_io::VertexOutput
#import bevy_pbr::mesh_view_bindings::view

struct CompositeSettings {
    // 0 generated, 1 static, 2 hands, 3 residual heat map |generated − static| with the mask's outline, 4 wipe
    // static | generated, 5 grid (static, hands / generated, ground truth), 6 A/B wipe (generated A | generated B),
    // 7 the residual composite, 8 the residual over the live scene.
    mode: u32,
    // 1: the target is sRGB-encoded, so decode the display-referred frames to linear first.
    decode_srgb: u32,
    // 1: a ground-truth frame is bound.
    has_truth: u32,
    // 1: the residual composite and its mask are bound.
    has_mask: u32,
    // Wipe position as a fraction of the width: columns left of it show the first clip.
    wipe: f32,
    // Heat map gain: a mean absolute difference of 1/gain maps to the top of the colour ramp.
    heat_gain: f32,
    // Residual over the scene: 1 at the path camera of the current frame, 0 away from it.
    fade: f32,
    _pad: f32,
    // Residual over the scene: frame uv = frame_offset + frame_scale · viewport uv.
    frame_offset: vec2<f32>,
    frame_scale: vec2<f32>,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> settings: CompositeSettings;
@group(#{MATERIAL_BIND_GROUP}) @binding(1) var static_frame: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(2) var hand_frame: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(3) var generated_frame: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(4) var truth_frame: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(5) var generated_b_frame: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(6) var composite_frame: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(7) var mask_frame: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(8) var frame_sampler: sampler;

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

fn load(frame: texture_2d<f32>, uv: vec2<f32>) -> vec3<f32> {
    return textureSampleLevel(frame, frame_sampler, uv, 0.0).rgb;
}

fn mask_at(uv: vec2<f32>) -> f32 {
    if settings.has_mask == 0u { return 0.0; }
    return textureSampleLevel(mask_frame, frame_sampler, uv, 0.0).r;
}

// 1 on the mask's outline (where it crosses one half between this texel and a neighbour), else 0.
fn mask_outline(uv: vec2<f32>) -> f32 {
    if settings.has_mask == 0u { return 0.0; }
    let size = vec2<i32>(textureDimensions(mask_frame));
    let texel = clamp(vec2<i32>(floor(uv * vec2<f32>(size))), vec2<i32>(0), size - 1);
    let inside = textureLoad(mask_frame, texel, 0).r >= 0.5;
    let offsets = array<vec2<i32>, 4>(vec2<i32>(1, 0), vec2<i32>(-1, 0), vec2<i32>(0, 1), vec2<i32>(0, -1));
    for (var i = 0; i < 4; i++) {
        let neighbour = clamp(texel + offsets[i], vec2<i32>(0), size - 1);
        if (textureLoad(mask_frame, neighbour, 0).r >= 0.5) != inside { return 1.0; }
    }
    return 0.0;
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
            let ramp = heat((difference.r + difference.g + difference.b) / 3.0 * settings.heat_gain);
            return mix(ramp, vec3<f32>(0.2, 0.9, 1.0), mask_outline(uv));
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
        case 7u: { return load(composite_frame, uv); }
        default: { return load(generated_frame, uv); }
    }
}

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    // Position inside this camera's viewport, 0..1, y down (image rows).
    let uv = (in.position.xy - view.viewport.xy) / view.viewport.zw;
    var color: vec3<f32>;
    var alpha = 1.0;
    if settings.mode == 8u {
        // The generated pixels inside the mask, blended over the live render (the blend form of the composite,
        // with the live render in place of the static stream); nothing outside the path camera's image.
        let frame_uv = settings.frame_offset + settings.frame_scale * uv;
        let inside = all(frame_uv >= vec2<f32>(0.0)) && all(frame_uv <= vec2<f32>(1.0));
        color = load(generated_frame, frame_uv);
        alpha = select(0.0, mask_at(frame_uv) * settings.fade, inside);
    } else {
        color = composite(uv);
    }
    if settings.decode_srgb == 1u {
        color = srgb_to_linear(color);
    }
    return vec4<f32>(color, alpha);
}
