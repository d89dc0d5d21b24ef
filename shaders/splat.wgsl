// 3D Gaussian splats (Kerbl et al. 2023) as a pre-sorted quad mesh: the CPU sorts the splats back to front for
// the viewing camera every frame and writes four corners per splat; this shader does the EWA projection of each
// 3D covariance with the camera's real focal lengths, adds the 0.3-pixel low-pass dilation, and evaluates the 2D
// Gaussian per pixel. Blending is premultiplied "over" in index order (back to front), which equals 3DGS's
// front-to-back compositing.

#import bevy_pbr::mesh_functions::get_world_from_local
#import bevy_pbr::mesh_view_bindings::view

struct SplatSettings {
    // 1: the colours are display-referred (3DGS) and the target is sRGB-encoded, so convert to linear first.
    linearize: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> settings: SplatSettings;

struct Vertex {
    @builtin(instance_index) instance_index: u32,
    @location(0) mean: vec3<f32>,
    @location(1) corner: vec2<f32>,
    // Upper triangle of the 3D covariance in the mesh's local frame: (xx, xy, xz) and (yy, yz, zz).
    @location(2) covariance_a: vec3<f32>,
    @location(3) covariance_b: vec3<f32>,
    // View-dependent colour (evaluated on the CPU for this frame's camera) and opacity.
    @location(4) color: vec4<f32>,
};

struct VertexOutput {
    @builtin(position) clip_position: vec4<f32>,
    @location(0) color: vec4<f32>,
    // Offset of this corner from the splat centre, in pixels (x right, y up).
    @location(1) offset: vec2<f32>,
    // Inverse of the 2D covariance: (a, b, c) of [[a, b], [b, c]].
    @location(2) conic: vec3<f32>,
};

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

@vertex
fn vertex(in: Vertex) -> VertexOutput {
    var out: VertexOutput;
    let world_from_local = get_world_from_local(in.instance_index);
    let mean_world = (world_from_local * vec4<f32>(in.mean, 1.0)).xyz;
    let t = (view.view_from_world * vec4<f32>(mean_world, 1.0)).xyz;
    let depth = -t.z;
    let clip_centre = view.clip_from_world * vec4<f32>(mean_world, 1.0);
    let ndc = clip_centre.xy / clip_centre.w;
    // 3DGS's frustum test: splats nearer than 0.2 or centred outside 1.3× the image are not drawn (near the eye
    // plane their projection explodes into screen-wide smears). Culled splats become degenerate triangles
    // outside the clip volume.
    if depth < 0.2 || abs(ndc.x) > 1.3 || abs(ndc.y) > 1.3 {
        out.clip_position = vec4<f32>(0.0, 0.0, 2.0, 1.0);
        return out;
    }
    let size = view.viewport.zw;
    let fx = view.clip_from_view[0][0] * size.x * 0.5;
    let fy = view.clip_from_view[1][1] * size.y * 0.5;

    let local_covariance = mat3x3<f32>(
        vec3<f32>(in.covariance_a.x, in.covariance_a.y, in.covariance_a.z),
        vec3<f32>(in.covariance_a.y, in.covariance_b.x, in.covariance_b.y),
        vec3<f32>(in.covariance_a.z, in.covariance_b.y, in.covariance_b.z),
    );
    let world_linear = mat3x3<f32>(world_from_local[0].xyz, world_from_local[1].xyz, world_from_local[2].xyz);
    let view_linear = mat3x3<f32>(view.view_from_world[0].xyz, view.view_from_world[1].xyz, view.view_from_world[2].xyz);
    let to_view = view_linear * world_linear;
    let covariance_view = to_view * local_covariance * transpose(to_view);

    // Jacobian of (x, y, z) ↦ (fx·x/d, fy·y/d) with d = −z, pixels with y up. WGSL matrices are column-major:
    // the columns are ∂/∂x, ∂/∂y, ∂/∂z.
    let jacobian = mat3x3<f32>(
        vec3<f32>(fx / depth, 0.0, 0.0),
        vec3<f32>(0.0, fy / depth, 0.0),
        vec3<f32>(fx * t.x / (depth * depth), fy * t.y / (depth * depth), 0.0),
    );
    let covariance_2d = jacobian * covariance_view * transpose(jacobian);
    // The 0.3-pixel low-pass filter of 3DGS.
    let a = covariance_2d[0][0] + 0.3;
    let b = covariance_2d[0][1];
    let c = covariance_2d[1][1] + 0.3;
    let determinant = a * c - b * b;
    if determinant <= 0.0 {
        out.clip_position = vec4<f32>(0.0, 0.0, 2.0, 1.0);
        return out;
    }
    let mid = 0.5 * (a + c);
    let largest = mid + sqrt(max(0.1, mid * mid - determinant));
    let radius = ceil(3.0 * sqrt(largest));
    let offset = in.corner * radius;

    out.clip_position = clip_centre + vec4<f32>(offset * 2.0 / size * clip_centre.w, 0.0, 0.0);
    out.offset = offset;
    out.conic = vec3<f32>(c, -b, a) / determinant;
    var color = max(in.color.rgb, vec3<f32>(0.0));
    if settings.linearize == 1u {
        color = srgb_to_linear(min(color, vec3<f32>(1.0)));
    }
    out.color = vec4<f32>(color, in.color.a);
    return out;
}

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    let d = in.offset;
    let power = -0.5 * (in.conic.x * d.x * d.x + in.conic.z * d.y * d.y) - in.conic.y * d.x * d.y;
    if power > 0.0 {
        discard;
    }
    let alpha = min(0.99, in.color.a * exp(power));
    if alpha < 1.0 / 255.0 {
        discard;
    }
    return vec4<f32>(in.color.rgb * alpha, alpha);
}
