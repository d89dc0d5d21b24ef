//! `handtwin bench` and `handtwin parity`, the two commands `tools/gpu-check.sh` runs on a GPU, through their
//! CPU path: the bench at the tiny model's shapes with random weights, the parity runner on committed cases.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use std::process::Command;

fn handtwin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn bench_times_every_offload_setting_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let shapes = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tiny_model/model"
    );
    let output = handtwin(&[
        "bench",
        "--shapes",
        shapes,
        "--size",
        "96x64",
        "--frames",
        "9",
        "--steps",
        "2",
        "--offload",
        "none,model,sequential",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs = report["runs"].as_array().unwrap();
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r["offload"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["none", "model", "sequential"]);
    for run in runs {
        let step = run["step_s"].as_f64().unwrap();
        let clip = run["clip_50_steps_s"].as_f64().unwrap();
        assert!(step > 0.0 && clip > 50.0 * step, "{run}");
        // No driver on the CPU: device memory is null, the estimate is there.
        assert!(run["device_peak_bytes"].is_null(), "{run}");
        assert!(run["estimated_peak_bytes"].as_u64().unwrap() > 0, "{run}");
    }
    assert!(report["parameters"]["transformer"].as_u64().unwrap() > 0);
    assert!(report["parameters"]["vae"].as_u64().unwrap() > 0);

    // One step cannot separate the step from the VAE encode.
    let output = handtwin(&[
        "bench", "--shapes", shapes, "--size", "96x64", "--steps", "1",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 2"));
}

#[test]
fn parity_command_runs_cases_and_fails_on_a_tight_bar() {
    let cases = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/parity");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("parity.json");
    let case = format!("{cases}/transformer_odd_grid");
    let output = handtwin(&["parity", &case, "--json", json.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("PASS transformer_odd_grid"), "{stdout}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(results[0]["passed"], true);
    // A bar below float32's own rounding fails the same case.
    let output = handtwin(&["parity", &case, "--rtol", "1e-12"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("FAIL transformer_odd_grid"));
    // bf16 on the CPU is refused with the reason.
    let output = handtwin(&["parity", &case, "--dtype", "bf16"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("bf16 needs a GPU"));
}

/// The Wan family's bench from a Wan folder's shapes (what `--shapes wan2.1-fun-14b` runs at full size on a GPU).
#[test]
fn bench_times_a_wan_folder() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("wan.json");
    let shapes = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tiny_wan_model/model"
    );
    let output = handtwin(&[
        "bench",
        "--shapes",
        shapes,
        "--size",
        "96x64",
        "--frames",
        "17",
        "--offload",
        "none,sequential",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        assert!(run["step_s"].as_f64().unwrap() > 0.0, "{run}");
    }
    // The tiny Wan transformer: 1.73 M parameters with the 52-channel patch embedding.
    let transformer = report["parameters"]["transformer"].as_u64().unwrap();
    assert!(
        (1_700_000..1_800_000).contains(&transformer),
        "{transformer}"
    );
}
