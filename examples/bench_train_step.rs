//! Times one training step of each tiny-DWM stage on the CPU, forward and backward separately:
//! `cargo run --release --no-default-features --example bench_train_step [vae_batch] [batch] [heads]`.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use handtwin::world_model::ConfigFile as _;
use handtwin::world_model::t5::{T5Config, T5TextEncoder};
use handtwin::world_model::train::recipe::VAE_CROP;
use handtwin::world_model::train::{
    TrainRng, named_vars, seeded_var_builder, start_t5_norm_scales_at_one, tiny,
};
use handtwin::world_model::transformer::{
    CogVideoXTransformer3DModel, TransformerConfig, rope_tables_for_grid,
};
use handtwin::world_model::vae::{AutoencoderKLCogVideoX, VaeConfig};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    // As the handtwin binary does; HANDTWIN_SYSTEM_MALLOC=1 measures glibc's defaults instead.
    if std::env::var_os("HANDTWIN_SYSTEM_MALLOC").is_none() {
        handtwin::alloc::reuse_freed_memory();
    }
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let vae_batch = args.first().copied().unwrap_or(4);
    let batch = args.get(1).copied().unwrap_or(8);
    let heads = args.get(2).copied().unwrap_or(tiny::DEFAULT_HEADS);
    let device = Device::Cpu;
    let mut rng = TrainRng::new(1);

    let map = VarMap::new();
    let vae = AutoencoderKLCogVideoX::new(
        &VaeConfig::from_json(&tiny::vae_config_json(1.0), "tiny")?,
        seeded_var_builder(&map, 1, &device),
    )?;
    let (t, h, w) = VAE_CROP;
    for round in 0..2 {
        let x = rng
            .normal(&[vae_batch, 3, t, h, w], &device)?
            .clamp(-1f32, 1f32)?;
        let start = Instant::now();
        let posterior = vae.encode(&x)?;
        let encoded = start.elapsed();
        let recon = vae.decode(&posterior.mean)?;
        let loss = (recon - &x)?.abs()?.mean_all()?;
        loss.to_scalar::<f32>()?;
        let forward = start.elapsed();
        let grads = loss.backward()?;
        let total = start.elapsed();
        drop(grads);
        println!(
            "vae  batch {vae_batch} of {t}x{h}x{w} (round {round}): encode {:.2} s, forward {:.2} s, backward {:.2} s",
            encoded.as_secs_f64(),
            forward.as_secs_f64(),
            (total - forward).as_secs_f64()
        );
    }

    let config = TransformerConfig::from_json(&tiny::transformer_config_json(49, heads), "tiny")?;
    let t5_config = T5Config::from_json(&tiny::t5_config_json(), "tiny t5")?;
    let transformer_map = VarMap::new();
    let text_map = VarMap::new();
    let transformer = CogVideoXTransformer3DModel::new(
        &config,
        seeded_var_builder(&transformer_map, 2, &device),
    )?;
    let mut text = T5TextEncoder::new(&t5_config, seeded_var_builder(&text_map, 3, &device))?;
    start_t5_norm_scales_at_one(&named_vars(&text_map, "")?)?;
    let (f, lh, lw) = (5, tiny::HEIGHT as usize / 4, tiny::WIDTH as usize / 4);
    let rope = rope_tables_for_grid(&config, lh / 2, lw / 2, f, &device)?;
    for round in 0..2 {
        let input = rng.normal(&[batch, f, 49, lh, lw], &device)?;
        let target = rng.normal(&[batch, f, 16, lh, lw], &device)?;
        let ids = Tensor::from_vec(
            vec![5u32; batch * tiny::TEXT_LENGTH],
            (batch, tiny::TEXT_LENGTH),
            &device,
        )?;
        let timesteps = Tensor::from_vec(vec![500i64; batch], batch, &device)?;
        let start = Instant::now();
        let embeds = text.forward(&ids)?;
        let prediction = transformer.forward(&input, &embeds, &timesteps, Some(&rope))?;
        let loss = (prediction - target)?.sqr()?.mean_all()?;
        loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        let forward = start.elapsed();
        let grads = loss.backward()?;
        let total = start.elapsed();
        drop(grads);
        println!(
            "dwm  batch {batch} ({} video tokens each, round {round}): forward {:.2} s, backward {:.2} s",
            f * lh / 2 * lw / 2,
            forward.as_secs_f64(),
            (total - forward).as_secs_f64()
        );
    }
    Ok(())
}
