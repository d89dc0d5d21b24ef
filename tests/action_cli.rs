//! `handtwin action import` end to end: files in, a resampled action file out, bad input refused clearly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use handtwin::action::Action;
use std::path::Path;
use std::process::Command;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/action")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn imports_aria_with_a_hamer_hand_into_a_clip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.json");
    let status = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(["action", "import", "--camera"])
        .arg(fixture("aria_closed_loop_trajectory.csv"))
        .arg("--calibration")
        .arg(fixture("aria_online_calibration.jsonl"))
        .arg("--right")
        .arg(fixture("hamer_frames.json"))
        .args([
            "--start",
            "0.05",
            "--duration",
            "0.1",
            "--frames",
            "5",
            "--fps",
            "8",
            "--prompt",
            "wave",
        ])
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let action = Action::load(&out).unwrap();
    assert_eq!(
        (action.frame_count, action.fps, action.prompt.as_str()),
        (5, 8.0, "wave")
    );
    assert_eq!(action.camera.keyframes().len(), 5);
    // Source time 0.05 s: the device is halfway between x = 1.0 and 1.1; the camera is 5 cm ahead along +x.
    let first = action.camera_frames()[0];
    assert!((first.world_from_camera.translation.x - 1.1).abs() < 1e-4);
    assert_eq!(action.hands_in_camera()[4].len(), 1);
}

#[test]
fn refuses_an_aria_trajectory_without_an_extrinsic() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(["action", "import", "--camera"])
        .arg(fixture("aria_closed_loop_trajectory.csv"))
        .arg("--out")
        .arg(dir.path().join("a.json"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--calibration"));
    assert!(!dir.path().join("a.json").exists());
}
