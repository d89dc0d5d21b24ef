//! DWM's Wan release as it ships, with the tiny random model in its layout (tests/fixtures/tiny_wan_model, made by
//! tools/make_tiny_wan_model.py from diffusers / transformers networks renamed to Wan's keys): the loaders (Wan's
//! key names, the sharded transformer, the .pth VAE and umT5 with shapes read from them, the kohya LoRA merged,
//! the widened patch embedding) reproduce the reference networks' outputs; generation is deterministic for a
//! seed; wrong inputs are refused naming the file or key.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

#[path = "common/clip.rs"]
mod common_clip;
use common_clip::clip;

use candle_core::{DType, Device, Tensor};
use handtwin::world_model::pipeline::{DwmModel, Sampling};
use handtwin::world_model::wan_model::WanDwmModel;
use handtwin::world_model::{ModelFamily, load_model, offload::Offload};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_wan_model")
}

fn load() -> WanDwmModel {
    let root = fixture();
    WanDwmModel::load(
        &root.join("model"),
        Some(&root.join("lora")),
        &Device::Cpu,
        DType::F32,
    )
    .unwrap()
}

fn worst_relative(ours: &Tensor, reference: &Tensor) -> f32 {
    assert_eq!(ours.dims(), reference.dims());
    let difference = (ours - reference)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let scale = reference
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    difference / scale.max(1e-6)
}

#[test]
fn the_release_layout_loads_into_the_reference_networks() {
    let model = load();
    let reference =
        candle_core::safetensors::load(fixture().join("reference.safetensors"), &Device::Cpu)
            .unwrap();
    let (transformer, vae, text_encoder) = model.networks().unwrap();
    assert_eq!(transformer.config().in_channels, 52);
    let image = transformer.zero_image_features(1, DType::F32).unwrap();
    let velocity = transformer
        .forward(
            &reference["hidden_states"],
            &reference["timestep"],
            &reference["encoder_hidden_states"],
            image.as_ref(),
        )
        .unwrap();
    let error = worst_relative(&velocity, &reference["velocity"]);
    eprintln!("transformer with the kohya LoRA merged: worst relative error {error:.3e}");
    assert!(error < 1e-4, "transformer (LoRA merged): {error}");
    let posterior = vae.encode(&reference["video"]).unwrap();
    let error = worst_relative(&posterior.mean, &reference["vae_mean"]);
    eprintln!("VAE from Wan2.1_VAE.pth: worst relative error {error:.3e}");
    assert!(error < 1e-4, "VAE from Wan2.1_VAE.pth: {error}");
    let hidden = text_encoder
        .forward(&reference["input_ids"], &reference["attention_mask"])
        .unwrap();
    let error = worst_relative(&hidden, &reference["umt5_hidden"]);
    eprintln!("umT5 from the .pth: worst relative error {error:.3e}");
    assert!(error < 1e-4, "umT5 from the .pth: {error}");
}

#[test]
fn generation_is_deterministic_for_a_seed_through_the_family_loader() {
    let root = fixture();
    let model_dir = root.join("model");
    assert_eq!(ModelFamily::of_dir(&model_dir), ModelFamily::Wan);
    let mut model = load_model(
        &model_dir,
        Some(&root.join("lora")),
        &Device::Cpu,
        DType::F32,
        Offload::None,
    )
    .unwrap();
    assert_eq!(model.family(), ModelFamily::Wan);
    let (static_video, hand_video) = (clip(0), clip(40));
    let mut run = |seed: u64| {
        let sampling = Sampling {
            steps: 2,
            guidance_scale: 6.0,
            seed,
        };
        model
            .generate(
                &static_video,
                &hand_video,
                "open the drawer",
                sampling,
                &mut |_, _| true,
            )
            .unwrap()
            .unwrap()
    };
    let (first, again, other) = (run(5), run(5), run(6));
    assert_eq!(
        (first.frame_count(), first.width(), first.height()),
        (9, 96, 64)
    );
    assert_eq!(first.as_bytes(), again.as_bytes(), "same seed, same clip");
    assert_ne!(
        first.as_bytes(),
        other.as_bytes(),
        "another seed, another clip"
    );
    // The reconstruction (the composite's reference) has the input's shape.
    let reconstruction = model.reconstruct(&static_video).unwrap();
    assert_eq!(reconstruction.frame_count(), 9);
}

