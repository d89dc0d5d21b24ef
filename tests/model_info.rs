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

#[test]
fn model_info_reads_a_wan_folder_and_the_real_wan_shapes() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny_wan_model");
    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args([
            "model-info",
            &format!("{fixture}/model"),
            "--lora",
            &format!("{fixture}/lora"),
            "--size",
            "96x64",
            "--frames",
            "17",
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
        "family: Wan 2.1",
        "in 2 file(s)",
        "model_type=\"i2v\"",
        "rank 4, 32 target layers",
        "patch_embedding.weight [32, 52, 1, 2, 2]",
        // 5 latent frames of 4×6 patches; the context is 257 image + 512 text tokens.
        "transformer tokens                  120 (self-attention), cross-attention to 769 context tokens",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }

    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args([
            "model-info",
            "--shapes",
            "wan2.1-fun-14b",
            "--device-memory",
            "80",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for needle in [
        "transformer tokens                  17550",
        "one attention chunk (1 head, 1024 queries)",
        "for 50 steps",
        "on an H100 in bf16",
        "sequential",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
}
