//! Each importer reads its committed sample into our world frame: a known camera position and viewing direction
//! per format (world +Y up; cameras look down their −Z).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use glam::Vec3;
use handtwin::action::import::{SourceUp, aria, colmap, hands, nerfstudio};
use handtwin::action::{Action, CameraFrame, TimeWindow, interpolate::quat_from_axis_angle};
use handtwin::hand::Side;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/action")
        .join(name)
}

fn close(a: Vec3, b: Vec3) -> bool {
    (a - b).length() < 1e-4
}

fn position(frame: &CameraFrame) -> Vec3 {
    frame.world_from_camera.translation.into()
}

fn forward(frame: &CameraFrame) -> Vec3 {
    frame.world_from_camera.transform_vector3(Vec3::NEG_Z)
}

fn up(frame: &CameraFrame) -> Vec3 {
    frame.world_from_camera.transform_vector3(Vec3::Y)
}

#[test]
fn aria_trajectory_with_calibration() {
    let device_from_camera =
        aria::load_device_from_camera(&fixture("aria_online_calibration.jsonl"), "camera-rgb")
            .unwrap();
    assert!(close(
        device_from_camera.translation.into(),
        Vec3::new(0.0, 0.0, 0.05)
    ));
    let options = aria::AriaOptions {
        device_from_camera,
        upright: false,
        ..Default::default()
    };
    let path =
        aria::load_trajectory(&fixture("aria_closed_loop_trajectory.csv"), &options).unwrap();
    assert_eq!(path.keyframes().len(), 3);
    assert!((path.keyframes()[2].time - 0.2).abs() < 1e-9);
    let first = path.sample(0.0);
    // The device sits at (1, 2, 3) in Aria's Z-up world looking along +X; the RGB camera is 5 cm ahead of it.
    assert!(
        close(position(&first), Vec3::new(1.05, 3.0, -2.0)),
        "{}",
        position(&first)
    );
    assert!(close(forward(&first), Vec3::X), "{}", forward(&first));
    assert!(close(up(&first), Vec3::Y), "{}", up(&first));
    // Upright turns the camera about its optical axis only.
    let upright = aria::load_trajectory(
        &fixture("aria_closed_loop_trajectory.csv"),
        &aria::AriaOptions {
            upright: true,
            ..options
        },
    )
    .unwrap();
    let turned = upright.sample(0.0);
    assert!(close(forward(&turned), Vec3::X) && close(position(&turned), position(&first)));
    assert!(close(up(&turned), Vec3::NEG_Z), "{}", up(&turned));
}

#[test]
fn nerfstudio_transforms_and_camera_path() {
    let path =
        nerfstudio::load_transforms(&fixture("nerfstudio_transforms.json"), SourceUp::Z, 8.0)
            .unwrap();
    // frame_2 before frame_10 (natural order); it overrides fl_x.
    let first = path.sample(0.0);
    assert!(
        close(position(&first), Vec3::new(1.0, 3.0, -2.0)),
        "{}",
        position(&first)
    );
    assert!(close(forward(&first), Vec3::NEG_Z), "{}", forward(&first));
    assert!(close(up(&first), Vec3::Y));
    assert_eq!(
        (
            first.intrinsics.fx,
            first.intrinsics.fy,
            first.intrinsics.width
        ),
        (400.0, 500.0, 640)
    );
    assert!(close(
        position(&path.sample(0.125)),
        Vec3::new(1.0, 3.0, -2.5)
    ));

    let path =
        nerfstudio::load_camera_path(&fixture("nerfstudio_camera_path.json"), SourceUp::Z).unwrap();
    let first = path.sample(0.0);
    assert!(close(position(&first), Vec3::new(1.0, 3.0, -2.0)));
    assert!(close(forward(&first), Vec3::NEG_Z));
    assert_eq!(
        (first.intrinsics.width, first.intrinsics.height),
        (720, 480)
    );
    assert!((first.intrinsics.vertical_fov_degrees() - 60.0).abs() < 1e-3);
    assert!(close(
        position(&path.sample(0.125)),
        Vec3::new(2.0, 3.0, -2.0)
    ));
}

#[test]
fn colmap_images_and_cameras() {
    let path = colmap::load(
        &fixture("colmap_images.txt"),
        &fixture("colmap_cameras.txt"),
        SourceUp::Y,
        8.0,
    )
    .unwrap();
    let first = path.sample(0.0);
    // img_2 (camera 1, PINHOLE) comes before img_10; COLMAP's camera looks along its +z, here world +Z.
    assert!(
        close(position(&first), Vec3::new(1.0, 2.0, 3.0)),
        "{}",
        position(&first)
    );
    assert!(close(forward(&first), Vec3::Z), "{}", forward(&first));
    assert!(close(up(&first), Vec3::NEG_Y));
    assert_eq!(
        (
            first.intrinsics.fx,
            first.intrinsics.fy,
            first.intrinsics.cx
        ),
        (500.0, 510.0, 320.0)
    );
    let second = path.sample(0.125);
    assert!(close(position(&second), Vec3::new(0.0, 2.0, 3.0)));
    assert_eq!(second.intrinsics.fx, 450.0);
    // −Y up: a half turn about x makes the camera upright.
    let upright = colmap::load(
        &fixture("colmap_images.txt"),
        &fixture("colmap_cameras.txt"),
        SourceUp::NegY,
        8.0,
    )
    .unwrap();
    let first = upright.sample(0.0);
    assert!(close(position(&first), Vec3::new(1.0, -2.0, -3.0)));
    assert!(close(forward(&first), Vec3::NEG_Z) && close(up(&first), Vec3::Y));
}

