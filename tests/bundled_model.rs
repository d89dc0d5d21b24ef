//! The bundled tiny DWM (models/tiny-dwm): it is present, `handtwin generate` uses it when no model is named, and
//! it has learned DWM's identity prior — with no hands in the hand video, the bundled room rendered along a camera
//! path comes back nearly unchanged ("the rest stays put").
// Needs the `render` feature (default on): it renders its sample with `handtwin render`.
#![cfg(feature = "render")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

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
    let output = handtwin(&[
        "generate",
        "--sample",
        &sample,
        "--output",
        "generated",
        "--out",
        &generated,
    ]);
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
    // It must follow this scene: much closer to it than to the same scene mirrored left-right.
    let input =
        DwmSample::read(std::path::Path::new(&out), "pan_right", &Ffmpeg::from_env()).unwrap();
    let psnr = handtwin::video::psnr(&video, &input.static_video).unwrap();
    let mirrored = mirror(&input.static_video);
    let psnr_mirrored = handtwin::video::psnr(&video, &mirrored).unwrap();
    eprintln!(
        "generated vs static without hands: {psnr:.2} dB (vs the mirrored scene {psnr_mirrored:.2} dB)"
    );
    assert!(psnr > MIN_IDENTITY_PSNR, "{psnr:.2} dB");
    assert!(
        psnr > psnr_mirrored + 3.0,
        "{psnr:.2} dB vs mirrored {psnr_mirrored:.2} dB"
    );

    // The default output, the residual composite: with no hands anywhere nothing may change, so it is the static
    // video (up to the mp4 encoding of both).
    let composite = format!("{out}/composite.mp4");
    let output = handtwin(&["generate", "--sample", &sample, "--out", &composite]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let composite = read_video(std::path::Path::new(&composite)).unwrap();
    let composite_psnr = handtwin::video::psnr(&composite, &input.static_video).unwrap();
    eprintln!("composite vs static without hands: {composite_psnr:.2} dB");
    assert!(composite_psnr > 40.0, "{composite_psnr:.2} dB");
}

fn mirror(frames: &handtwin::video::Frames) -> handtwin::video::Frames {
    let (w, h) = (frames.width() as usize, frames.height() as usize);
    let mut bytes = frames.as_bytes().to_vec();
    for row in bytes.chunks_exact_mut(w * 3) {
        let pixels: Vec<[u8; 3]> = row
            .chunks_exact(3)
            .rev()
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        for (slot, pixel) in row.chunks_exact_mut(3).zip(pixels) {
            slot.copy_from_slice(&pixel);
        }
    }
    debug_assert_eq!(bytes.len(), w * h * 3 * frames.frame_count());
    handtwin::video::Frames::new(frames.width(), frames.height(), frames.fps(), bytes).unwrap()
}

/// The shipped (seventh) model measured 19.8 dB here (12.8 dB against the mirrored scene), its previous versions 18.5,
/// 19.0, 19.5, 19.7, 18.8 and 18.7 (the bundled room is not one of the training rooms, and the clip goes through 192×128 → 96×64 → 192×128);
/// the bound leaves a margin.
const MIN_IDENTITY_PSNR: f64 = 16.0;
