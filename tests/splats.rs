//! A 3DGS `.ply` scene through the static stream: the GPU splat pass against the 3DGS formula at known pixels.

use glam::{Affine3A, Quat, Vec3};
use handtwin::action::{CameraFrame, Intrinsics};
use handtwin::scene::SceneSource;
use handtwin::scene::splat::{SplatCloud, write_ply};
use handtwin::streams::{StreamRenderer, StreamRequest};

const SH_C0: f32 = 0.282_094_8;

/// Front-to-back compositing of the EWA-projected Gaussians at one pixel centre (camera at the origin looking
/// down −z, as in the test), written from the 3DGS equations.
fn reference_pixel(cloud: &SplatCloud, k: &Intrinsics, x: u32, y: u32) -> [f32; 3] {
    let mut order: Vec<usize> = (0..cloud.len()).collect();
    order.sort_by(|&a, &b| cloud.means[b].z.total_cmp(&cloud.means[a].z));
    let (mut color, mut transmittance) = (Vec3::ZERO, 1.0f32);
    for i in order {
        let t = cloud.means[i];
        let depth = -t.z;
        let (u, v) = (k.cx + k.fx * t.x / depth, k.cy - k.fy * t.y / depth);
        let ndc = (
            2.0 * u / k.width as f32 - 1.0,
            2.0 * v / k.height as f32 - 1.0,
        );
        if depth < 0.2 || ndc.0.abs() > 1.3 || ndc.1.abs() > 1.3 {
            continue; // 3DGS's frustum test
        }
        // Pixel coordinates with y up, as the Jacobian below.
        let centre = glam::Vec2::new(
            k.cx + k.fx * t.x / depth,
            (k.height as f32 - k.cy) + k.fy * t.y / depth,
        );
        let jacobian = glam::Mat3::from_cols(
            Vec3::new(k.fx / depth, 0.0, 0.0),
            Vec3::new(0.0, k.fy / depth, 0.0),
            Vec3::new(
                k.fx * t.x / (depth * depth),
                k.fy * t.y / (depth * depth),
                0.0,
            ),
        );
        let [xx, xy, xz, yy, yz, zz] = cloud.covariance(i);
        let sigma = glam::Mat3::from_cols(
            Vec3::new(xx, xy, xz),
            Vec3::new(xy, yy, yz),
            Vec3::new(xz, yz, zz),
        );
        let projected = jacobian * sigma * jacobian.transpose();
        let (a, b, c) = (
            projected.x_axis.x + 0.3,
            projected.x_axis.y,
            projected.y_axis.y + 0.3,
        );
        let det = a * c - b * b;
        let d = glam::Vec2::new(x as f32 + 0.5, k.height as f32 - (y as f32 + 0.5)) - centre;
        let power = -0.5 * (c * d.x * d.x - 2.0 * b * d.x * d.y + a * d.y * d.y) / det;
        let alpha = (cloud.opacities[i] * power.exp()).min(0.99);
        if alpha < 1.0 / 255.0 {
            continue;
        }
        color += cloud.color(i, t.normalize()) * alpha * transmittance;
        transmittance *= 1.0 - alpha;
    }
    color.to_array()
}

#[test]
fn splat_scene_renders_as_3dgs_composites() {
    // Red splat 2 m ahead (σ = 0.1 m → 20 px at fx = 400), a green one behind it, offset to the right.
    let color = |rgb: Vec3| ((rgb - Vec3::splat(0.5)) / SH_C0).to_array();
    let cloud = SplatCloud {
        means: vec![Vec3::new(0.0, 0.0, -2.0), Vec3::new(0.4, 0.0, -3.0)],
        scales: vec![Vec3::splat(0.1), Vec3::new(0.3, 0.05, 0.05)],
        rotations: vec![Quat::IDENTITY, Quat::IDENTITY],
        opacities: vec![0.9, 0.8],
        sh: vec![
            color(Vec3::new(1.0, 0.2, 0.2)),
            color(Vec3::new(0.1, 0.9, 0.1)),
        ],
        sh_degree: 0,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.ply");
    std::fs::write(&path, write_ply(&cloud)).unwrap();

    let mut renderer = StreamRenderer::new(Some(&SceneSource::File(path))).unwrap();
    let k = Intrinsics {
        width: 160,
        height: 120,
        fx: 400.0,
        fy: 400.0,
        cx: 80.0,
        cy: 60.0,
    };
    let cameras = [CameraFrame {
        world_from_camera: Affine3A::IDENTITY,
        intrinsics: k,
    }];
    let streams = renderer
        .render(
            &StreamRequest {
                cameras: &cameras,
                hands: &[],
                fps: 8.0,
            },
            &mut |_, _| {},
        )
        .unwrap();
    let frame = &streams.static_video;

    // The 3DGS formula at a few pixels (centres, overlaps, the anisotropic splat's long axis).
    for (x, y) in [
        (80, 60),
        (95, 60),
        (110, 60),
        (133, 60),
        (150, 62),
        (80, 75),
    ] {
        let got = frame.pixel(0, x, y).unwrap();
        let expected = reference_pixel(&cloud, &k, x, y);
        for c in 0..3 {
            assert!(
                (got[c] as f32 - expected[c] * 255.0).abs() <= 3.0,
                "pixel ({x}, {y}): {got:?} vs {expected:?}"
            );
        }
    }
    // The green splat projects to x = 80 + 400·0.4/3 ≈ 133: green dominates there.
    let green = frame.pixel(0, 133, 60).unwrap();
    assert!(green[1] > 100 && green[1] > 3 * green[0] / 2, "{green:?}");
    // Far from both: the black background.
    assert_eq!(frame.pixel(0, 5, 5), Some([0, 0, 0]));
}
