//! `handtwin generate` end to end on the CPU with the tiny random-weight model in the real diffusers + DWM LoRA
//! layout (tests/fixtures/tiny_model, made by tools/make_tiny_model.py), from a DWM sample folder.
// Needs the `render` feature (default on): they render their samples with `handtwin render`.
#![cfg(feature = "render")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use handtwin::video::{DwmSample, Ffmpeg, read_video};
use std::process::Command;

fn handtwin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn generate_writes_the_video_and_the_comparison() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_string_lossy().into_owned();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny_model");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/examples/pan_right.json"
    );
    let render = handtwin(&[
        "render",
        "--camera-path",
        path,
        "--out",
        &out,
        "--size",
        "96x64",
        "--frames",
        "9",
    ]);
    assert!(
        render.status.success(),
        "{}",
        String::from_utf8_lossy(&render.stderr)
    );
    let sample = format!("{out}/pan_right");
    let generated = format!("{out}/generated.mp4");
    let model = format!("{fixture}/model");
    let lora = format!("{fixture}/lora");
    let run = |seed: &str, file: &str| {
        handtwin(&[
            "generate", "--model", &model, "--lora", &lora, "--sample", &sample, "--steps", "3",
            "--seed", seed, "--out", file,
        ])
    };
    let output = run("7", &generated);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let video = read_video(std::path::Path::new(&generated)).unwrap();
    assert_eq!(
        (video.frame_count(), video.width(), video.height()),
        (9, 96, 64)
    );
    let comparison = read_video(&dir.path().join("generated_comparison.mp4")).unwrap();
    assert_eq!(
        (
            comparison.frame_count(),
            comparison.width(),
            comparison.height()
        ),
        (9, 5 * 96, 64)
    );
    // The same seed repeats the run.
    let again = format!("{out}/again.mp4");
    assert!(run("7", &again).status.success());
    assert_eq!(
        read_video(std::path::Path::new(&again)).unwrap().as_bytes(),
        video.as_bytes()
    );
    let sample = DwmSample::read(dir.path(), "pan_right", &Ffmpeg::from_env()).unwrap();
    assert_eq!(sample.static_video.frame_count(), 9);

    // --output both writes the composite and the raw output beside each other; the default is the composite.
    let both = format!("{out}/both.mp4");
    let output = handtwin(&[
        "generate",
        "--model",
        &model,
        "--lora",
        &lora,
        "--sample",
        &sample_path(&out),
        "--steps",
        "3",
        "--seed",
        "7",
        "--output",
        "both",
        "--out",
        &both,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let composite = read_video(&dir.path().join("both_composite.mp4")).unwrap();
    let raw = read_video(&dir.path().join("both_generated.mp4")).unwrap();
    assert_eq!(composite.as_bytes(), video.as_bytes());
    assert_eq!((raw.frame_count(), raw.width(), raw.height()), (9, 96, 64));
    assert_ne!(raw.as_bytes(), composite.as_bytes());
    assert!(!dir.path().join("both.mp4").exists());
}

fn sample_path(out: &str) -> String {
    format!("{out}/pan_right")
}

#[test]
fn generate_explains_what_is_wrong() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny_model");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_string_lossy().into_owned();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/examples/pan_right.json"
    );
    assert!(
        handtwin(&[
            "render",
            "--camera-path",
            path,
            "--out",
            &out,
            "--size",
            "96x64",
            "--frames",
            "9"
        ])
        .status
        .success()
    );
    let sample = format!("{out}/pan_right");
    // Without the DWM LoRA folder the base transformer takes 33 channels, not DWM's 49.
    let output = handtwin(&[
        "generate",
        "--model",
        &format!("{fixture}/model"),
        "--sample",
        &sample,
        "--out",
        &format!("{out}/x.mp4"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("49"),
        "{stderr}"
    );
    // Sizes that are not multiples of 16.
    assert!(
        handtwin(&[
            "render",
            "--camera-path",
            path,
            "--out",
            &out,
            "--size",
            "90x60",
            "--frames",
            "9",
            "--stem",
            "odd"
        ])
        .status
        .success()
    );
    let output = handtwin(&[
        "generate",
        "--model",
        &format!("{fixture}/model"),
        "--lora",
        &format!("{fixture}/lora"),
        "--sample",
        &format!("{out}/odd"),
        "--out",
        &format!("{out}/y.mp4"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("divisible by 16"),
        "{stderr}"
    );
}

/// The Wan family through the same command: the folder says which family it is (no flag), the DWM-Wan LoRA
/// folder is passed as for CogVideoX, and the residual composite is written.
#[test]
fn generate_runs_a_wan_model_folder_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_string_lossy().into_owned();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny_wan_model");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/examples/pan_right.json"
    );
    let render = handtwin(&[
        "render",
        "--camera-path",
        path,
        "--out",
        &out,
        "--size",
        "96x64",
        "--frames",
        "9",
    ]);
    assert!(
        render.status.success(),
        "{}",
        String::from_utf8_lossy(&render.stderr)
    );
    let (model, lora) = (format!("{fixture}/model"), format!("{fixture}/lora"));
    let run = |seed: &str, file: &str| {
        handtwin(&[
            "generate",
            "--model",
            &model,
            "--lora",
            &lora,
            "--sample",
            &sample_path(&out),
            "--seed",
            seed,
            "--output",
            "both",
            "--out",
            file,
        ])
    };
    let output = run("3", &format!("{out}/wan.mp4"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let raw = read_video(&dir.path().join("wan_generated.mp4")).unwrap();
    let composite = read_video(&dir.path().join("wan_composite.mp4")).unwrap();
    assert_eq!((raw.frame_count(), raw.width(), raw.height()), (9, 96, 64));
    assert_eq!(
        (
            composite.frame_count(),
            composite.width(),
            composite.height()
        ),
        (9, 96, 64)
    );
    assert!(run("3", &format!("{out}/again.mp4")).status.success());
    assert_eq!(
        read_video(&dir.path().join("again_generated.mp4"))
            .unwrap()
            .as_bytes(),
        raw.as_bytes()
    );
}
