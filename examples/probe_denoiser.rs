//! Diagnostic: the v-prediction loss of a trained model directory on one sample at a few timesteps, computed
//! exactly as training computes it, next to the loss of predicting zero.
//! `cargo run --example probe_denoiser -- MODEL_DIR SAMPLE_DIR STEM`

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use handtwin::video::{DwmSample, Ffmpeg};
use handtwin::world_model::scheduler::{DdimConfig, alphas_cumprod};
use handtwin::world_model::t5::{T5Config, T5TextEncoder};
use handtwin::world_model::tokenizer::T5Tokenizer;
use handtwin::world_model::train::data::video_tensor;
use handtwin::world_model::train::{TrainRng, load_tensors};
use handtwin::world_model::transformer::{
    CogVideoXTransformer3DModel, TransformerConfig, rope_tables_for_grid,
};
use handtwin::world_model::vae::{AutoencoderKLCogVideoX, VaeConfig};
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, sample_dir, stem) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]), &args[2]);
    let device = Device::Cpu;
    let vae_config = VaeConfig::from_file(&dir.join("vae/config.json"))?;
    let weights = |file: &str| -> anyhow::Result<VarBuilder<'static>> {
        Ok(VarBuilder::from_tensors(
            load_tensors(&dir.join(file), &device)?,
            DType::F32,
            &device,
        ))
    };
    let vae = AutoencoderKLCogVideoX::new(
        &vae_config,
        weights("vae/diffusion_pytorch_model.safetensors")?,
    )?;
    let config = TransformerConfig::from_file(&dir.join("transformer/config.json"))?;
    let transformer = CogVideoXTransformer3DModel::new(
        &config,
        weights("transformer/diffusion_pytorch_model.safetensors")?,
    )?;
    let t5_config = T5Config::from_file(&dir.join("text_encoder/config.json"))?;
    let mut t5 = T5TextEncoder::new(&t5_config, weights("text_encoder/model.safetensors")?)?;
    let tokenizer = T5Tokenizer::from_dir(&dir.join("tokenizer"))?;
    let scheduler = DdimConfig::from_file(&dir.join("scheduler/scheduler_config.json"))?;
    let alphas = alphas_cumprod(&scheduler);
    let sample = DwmSample::read(&sample_dir, stem, &Ffmpeg::from_env())?;
    let sf = vae_config.scaling_factor;
    let latent = |frames: &handtwin::video::Frames| -> anyhow::Result<Tensor> {
        let x = video_tensor(frames, &device)?.unsqueeze(0)?;
        Ok((vae.encode(&x)?.mode() * sf)?
            .permute((0, 2, 1, 3, 4))?
            .contiguous()?)
    };
    let truth = latent(sample.ground_truth.as_ref().expect("truth"))?;
    let still = latent(&sample.static_video)?;
    let hands = latent(&sample.hand_video)?;
    let (_, f, _, h, w) = truth.dims5()?;
    println!(
        "latent std: truth {:.3}",
        truth.flatten_all()?.var(0)?.sqrt()?.to_scalar::<f32>()?
    );
    let mask = Tensor::full(sf as f32, (1, f, 1, h, w), &device)?;
    let conditions = Tensor::cat(&[&mask, &still, &hands], 2)?;
    let ids = tokenizer.encode_padded(
        sample.prompt.as_deref().unwrap_or(""),
        handtwin::world_model::train::tiny::TEXT_LENGTH,
    )?;
    let text = t5.forward(&Tensor::new(ids.as_slice(), &device)?.unsqueeze(0)?)?;
    let rope = rope_tables_for_grid(&config, h / 2, w / 2, f, &device)?;
    let mut rng = TrainRng::new(1);
    for t in [20usize, 200, 500, 800, 950, 999] {
        let a = alphas[t];
        let eps = rng.normal(truth.dims(), &device)?;
        let x_t = ((&truth * a.sqrt())? + (&eps * (1.0 - a).sqrt())?)?;
        let v = ((&eps * a.sqrt())? - (&truth * (1.0 - a).sqrt())?)?;
        let input = Tensor::cat(&[&x_t, &conditions], 2)?;
        let pred = transformer.forward(
            &input,
            &text,
            &Tensor::new(&[t as i64], &device)?,
            Some(&rope),
        )?;
        let loss = (&pred - &v)?.sqr()?.mean_all()?.to_scalar::<f32>()?;
        let zero = v.sqr()?.mean_all()?.to_scalar::<f32>()?;
        let x0 = ((&x_t * a.sqrt())? - (&pred * (1.0 - a).sqrt())?)?;
        let x0_err = (&x0 - &truth)?.sqr()?.mean_all()?.to_scalar::<f32>()?;
        let static_err = (&still - &truth)?.sqr()?.mean_all()?.to_scalar::<f32>()?;
        println!(
            "t {t:4}: v-loss {loss:.4} (zero prediction {zero:.4}); x0 error {x0_err:.4} (static latent {static_err:.4})"
        );
    }
    // The DDIM loop of the pipeline, by hand.
    let ddim = handtwin::world_model::scheduler::CogVideoXDdimScheduler::new(
        &scheduler,
        std::env::var("STEPS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20),
    )?;
    let mut latents = rng.normal(truth.dims(), &device)?;
    for &t in ddim.timesteps() {
        let input = Tensor::cat(&[&latents, &conditions], 2)?;
        let pred = transformer.forward(&input, &text, &Tensor::new(&[t], &device)?, Some(&rope))?;
        latents = ddim.step(&pred, t, &latents)?;
    }
    let err = (&latents - &truth)?.sqr()?.mean_all()?.to_scalar::<f32>()?;
    println!(
        "DDIM {} steps: final latent error {err:.4}",
        ddim.timesteps().len()
    );
    Ok(())
}
