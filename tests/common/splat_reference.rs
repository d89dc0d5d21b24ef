//! A CPU reference rasterizer for 3D Gaussian splats, written from the equations of Kerbl et al., "3D Gaussian
//! Splatting for Real-Time Radiance Field Rendering" (SIGGRAPH 2023) and its EWA projection (Zwicker et al.
//! 2002), pixel by pixel, with no tiles and no radius cut: what the GPU splat pass must reproduce.
//!
//! Camera convention of the paper (OpenCV: x right, y down, z forward), so the camera's OpenGL axes (y up,
//! looking down −z) are flipped once here. Pixel (i, j) is the square [i, i + 1] × [j, j + 1], its centre at
//! (i + 0.5, j + 0.5), the principal point (cx, cy) in the same frame (the project's pinhole convention).
//!
//! What the static stream does for splat-only scenes, and so this reference too: culling as 3DGS's frustum
//! test as the GPU pass applies it (view depth ≤ 0.2 or centre outside 1.3× the image in NDC), black background,
//! colours are display values (the SH sum + 0.5, clamped at 0; no sRGB conversion, no tonemapping), the
//! composite is clamped to [0, 1] and written as 8-bit unorm (round to nearest).

use glam::{Mat3, Vec2, Vec3};
use handtwin::action::CameraFrame;
use handtwin::scene::splat::SplatCloud;

/// Splats nearer than this (view depth, metres) are not drawn.
pub const NEAR: f32 = 0.2;
/// Splats centred outside this multiple of the image (in NDC) are not drawn.
pub const GUARD_BAND: f32 = 1.3;
/// The low-pass filter added to the projected covariance's diagonal (pixels²).
pub const DILATION: f32 = 0.3;
const MIN_ALPHA: f32 = 1.0 / 255.0;
const MAX_ALPHA: f32 = 0.99;
const MIN_TRANSMITTANCE: f32 = 1e-4;

/// One splat after projection into the image.
#[derive(Clone, Debug)]
pub struct Projected {
    pub index: usize,
    /// View-space depth (metres along the optical axis).
    pub depth: f32,
    /// Projected mean in pixels (x right, y down).
    pub centre: Vec2,
    /// Σ'⁻¹ of the dilated 2D covariance, as (a, b, c) of [[a, b], [b, c]].
    pub conic: [f32; 3],
    pub opacity: f32,
    /// The colour seen from this camera (display value, ≥ 0).
    pub color: Vec3,
    /// Half-size of the axis-aligned box outside which opacity·exp(power) < 1/255 (so the splat cannot
    /// contribute there): a shortcut that changes no pixel, not a cut-off.
    pub reach: Vec2,
}

