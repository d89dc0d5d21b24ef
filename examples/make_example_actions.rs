//! Writes the example action files for the bundled room under `assets/examples/` (keyframed camera and hand,
//! 49 frames at 8 fps).
//!
//!     cargo run --no-default-features --example make_example_actions

use glam::{Affine3A, Mat3, Quat, Vec3};
use handtwin::action::{
    Action, CameraKeyframe, CameraPath, HandKeyframe, HandTrack, Intrinsics, ManoPose, WristFrame,
};
use handtwin::hand::Side;

fn look_at(eye: Vec3, target: Vec3) -> Affine3A {
    let forward = (target - eye).normalize();
    let right = forward.cross(Vec3::Y).normalize();
    Affine3A::from_rotation_translation(
        Quat::from_mat3(&Mat3::from_cols(right, right.cross(forward), -forward)),
        eye,
    )
}

/// Fingers curled by `curl` radians at every flexion joint (about MANO's z), thumb half as much.
fn curled(curl: f32, global_orient: [f32; 3]) -> ManoPose {
    let mut hand_pose = [[0.0; 3]; 15];
    for (joint, rotation) in hand_pose.iter_mut().enumerate() {
        let amount = if joint >= 12 { 0.5 * curl } else { curl };
        *rotation = [0.0, 0.0, amount];
    }
    ManoPose {
        global_orient,
        hand_pose,
    }
}

fn main() -> anyhow::Result<()> {
    let mug = Vec3::new(0.23, 0.8, -1.2);
    let camera = CameraPath::new(vec![
        CameraKeyframe::new(0.0, look_at(Vec3::new(0.4, 1.6, 0.3), mug), Intrinsics::DWM),
        CameraKeyframe::new(
            3.0,
            look_at(Vec3::new(0.35, 1.52, -0.3), mug),
            Intrinsics::DWM,
        ),
        CameraKeyframe::new(
            6.0,
            look_at(Vec3::new(0.3, 1.45, -0.6), mug),
            Intrinsics::DWM,
        ),
    ])?;
    // The right hand reaches from beside the body to the mug and closes around it (world frame: it stays on the
    // mug while the head keeps moving).
    let palm_down = Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2)
        .to_scaled_axis()
        .to_array();
    let right = HandTrack::new(
        Side::Right,
        vec![0.0; 10],
        WristFrame::World,
        vec![
            HandKeyframe {
                time: 0.0,
                pose: curled(0.1, palm_down),
                wrist_translation: [0.5, 1.05, -0.2],
            },
            HandKeyframe {
                time: 3.5,
                pose: curled(0.2, palm_down),
                wrist_translation: [0.35, 0.92, -0.95],
            },
            HandKeyframe {
                time: 6.0,
                pose: curled(0.9, palm_down),
                wrist_translation: [0.3, 0.86, -1.12],
            },
        ],
    )?;
    let mut action = Action::new(camera);
    action.right = Some(right);
    action.prompt = "a right hand reaches for the mug on the table and grasps it".into();
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/examples/reach_for_mug.action.json");
    action.save(&file)?;
    println!("wrote {}", file.display());
    Ok(())
}
