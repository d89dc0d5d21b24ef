//! `handtwin render` end to end: the bundled scene along a committed example path, into a DWM sample folder.
// `handtwin render` exists with the render feature: these tests need the `render` feature (default on).
#![cfg(feature = "render")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use handtwin::video::{DwmSample, Ffmpeg};
use std::process::Command;

#[test]
fn render_writes_a_dwm_sample_that_ffprobe_reads() {
    let out = tempfile::tempdir().unwrap();
    let manifest = env!("CARGO_MANIFEST_DIR");
    let status = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(["render", "--camera-path"])
        .arg(format!("{manifest}/assets/examples/pan_right.json"))
        .arg("--out")
        .arg(out.path())
        .args(["--prompt", "Pan across the room."])
        .status()
        .unwrap();
    assert!(status.success());
    let ffmpeg = Ffmpeg::from_env();
    for folder in ["videos_static", "videos_hands"] {
        let info = ffmpeg
            .probe(&out.path().join(folder).join("pan_right.mp4"))
            .unwrap();
        assert_eq!(
            (info.width, info.height, info.frame_count, info.fps),
            (720, 480, Some(49), 8.0),
            "{folder}"
        );
    }
    let sample = DwmSample::read(out.path(), "pan_right", &ffmpeg).unwrap();
    assert_eq!(sample.prompt.as_deref(), Some("Pan across the room."));
    assert_eq!(sample.static_video.frame_count(), 49);
    // No hands given: the hand stream is black (up to compression noise).
    assert!(sample.hand_video.as_bytes().iter().all(|&v| v < 4));
}

#[test]
fn render_reports_bad_inputs_clearly() {
    let out = tempfile::tempdir().unwrap();
    let bad = out.path().join("broken.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(["render", "--camera-path"])
        .arg(&bad)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken.json") && stderr.contains("not a camera-path file"),
        "{stderr}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(["render", "--camera-path"])
        .arg(format!(
            "{}/assets/examples/pan_right.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args(["--scene", "/nonexistent/scene.glb", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/scene.glb"), "{stderr}");
}

#[test]
fn render_takes_an_action_file() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path();
    // A keyframed camera-only action with its own frame count, frame rate and prompt.
    let action = dir.join("look.action.json");
    std::fs::write(
        &action,
        r#"{"format": "handtwin.action", "version": 1, "frame_count": 5, "fps": 4, "prompt": "Look at the chest.",
            "camera": {"keyframes": [
              {"time": 0, "translation": [0.6, 1.6, 0.8], "rotation": [0, 0, 0, 1]},
              {"time": 1, "translation": [0.2, 1.5, 0.0], "rotation": [0, 0.258819, 0, 0.9659258]}]}}"#,
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(["render", "--size", "96x64", "--action"])
        .arg(&action)
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sample = DwmSample::read(dir, "look.action", &Ffmpeg::from_env()).unwrap();
    assert_eq!(sample.static_video.frame_count(), 5);
    assert_eq!(sample.static_video.fps(), 4.0);
    assert_eq!(sample.prompt.as_deref(), Some("Look at the chest."));

    // The committed example has a hand track: it is posed with the bundled hand and drawn in the hand stream.
    let hands_dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args([
            "render",
            "--size",
            "96x64",
            "--frames",
            "3",
            "--hand-model",
            "bundled",
            "--action",
        ])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/examples/reach_for_mug.action.json"
        ))
        .arg("--out")
        .arg(hands_dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sample = DwmSample::read(
        hands_dir.path(),
        "reach_for_mug.action",
        &Ffmpeg::from_env(),
    )
    .unwrap();
    let hand_pixels = sample
        .hand_video
        .as_bytes()
        .chunks_exact(3)
        .filter(|p| p.iter().any(|&c| c > 40))
        .count();
    assert!(hand_pixels > 50, "only {hand_pixels} hand pixels");
}