/// Projects every splat for `camera`, drops the culled ones and returns the rest front to back.
pub fn project(cloud: &SplatCloud, camera: &CameraFrame) -> Vec<Projected> {
    let k = camera.intrinsics;
    let (width, height) = (k.width as f32, k.height as f32);
    let camera_from_world = camera.world_from_camera.inverse();
    let eye = Vec3::from(camera.world_from_camera.translation);
    // World → paper's camera frame (x right, y down, z forward): flip the OpenGL camera's y and z.
    let flip = Mat3::from_diagonal(Vec3::new(1.0, -1.0, -1.0));
    let w = flip * Mat3::from(camera_from_world.matrix3);

    let mut projected = Vec::new();
    for index in 0..cloud.len() {
        let mean = cloud.means[index];
        let t = flip * camera_from_world.transform_point3(mean);
        let depth = t.z;
        if depth <= NEAR || !depth.is_finite() {
            continue;
        }
        // Perspective projection of the mean (pixels), and its NDC for the guard-band test.
        let centre = Vec2::new(k.fx * t.x / depth + k.cx, k.fy * t.y / depth + k.cy);
        let ndc = Vec2::new(2.0 * centre.x / width - 1.0, 2.0 * centre.y / height - 1.0);
        if ndc.x.abs() > GUARD_BAND || ndc.y.abs() > GUARD_BAND {
            continue;
        }
        // Σ = R S Sᵀ Rᵀ (eq. 6), Σ' = J W Σ Wᵀ Jᵀ (eq. 5), J the Jacobian of the projection at the mean.
        let [xx, xy, xz, yy, yz, zz] = cloud.covariance(index);
        let sigma = Mat3::from_cols(
            Vec3::new(xx, xy, xz),
            Vec3::new(xy, yy, yz),
            Vec3::new(xz, yz, zz),
        );
        // Rows (fx/z, 0, −fx·x/z²) and (0, fy/z, −fy·y/z²); the third row is unused (zero).
        let jacobian = Mat3::from_cols(
            Vec3::new(k.fx / depth, 0.0, 0.0),
            Vec3::new(0.0, k.fy / depth, 0.0),
            Vec3::new(
                -k.fx * t.x / (depth * depth),
                -k.fy * t.y / (depth * depth),
                0.0,
            ),
        );
        let m = jacobian * w;
        let covariance = m * sigma * m.transpose();
        let a = covariance.x_axis.x + DILATION;
        let b = covariance.y_axis.x;
        let c = covariance.y_axis.y + DILATION;
        let determinant = a * c - b * b;
        if determinant <= 0.0 || !determinant.is_finite() {
            continue;
        }
        let opacity = cloud.opacities[index];
        // Where can opacity·exp(−½ dᵀΣ'⁻¹d) reach 1/255? Inside the ellipse dᵀΣ'⁻¹d ≤ 2·ln(255·opacity),
        // whose bounding box has half-sizes √(2τ·Σ'xx), √(2τ·Σ'yy); one pixel more for rounding.
        let tau = (opacity / MIN_ALPHA).ln();
        if tau <= 0.0 {
            continue;
        }
        let reach = Vec2::new((2.0 * tau * a).sqrt(), (2.0 * tau * c).sqrt()) + Vec2::ONE;
        let direction = (mean - eye).normalize();
        projected.push(Projected {
            index,
            depth,
            centre,
            conic: [c / determinant, -b / determinant, a / determinant],
            opacity,
            color: cloud.color(index, direction).max(Vec3::ZERO),
            reach,
        });
    }
    // Front to back (ties: the later splat in front, as the GPU draws equal depths in index order).
    projected.sort_by(|p, q| p.depth.total_cmp(&q.depth).then(q.index.cmp(&p.index)));
    projected
}

/// Front-to-back alpha compositing (eq. 3) of the projected splats at the pixel position `at`, over black.
pub fn shade(splats: &[Projected], at: Vec2) -> Vec3 {
    let mut color = Vec3::ZERO;
    let mut transmittance = 1.0f32;
    for splat in splats {
        let d = at - splat.centre;
        if d.x.abs() > splat.reach.x || d.y.abs() > splat.reach.y {
            continue;
        }
        let [a, b, c] = splat.conic;
        let power = -0.5 * (a * d.x * d.x + c * d.y * d.y) - b * d.x * d.y;
        if power > 0.0 {
            continue;
        }
        let alpha = (splat.opacity * power.exp()).min(MAX_ALPHA);
        if alpha < MIN_ALPHA {
            continue;
        }
        let next = transmittance * (1.0 - alpha);
        if next < MIN_TRANSMITTANCE {
            break;
        }
        color += splat.color * alpha * transmittance;
        transmittance = next;
    }
    color
}

/// The composite at every pixel centre, row by row from the top (unclamped display values).
pub fn render(cloud: &SplatCloud, camera: &CameraFrame) -> Vec<Vec3> {
    let splats = project(cloud, camera);
    let k = camera.intrinsics;
    let mut image = Vec::with_capacity((k.width * k.height) as usize);
    for y in 0..k.height {
        let row = y as f32 + 0.5;
        // The splats that can reach this row, still front to back (only to save time).
        let near_row: Vec<Projected> = splats
            .iter()
            .filter(|s| (row - s.centre.y).abs() <= s.reach.y)
            .cloned()
            .collect();
        for x in 0..k.width {
            image.push(shade(&near_row, Vec2::new(x as f32 + 0.5, row)));
        }
    }
    image
}

/// The 8-bit value the static stream stores for a display colour: clamped, ×255, rounded to nearest.
pub fn encode(color: Vec3) -> [u8; 3] {
    let quantize = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    [quantize(color.x), quantize(color.y), quantize(color.z)]
}

/// `render`, encoded as the stream's RGB bytes.
pub fn render_rgb8(cloud: &SplatCloud, camera: &CameraFrame) -> Vec<u8> {
    render(cloud, camera).into_iter().flat_map(encode).collect()
}
