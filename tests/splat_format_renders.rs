//! The new splat formats rendered: the same cloud written by PlayCanvas splat-transform 3.7 as .ply, .spz
//! (versions 4 and 3), .sog and .glb (tools/splat_formats/make_fixtures.mjs), each rendered at two cameras and compared
//! with the .ply rendered the same way (PSNR; the quantised formats lose a little), and a GLB holding a mesh and
//! a splat primitive renders both, depth-composed.
#![cfg(feature = "render")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use glam::{Affine3A, Mat3, Quat, Vec3};
use handtwin::action::{CameraFrame, Intrinsics};
use handtwin::scene::SceneSource;
use handtwin::streams::{StreamRenderer, StreamRequest};
use handtwin::video::{Frames, psnr};
use std::path::{Path, PathBuf};

#[path = "common/gltf_splats.rs"]
mod gltf_splats;

fn look_at(eye: Vec3, target: Vec3) -> Affine3A {
    let forward = (target - eye).normalize();
    let right = forward.cross(Vec3::Y).normalize();
    Affine3A::from_rotation_translation(
        Quat::from_mat3(&Mat3::from_cols(right, right.cross(forward), -forward)),
        eye,
    )
}

fn cameras() -> Vec<CameraFrame> {
    let intrinsics = Intrinsics::from_horizontal_fov(160, 120, 60.0);
    [Vec3::new(0.0, 0.0, 2.0), Vec3::new(1.4, 0.6, 1.3)]
        .into_iter()
        .map(|eye| CameraFrame {
            world_from_camera: look_at(eye, Vec3::ZERO),
            intrinsics,
        })
        .collect()
}

fn render(path: &Path, world_from_scene: Affine3A) -> Frames {
    let mut renderer = StreamRenderer::new_placed(
        Some(&SceneSource::File(path.to_path_buf())),
        world_from_scene,
    )
    .unwrap();
    renderer
        .render(
            &StreamRequest {
                cameras: &cameras(),
                hands: &[],
                fps: 8.0,
            },
            &mut |_, _| {},
        )
        .unwrap()
        .static_video
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/splat_formats")
        .join(name)
}

#[test]
fn every_format_renders_as_its_ply() {
    let reference = render(&fixture("cloud.ply"), Affine3A::IDENTITY);
    let lit = reference.as_bytes().iter().filter(|&&v| v > 20).count();
    assert!(
        lit > reference.as_bytes().len() / 10,
        "the cloud is in view"
    );
    // splat-transform writes glTF turned 180° about z from the PLY: turn it back to compare.
    let turn = Affine3A::from_rotation_z(std::f32::consts::PI);
    for (name, placement, at_least) in [
        ("cloud.spz", Affine3A::IDENTITY, 40.0),
        ("cloud_v3.spz", Affine3A::IDENTITY, 40.0),
        ("cloud.sog", Affine3A::IDENTITY, 30.0),
        ("cloud.glb", turn, 60.0),
    ] {
        let got = render(&fixture(name), placement);
        let db = psnr(&reference, &got).unwrap();
        println!("{name}: {db:.2} dB against the .ply over two cameras");
        assert!(db > at_least, "{name}: {db:.2} dB");
    }
}

/// A GLB with a mesh (a square) and a splat primitive (a dense opaque blob at the origin): both render, and the
/// nearer hides the farther — the square in front of the blob's left half hides it there, the square behind it is
/// hidden by it.
#[test]
fn a_mixed_gltf_renders_meshes_and_splats_depth_composed() {
    let mut cloud = handtwin::scene::splat::load_splats(&fixture("cloud.ply")).unwrap();
    for i in 0..cloud.len() {
        cloud.means[i] *= 0.4;
        cloud.opacities[i] = 0.99;
        cloud.scales[i] = Vec3::splat(0.04);
    }
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, square: Option<Vec3>| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            gltf_splats::write_gltf_splats(&cloud, Vec3::ZERO, Quat::IDENTITY, 1.0, square),
        )
        .unwrap();
        render(&path, Affine3A::IDENTITY)
    };
    // The reference holds a mesh too (far out of view), so its splats go through the same (mesh-scene) pipeline.
    let splats = write("alone.glb", Some(Vec3::new(50.0, 0.0, 0.0)));
    let front = write("front.glb", Some(Vec3::new(-1.0, -0.5, 0.6)));
    let behind = write("behind.glb", Some(Vec3::new(-1.0, -0.5, -0.6)));
    if let Ok(dir) = std::env::var("HANDTWIN_SAVE_RENDERS") {
        for (name, f) in [("splats", &splats), ("front", &front), ("behind", &behind)] {
            f.frame_image(0)
                .unwrap()
                .save(Path::new(&dir).join(format!("{name}.png")))
                .unwrap();
        }
    }
    let w = splats.width() as usize;
    let h = splats.height() as usize;
    let pixel = |f: &Frames, x: usize, y: usize| {
        let i = (y * w + x) * 3;
        [f.as_bytes()[i], f.as_bytes()[i + 1], f.as_bytes()[i + 2]]
    };
    let differs = |a: [u8; 3], b: [u8; 3]| a.iter().zip(&b).any(|(x, y)| x.abs_diff(*y) > 8);
    // First camera (frame 0), looking down −z at the origin: left of centre lies behind the square's area.
    let (left, right) = ((w / 2 - 8, h / 2), (w / 2 + 8, h / 2));
    assert!(
        pixel(&splats, left.0, left.1).iter().any(|&v| v > 10),
        "the splats are drawn"
    );
    // In front: the square hides the splats on the left, the right is the splats'.
    assert!(differs(
        pixel(&front, left.0, left.1),
        pixel(&splats, left.0, left.1)
    ));
    assert!(!differs(
        pixel(&front, right.0, right.1),
        pixel(&splats, right.0, right.1)
    ));
    // Behind: the opaque blob hides the square, which shows only beyond the blob's edge.
    assert!(!differs(
        pixel(&behind, left.0, left.1),
        pixel(&splats, left.0, left.1)
    ));
    let beyond = (w * 3 / 10, h / 2);
    assert!(
        differs(
            pixel(&behind, beyond.0, beyond.1),
            pixel(&splats, beyond.0, beyond.1)
        ),
        "the square shows past the blob"
    );
}
