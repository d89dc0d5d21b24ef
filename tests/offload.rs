//! `--offload none|model|sequential` moves weights, never changes them: the same model generates the same clip
//! bit for bit whichever way its weights are placed (on the CPU here, through the very code paths a GPU run
//! takes: weights parked, merged with the LoRA, networks built per phase, transformer blocks streamed). And a
//! run that cannot fit is refused before loading, with the estimate and the settings that would fit.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

#[path = "common/clip.rs"]
mod common_clip;
use common_clip::clip;

use candle_core::{DType, Device};
use handtwin::worker::{DwmLoader, ModelLoader as _, ModelSpec};
use handtwin::world_model::offload::Offload;
use handtwin::world_model::pipeline::{DwmModel, Sampling};
use std::path::PathBuf;

fn fixture() -> (PathBuf, PathBuf) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_model");
    (root.join("model"), root.join("lora"))
}

#[test]
fn every_offload_setting_generates_the_same_clip() {
    let (model_dir, lora) = fixture();
    let sampling = Sampling {
        steps: 2,
        guidance_scale: 6.0,
        seed: 11,
    };
    let (static_video, hand_video) = (clip(0), clip(40));
    let mut outputs = Vec::new();
    for offload in Offload::ALL {
        let mut model =
            DwmModel::load_with(&model_dir, Some(&lora), &Device::Cpu, DType::F32, offload)
                .unwrap();
        assert_eq!(model.offload(), offload);
        assert_eq!(model.networks().is_ok(), offload == Offload::None);
        let video = model
            .generate(
                &static_video,
                &hand_video,
                "open the drawer",
                sampling,
                &mut |_, _| true,
            )
            .unwrap()
            .unwrap();
        let reconstruction = model.reconstruct(&static_video).unwrap();
        outputs.push((offload, video, reconstruction));
    }
    let (_, reference, reference_reconstruction) = &outputs[0];
    for (offload, video, reconstruction) in &outputs[1..] {
        assert_eq!(
            video.as_bytes(),
            reference.as_bytes(),
            "--offload {offload} changed the generated clip"
        );
        assert_eq!(
            reconstruction.as_bytes(),
            reference_reconstruction.as_bytes(),
            "--offload {offload} changed the reconstruction"
        );
    }
}

#[test]
fn a_device_too_small_is_refused_before_loading_with_what_would_fit() {
    let (model_dir, lora) = fixture();
    let estimate =
        handtwin::world_model::memory::estimate_for_directory(&model_dir, Some(&lora), 4)
            .unwrap()
            .unwrap();
    let (none, _) = estimate.peak(Offload::None);
    let (sequential, _) = estimate.peak(Offload::Sequential);
    assert!(sequential < none, "{sequential} {none}");
    let spec = |offload, bytes: usize| ModelSpec {
        directory: model_dir.clone(),
        lora: Some(lora.clone()),
        device: "cpu".into(),
        dtype: "f32".into(),
        offload,
        device_memory: Some(bytes as u64),
    };
    // A fake device between the two peaks: none is refused, naming its peak and a setting that fits.
    let between = (none + sequential) / 2;
    let error = DwmLoader
        .load(&spec(Offload::None, between))
        .err()
        .expect("a device smaller than the peak must be refused");
    assert!(error.contains("tiny_model/model"), "{error}");
    assert!(error.contains("with --offload none"), "{error}");
    assert!(error.contains("--offload sequential (about"), "{error}");
    // The same device with a setting that fits loads.
    assert!(DwmLoader.load(&spec(Offload::Sequential, between)).is_ok());
    // Nothing fits a device of one byte.
    let error = DwmLoader.load(&spec(Offload::Sequential, 1)).err().unwrap();
    assert!(error.contains("no offload setting fits"), "{error}");
}

/// DWM's loop on a parity case (diffusers' outputs), with the transformer streaming its blocks from parked
/// weights and the VAE built from parked weights, as `--offload sequential` runs them: within the case's bar.
#[test]
fn the_offloaded_networks_pass_the_dwm_pipeline_parity_case() {
    use handtwin::world_model::ConfigFile as _;
    use handtwin::world_model::offload::ParkedWeights;
    use handtwin::world_model::parity::{CaseFiles, relative_error};
    use handtwin::world_model::pipeline::{DwmNetworks, SamplingInputs, sample};
    use handtwin::world_model::scheduler::DdimConfig;
    use handtwin::world_model::transformer::{CogVideoXTransformer3DModel, TransformerConfig};
    use handtwin::world_model::vae::{AutoencoderKLCogVideoX, VaeConfig};

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parity/dwm_pipeline_2steps_cfg6");
    let case = CaseFiles::load(&dir).unwrap();
    let config: serde_json::Value = serde_json::from_str(&case.config_text().unwrap().0).unwrap();
    let transformer_config =
        TransformerConfig::from_json(&config["transformer"].to_string(), "case").unwrap();
    let vae_config = VaeConfig::from_json(&config["vae"].to_string(), "case").unwrap();
    let scheduler = DdimConfig::from_json(&config["scheduler"].to_string(), "case").unwrap();
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let parked = ParkedWeights::new(tensors, DType::F32);
    let vb = parked.var_builder(&Device::Cpu);
    let transformer = CogVideoXTransformer3DModel::new_streamed(
        &transformer_config,
        vb.pp("transformer"),
        vb.pp("transformer"),
    )
    .unwrap();
    let vae = AutoencoderKLCogVideoX::new(&vae_config, vb.pp("vae")).unwrap();
    let networks = DwmNetworks {
        vae: &vae,
        transformer: &transformer,
        transformer_config: &transformer_config,
        scheduler: &scheduler,
        scaling_factor: vae_config.scaling_factor,
    };
    let inputs = SamplingInputs {
        static_video: case.tensor("static_video").unwrap(),
        hand_video: case.tensor("hand_video").unwrap(),
        prompt_embeds: case.tensor("prompt_embeds").unwrap(),
        negative_prompt_embeds: case.tensor("negative_prompt_embeds").unwrap(),
        initial_noise: case.tensor("initial_noise").unwrap(),
        hand_posterior_eps: case.tensor("hand_posterior_eps").unwrap(),
        steps: 2,
        guidance_scale: 6.0,
    };
    let video = sample(&networks, &inputs, &mut |_, _| true)
        .unwrap()
        .unwrap();
    let error = relative_error(&video, case.tensor("video").unwrap()).unwrap();
    assert!(error <= case.rtol, "streamed: {error} > {}", case.rtol);
}
