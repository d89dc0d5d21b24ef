//! Diagnostic: the v-prediction loss of a trained model directory on one sample at a few timesteps, computed
//! exactly as training computes it, next to the loss of predicting zero; the x0 error each implies, next to the
//! error of simply copying the static latent; and the final latent error of a plain DDIM run.
//! The model is loaded through `DwmModel::load`, as `generate` and `eval` load it.
//! `cargo run --example probe_denoiser -- MODEL_DIR SAMPLE_DIR STEM`

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use handtwin::video::{DwmSample, Ffmpeg};
use handtwin::world_model::pipeline::{DwmModel, SamplingInputs, sample_latents};
use handtwin::world_model::scheduler::alphas_cumprod;
use handtwin::world_model::train::TrainRng;
use handtwin::world_model::train::data::video_tensor;
use handtwin::world_model::transformer::rope_tables_for_grid;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, sample_dir, stem] = args.as_slice() else {
        anyhow::bail!("usage: probe_denoiser MODEL_DIR SAMPLE_DIR STEM");
    };
    let (dir, sample_dir) = (PathBuf::from(dir), PathBuf::from(sample_dir));
    let device = Device::Cpu;
    let mut model = DwmModel::load(&dir, None, &device, DType::F32)?;
    let sample = DwmSample::read(&sample_dir, stem, &Ffmpeg::from_env())?;
    let text = model.encode_prompt(sample.prompt.as_deref().unwrap_or(""))?;
    let networks = model.networks()?;
    let (vae, transformer, config) = (
        networks.vae,
        networks.transformer,
        networks.transformer_config,
    );
    let scheduler = networks.scheduler;
    let alphas = alphas_cumprod(scheduler);
    let sf = networks.scaling_factor;
    let latent = |frames: &handtwin::video::Frames| -> anyhow::Result<Tensor> {
        let x = video_tensor(frames, &device)?.unsqueeze(0)?;
        Ok((vae.encode(&x)?.mode() * sf)?
            .permute((0, 2, 1, 3, 4))?
            .contiguous()?)
    };
    let truth = latent(sample.ground_truth.as_ref().with_context(|| {
        format!(
            "{}: sample {stem} has no ground-truth video",
            sample_dir.display()
        )
    })?)?;
    let still = latent(&sample.static_video)?;
    let hands = latent(&sample.hand_video)?;
    let (_, f, _, h, w) = truth.dims5()?;
    println!(
        "latent std: truth {:.3}",
        truth.flatten_all()?.var(0)?.sqrt()?.to_scalar::<f32>()?
    );
    let mask = Tensor::full(sf as f32, (1, f, 1, h, w), &device)?;
    let conditions = Tensor::cat(&[&mask, &still, &hands], 2)?;
    let rope = rope_tables_for_grid(
        config,
        h / config.patch_size,
        w / config.patch_size,
        f,
        &device,
    )?;
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
    // The pipeline's DDIM loop (hand latents drawn from the posterior, as generation draws them).
    let steps = std::env::var("STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let pixels = |frames: &handtwin::video::Frames| -> anyhow::Result<Tensor> {
        Ok(video_tensor(frames, &device)?.unsqueeze(0)?)
    };
    let (static_video, hand_video) = (pixels(&sample.static_video)?, pixels(&sample.hand_video)?);
    let latent_shape = truth.dims().to_vec();
    let hand_eps = rng.normal(&[1, latent_shape[2], f, h, w], &device)?;
    let initial_noise = rng.normal(&latent_shape, &device)?;
    let inputs = SamplingInputs {
        static_video: &static_video,
        hand_video: &hand_video,
        prompt_embeds: &text,
        negative_prompt_embeds: &text,
        initial_noise: &initial_noise,
        hand_posterior_eps: &hand_eps,
        steps,
        guidance_scale: 1.0,
    };
    let latents = sample_latents(&networks, &inputs, &mut |_, _| true)?
        .context("the sampling loop stopped early")?;
    let err = (&latents - &truth)?.sqr()?.mean_all()?.to_scalar::<f32>()?;
    println!("DDIM {steps} steps: final latent error {err:.4}");
    Ok(())
}
