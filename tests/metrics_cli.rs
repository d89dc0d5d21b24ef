//! `handtwin metrics A B` on two fixture PNGs (tests/fixtures/metrics): each `--metric` prints the reference
//! packages' number, the full report has every line, and a size mismatch is refused unless `--resize`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metrics")
        .join(name)
}

fn handtwin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .arg("metrics")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn metrics_prints_the_reference_numbers() {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    let expected: Value = serde_json::from_str(&text).unwrap();
    let pair = &expected["pairs"][0];
    let a = fixture(pair["a"].as_str().unwrap());
    let b = fixture(pair["b"].as_str().unwrap());
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let mut metrics = vec![
        ("psnr", "psnr"),
        ("ssim", "ssim_torchmetrics"),
        ("ssim-skimage", "ssim_skimage"),
        ("lpips-alex", "lpips_alex"),
    ];
    let vgg_present = handtwin_lib_has_vgg();
    if vgg_present {
        metrics.push(("lpips-vgg", "lpips_vgg"));
    }
    for (metric, key) in metrics {
        let printed = stdout(&handtwin(&[a, b, "--metric", metric]));
        let ours: f64 = printed.trim().parse().unwrap();
        let reference = pair[key].as_f64().unwrap();
        assert!(
            (ours - reference).abs() < 1e-4,
            "{metric}: printed {ours}, reference {reference}"
        );
    }
    let report = stdout(&handtwin(&[a, b]));
    for line in [
        "PSNR",
        "SSIM (torchmetrics)",
        "SSIM (scikit-image)",
        "LPIPS alex",
        "LPIPS vgg",
    ] {
        assert!(report.contains(line), "{line} missing from:\n{report}");
    }
    assert_eq!(stdout(&handtwin(&[a, a, "--metric", "psnr"])).trim(), "inf");
    assert_eq!(
        stdout(&handtwin(&[a, a, "--metric", "lpips-alex"])).trim(),
        "0.000000"
    );
}

fn handtwin_lib_has_vgg() -> bool {
    handtwin::eval::lpips::weights_path(handtwin::eval::lpips::Backbone::Vgg).is_ok()
}

#[test]
fn metrics_refuses_other_sizes_unless_resized() {
    let a = fixture("64x64_noise_blur_a.png");
    let b = fixture("96x64_noise_blur_b.png");
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let refused = handtwin(&[a, b, "--metric", "psnr"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("96x64_noise_blur_b.png") && stderr.contains("--resize"),
        "{stderr}"
    );
    let resized = stdout(&handtwin(&[a, b, "--resize", "--metric", "ssim"]));
    let value: f64 = resized.trim().parse().unwrap();
    assert!((-1.0..1.0).contains(&value), "{value}");
    let missing = handtwin(&[a, "/nonexistent/b.png"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/b.png"));
}
