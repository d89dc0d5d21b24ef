// The hand stream in DWM's exact style (spec/dwm-reference.md §5.2): PyTorch3D SoftPhongShader with one point
// light at the camera, ambient 0.7, diffuse 0.6, no specular:
//     colour = albedo · (0.7 + 0.6 · max(0, n·l)),  l = unit vector from the surface point to the camera,
// clamped to [0, 1] and quantised as floor(255·c). The target is a linear (non-sRGB) 8-bit texture reached
// through a float intermediate, and k/255 converts back to exactly k, so the floor here is the final rounding.

#import bevy_pbr::forward_io::VertexOutput
#import bevy_pbr::mesh_view_bindings::view

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> albedo: vec4<f32>;

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    // Phong shading: the interpolated smooth normal, renormalised per fragment (no flipping for back faces,
    // as PyTorch3D does not flip them either).
    let n = normalize(in.world_normal);
    let l = normalize(view.world_position.xyz - in.world_position.xyz);
    let shade = 0.7 + 0.6 * max(dot(n, l), 0.0);
    let c = clamp(albedo.rgb * shade, vec3<f32>(0.0), vec3<f32>(1.0));
    return vec4<f32>(floor(c * 255.0) / 255.0, 1.0);
}
