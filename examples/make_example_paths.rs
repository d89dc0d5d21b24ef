//! Writes the example camera paths for the bundled room under `assets/examples/` (49 frames at 8 fps, DWM's
//! 720×480 camera with a 90° horizontal field of view).
//!
//!     cargo run --example make_example_paths

use glam::{Affine3A, Mat3, Quat, Vec3};
use handtwin::action::{CameraFrame, DenseCameraPath, Intrinsics};

fn look_at(eye: Vec3, target: Vec3) -> Affine3A {
    let forward = (target - eye).normalize();
    let right = forward.cross(Vec3::Y).normalize();
    Affine3A::from_rotation_translation(
        Quat::from_mat3(&Mat3::from_cols(right, right.cross(forward), -forward)),
        eye,
    )
}

/// Smoothstep, so the head starts and stops gently.
fn ease(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

fn path(frames: usize, pose: impl Fn(f32) -> Affine3A) -> DenseCameraPath {
    DenseCameraPath {
        fps: 8.0,
        frames: (0..frames)
            .map(|i| CameraFrame {
                world_from_camera: pose(i as f32 / (frames - 1) as f32),
                intrinsics: Intrinsics::DWM,
            })
            .collect(),
    }
}

fn main() -> anyhow::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/examples");
    std::fs::create_dir_all(&dir)?;
    let examples = [
        (
            "walk_to_drawers",
            // Walk from the room's centre to the chest of drawers, looking at its top drawer, with a slight bob.
            path(49, |t| {
                let s = ease(t);
                let bob = 0.012 * (t * std::f32::consts::TAU * 3.0).sin();
                let eye = Vec3::new(0.6, 1.6, 0.8).lerp(Vec3::new(-0.6, 1.5 + bob, -1.2), s)
                    + Vec3::Y * bob;
                let target = Vec3::new(-0.4, 0.8, -2.0).lerp(Vec3::new(-0.9, 0.72, -2.05), s);
                look_at(eye, target)
            }),
        ),
        (
            "pan_right",
            // Sidestep to the right, looking straight ahead and a little down.
            path(49, |t| {
                let eye = Vec3::new(-0.6 + 1.2 * ease(t), 1.55, 0.5);
                look_at(eye, eye + Vec3::new(0.0, -0.45, -2.0))
            }),
        ),
        (
            "reach_for_mug",
            // Step up to the table and look down at the mug.
            path(49, |t| {
                let s = ease(t);
                let eye = Vec3::new(0.4, 1.6, 0.3).lerp(Vec3::new(0.3, 1.45, -0.6), s);
                look_at(eye, Vec3::new(0.23, 0.8, -1.2))
            }),
        ),
    ];
    for (name, path) in examples {
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, path.to_json() + "\n")?;
        println!("wrote {}", file.display());
    }
    Ok(())
}
