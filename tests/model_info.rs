//! `handtwin model-info` on the tiny model fixture (tools/make_tiny_model.py).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use std::process::Command;

#[test]
fn model_info_reports_components_lora_and_memory() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny_model");
    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args([
            "model-info",
            &format!("{fixture}/model"),
            "--lora",
            &format!("{fixture}/lora"),
            "--size",
            "96x64",
            "--frames",
            "9",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for needle in [
        "CogVideoXFunInpaintPipeline",
        "in_channels=33",
        "scaling_factor=0.7",
        "prediction_type=\"v_prediction\"",
        "rank 4, 8 target layers",
        "transformer.patch_embed.proj.weight [32, 49, 2, 2]",
        "transformer tokens                  88",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }

    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(["model-info", fixture])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("model_index.json"), "{stderr}");
}

#[test]
fn model_info_prints_every_offload_peak_at_the_real_shapes() {
    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args([
            "model-info",
            "--shapes",
            "cogvideox-5b",
            "--device-memory",
            "12",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // 226 text tokens + 13 latent frames × 30 × 45 patches; three settings, only the offloaded fit 12 GiB.
    assert!(
        stdout.contains("transformer tokens                  17776"),
        "{stdout}"
    );
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name) && l.contains("peak in the"))
            .unwrap_or_else(|| panic!("no {name} line in\n{stdout}"))
            .to_string()
    };
    assert!(line("none").ends_with("does not fit"), "{stdout}");
    assert!(line("sequential").ends_with("  fits"), "{stdout}");

    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(["model-info", "--shapes", "cogvideox-50b"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cogvideox-5b"));
}