#[test]
fn hamer_frames_become_an_opengl_camera_track() {
    let track = hands::load_hamer(&fixture("hamer_frames.json"), Side::Right, 8.0).unwrap();
    assert_eq!(track.keyframes().len(), 2, "the left-hand frame is skipped");
    let first = track.sample(0.0);
    // Wrist = keypoint 0 + cam_t in OpenCV, (0.11, 0.2, 0.5) → OpenGL (0.11, −0.2, −0.5).
    assert!(close(
        first.frame_from_hand.translation.into(),
        Vec3::new(0.11, -0.2, -0.5)
    ));
    // An identity orientation in OpenCV is a half turn about x in OpenGL.
    assert!(
        first
            .frame_from_hand
            .matrix3
            .y_axis
            .abs_diff_eq(Vec3::NEG_Y.into(), 1e-5)
    );
    assert_eq!(first.pose.hand_pose[1], [0.0, 0.0, 0.4]);
    assert_eq!(track.betas(), &[0.1; 10]);
    // The left-hand frame is marked mirrored: its wrist (keypoint 0 + cam_t = (0.01, 0, 1)) flips in x, and its
    // 0.3 rad turn about y becomes −0.3.
    let left = hands::load_hamer(&fixture("hamer_frames.json"), Side::Left, 8.0).unwrap();
    let sample = left.sample(0.0);
    assert!(close(
        sample.frame_from_hand.translation.into(),
        Vec3::new(-0.01, 0.0, -1.0)
    ));
    assert_eq!(left.keyframes()[0].pose.hand_pose[0], [0.0, -0.3, 0.0]);
}

#[test]
fn hot3d_track_with_a_pca_basis() {
    // A stand-in basis (the real one is MANO's, licensed): coefficient k bends joint k about z.
    let basis = |pca: &[f32]| -> Result<[[f32; 3]; 15], String> {
        let mut pose = [[0.0; 3]; 15];
        for (joint, c) in pose.iter_mut().zip(pca) {
            joint[2] = *c;
        }
        Ok(pose)
    };
    let right = hands::load_hot3d(
        &fixture("hot3d_mano_hand_pose_trajectory.jsonl"),
        Side::Right,
        SourceUp::Z,
        &basis,
    )
    .unwrap();
    assert_eq!(right.keyframes().len(), 2);
    let first = right.sample(0.0);
    assert!(close(
        first.frame_from_hand.translation.into(),
        Vec3::new(0.1, 0.3, -0.2)
    ));
    assert_eq!(first.pose.hand_pose[0], [0.0, 0.0, 0.1]);
    assert!((right.keyframes()[1].time - 0.033357272).abs() < 1e-9);
    // The wrist turned 90° about the source's +z (up): its x axis points along source +y, which is our −z.
    let turned = quat_from_axis_angle(right.keyframes()[1].pose.global_orient);
    assert!(close(turned * Vec3::X, Vec3::NEG_Z), "{}", turned * Vec3::X);
    let left = hands::load_hot3d(
        &fixture("hot3d_mano_hand_pose_trajectory.jsonl"),
        Side::Left,
        SourceUp::Z,
        &basis,
    )
    .unwrap();
    assert_eq!(left.keyframes().len(), 1);
}

#[test]
fn imported_tracks_resample_into_an_action_that_round_trips() {
    let camera =
        nerfstudio::load_camera_path(&fixture("nerfstudio_camera_path.json"), SourceUp::Z).unwrap();
    let right = hands::load_hamer(&fixture("hamer_frames.json"), Side::Right, 8.0).unwrap();
    let window = TimeWindow {
        start: 0.0,
        duration: Some(0.5),
    };
    let mut action = Action::new(camera.resampled(window, 49, 8.0).unwrap());
    action.right = Some(right.resampled(window, 49, 8.0).unwrap());
    assert_eq!(action.camera_frames().len(), 49);
    let hands = action.hands_in_camera();
    assert_eq!(hands.len(), 49);
    assert!(close(
        hands[48][0].camera_from_hand.translation.into(),
        Vec3::new(0.11, -0.2, -0.6)
    ));
    let again = Action::parse(&action.to_json(), Path::new("x.json")).unwrap();
    assert_eq!(again, action);
}

#[test]
fn hamer_npz_reads_like_the_same_frames_in_json() {
    // The same four frames (one of them a left hand) as stacked arrays and as a JSON frame list.
    let npz = hands::load_hamer(&fixture("hamer_stacked.npz"), Side::Right, 8.0).unwrap();
    let json = hands::load_hamer(&fixture("hamer_stacked.json"), Side::Right, 8.0).unwrap();
    assert_eq!(npz.keyframes().len(), 3);
    for (a, b) in npz.keyframes().iter().zip(json.keyframes()) {
        assert!((a.time - b.time).abs() < 1e-9);
        for (x, y) in a
            .pose
            .hand_pose
            .iter()
            .flatten()
            .zip(b.pose.hand_pose.iter().flatten())
        {
            assert!((x - y).abs() < 1e-5);
        }
        for (x, y) in a.wrist_translation.iter().zip(&b.wrist_translation) {
            assert!((x - y).abs() < 1e-5);
        }
    }
}