fn load_error(model: &Path, lora: Option<&Path>) -> String {
    match load_model(model, lora, &Device::Cpu, DType::F32, Offload::None) {
        Ok(_) => panic!("{} loaded", model.display()),
        Err(error) => error.to_string(),
    }
}

#[test]
fn the_loader_refuses_the_other_familys_lora_a_wrong_channel_count_and_a_missing_shard() {
    let root = fixture();
    let (model, lora) = (root.join("model"), root.join("lora"));
    let cogvideox = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_model");

    // DWM's CogVideoX LoRA given to the Wan model, and DWM-Wan's LoRA to the CogVideoX model.
    let error = load_error(&model, Some(&cogvideox.join("lora")));
    assert!(
        error.contains("pytorch_lora_weights.safetensors") && error.contains("Wan"),
        "{error}"
    );
    let error = match DwmModel::load(
        &cogvideox.join("model"),
        Some(&lora),
        &Device::Cpu,
        DType::F32,
    ) {
        Ok(_) => panic!("loaded"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("lora_diffusion_pytorch_model"), "{error}");

    // Without the LoRA folder the base transformer takes 36 channels, not DWM's 52.
    let error = load_error(&model, None);
    assert!(
        error.contains("36") && error.contains("52") && error.contains("--lora"),
        "{error}"
    );

    // A kohya module the base lacks is named.
    let dir = tempfile::tempdir().unwrap();
    let bad_lora = dir.path().join("lora");
    std::fs::create_dir(&bad_lora).unwrap();
    std::fs::copy(
        lora.join("non_lora_weights.safetensors"),
        bad_lora.join("non_lora_weights.safetensors"),
    )
    .unwrap();
    let stray = Tensor::zeros((4, 32), DType::F32, &Device::Cpu).unwrap();
    candle_core::safetensors::save(
        &[
            (
                "lora_unet__blocks_7_self_attn_q.lora_down.weight".to_string(),
                stray.clone(),
            ),
            (
                "lora_unet__blocks_7_self_attn_q.lora_up.weight".to_string(),
                stray.t().unwrap().contiguous().unwrap(),
            ),
        ]
        .into_iter()
        .collect(),
        bad_lora.join("lora_diffusion_pytorch_model.safetensors"),
    )
    .unwrap();
    let error = load_error(&model, Some(&bad_lora));
    assert!(error.contains("lora_unet__blocks_7_self_attn_q"), "{error}");

    // A shard listed in the index but missing.
    let copy = dir.path().join("model");
    copy_dir(&model, &copy);
    let shard = "diffusion_pytorch_model-00002-of-00002.safetensors";
    std::fs::remove_file(copy.join(shard)).unwrap();
    let error = load_error(&copy, Some(&lora));
    assert!(error.contains(shard), "{error}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn every_offload_setting_generates_the_same_clip() {
    let root = fixture();
    let (static_video, hand_video) = (clip(0), clip(40));
    let sampling = Sampling {
        steps: 2,
        guidance_scale: 6.0,
        seed: 9,
    };
    let mut outputs = Vec::new();
    for offload in Offload::ALL {
        let mut model = WanDwmModel::load_with(
            &root.join("model"),
            Some(&root.join("lora")),
            &Device::Cpu,
            DType::F32,
            offload,
        )
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
            "--offload {offload}"
        );
        assert_eq!(
            reconstruction.as_bytes(),
            reference_reconstruction.as_bytes(),
            "--offload {offload}"
        );
    }
}
