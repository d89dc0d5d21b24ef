//! The bundled tiny DWM (models/tiny-dwm): it is present, `handtwin generate` uses it when no model is named, and
//! it has learned DWM's identity prior — with no hands in the hand video, the bundled room rendered along a camera
//! path comes back nearly unchanged ("the rest stays put").

use handtwin::video::{DwmSample, Ffmpeg, read_video};
use handtwin::world_model::model_dir::{SamplingDefaults, bundled_model_dir};
use std::process::Command;

fn handtwin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(args)
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .unwrap()
}

#[test]
fn generate_uses_the_bundled_model_and_keeps_a_scene_without_hands() {
    let model = bundled_model_dir().expect("models/tiny-dwm is part of the repository");
    let defaults = SamplingDefaults::for_model(&model).unwrap();
    assert!(defaults.steps >= 1 && defaults.steps <= 50, "{defaults:?}");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_string_lossy().into_owned();
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
        "192x128",
        "--frames",
        "17",
    ]);
    assert!(
        render.status.success(),
        "{}",
        String::from_utf8_lossy(&render.stderr)
    );
    let sample = format!("{out}/pan_right");
    let generated = format!("{out}/generated.mp4");
    let output = handtwin(&["generate", "--sample", &sample, "--out", &generated]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let video = read_video(std::path::Path::new(&generated)).unwrap();
    assert_eq!(
        (video.frame_count(), video.width(), video.height()),
        (17, 192, 128)
    );

    // No hands: the model should give back the static video, up to its VAE and the resizing to 96×64 and back.
    let input =
        DwmSample::read(std::path::Path::new(&out), "pan_right", &Ffmpeg::from_env()).unwrap();
    let psnr = handtwin::video::psnr(&video, &input.static_video).unwrap();
    eprintln!("generated vs static without hands: {psnr:.2} dB");
    assert!(psnr > MIN_IDENTITY_PSNR, "{psnr:.2} dB");
}

/// Set from the measured value of the shipped model (see models/tiny-dwm/README.md) with a margin.
const MIN_IDENTITY_PSNR: f64 = 20.0;
