//! Runs every committed VAE parity case (tests/fixtures/parity/vae_*) against diffusers' outputs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use handtwin::world_model::ConfigFile as _;
use handtwin::world_model::vae::parity::run_parity_case;
use std::path::PathBuf;

#[test]
fn vae_parity_cases_pass() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixture folder")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vae_"))
        })
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 10,
        "expected the committed VAE cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(case.join("case.json")).expect("case.json");
        let settings: serde_json::Value = serde_json::from_str(&text).expect("case.json is JSON");
        let component = settings["component"].as_str().expect("component");
        let rtol = settings["rtol"].as_f64().expect("rtol") as f32;
        let results = run_parity_case(
            component,
            case,
            &settings,
            &candle_core::Device::Cpu,
            candle_core::DType::F32,
        )
        .unwrap_or_else(|e| panic!("{}: {e:#}", case.display()));
        assert!(!results.is_empty());
        for (name, error) in results {
            let name = format!("{}/{name}", case.file_name().unwrap().to_string_lossy());
            println!("{name}: worst relative error {error:.3e} (rtol {rtol:.0e})");
            if error.is_nan() || error > rtol {
                failures.push(format!("{name}: {error:.3e} > {rtol:.0e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "parity failures:\n{}",
        failures.join("\n")
    );
}

/// The same network in f16 (weights and activations): checks that every op is dtype-generic and that the
/// half-precision result stays near the float32 reference. (bf16 is for GPUs: candle's CPU backend has no bf16
/// matmul.)
#[test]
fn vae_runs_in_half_precision() {
    use candle_core::{DType, Device};
    use handtwin::world_model::vae::{AutoencoderKLCogVideoX, VaeConfig};
    let case =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity/vae_decode_5t_3x5");
    let config = VaeConfig::from_file(&case.join("config.json")).unwrap();
    let io = candle_core::safetensors::load(case.join("io.safetensors"), &Device::Cpu).unwrap();
    let reference = &io["sample"];
    {
        let dtype = DType::F16;
        let weights =
            candle_core::safetensors::load(case.join("model.safetensors"), &Device::Cpu).unwrap();
        let vb = candle_nn::VarBuilder::from_tensors(weights, dtype, &Device::Cpu);
        let vae = AutoencoderKLCogVideoX::new(&config, vb).unwrap();
        let decoded = vae.decode(&io["latents"].to_dtype(dtype).unwrap()).unwrap();
        assert_eq!(decoded.dtype(), dtype);
        let error = run_relative(&decoded, reference);
        println!("{dtype:?}: relative error {error:.3e}");
        assert!(error < 0.05, "{dtype:?}: {error}");
    }
}

fn run_relative(ours: &candle_core::Tensor, reference: &candle_core::Tensor) -> f32 {
    handtwin::world_model::vae::parity::relative_error(ours, reference).unwrap()
}
