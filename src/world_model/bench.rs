//! `handtwin bench`: a generation timed at a model's real shapes with random weights (no weight files, no
//! download), once per `--offload` setting, through the same `DwmModel` code `generate` runs. Used by
//! `tools/gpu-check.sh` on GPU machines and runnable on any CPU at small shapes.
//!
//! Each run builds the model (random N(0, 0.02) weights, made on the compute device and placed as the offload
//! setting says), encodes a padded prompt with T5, then generates `steps` steps with classifier-free guidance.
//! The figures: the text encoder's time; the time before the first step (VAE encode of both videos, and under
//! `model` offload moving the transformer in); the mean time of the steps after the first; the time after the
//! last step (VAE decode); and the clip extrapolated to 50 steps. Device memory is read from the driver every
//! few milliseconds (GPUs), host memory from the kernel's peak resident set (Linux).

use super::memory::{MemoryEstimate, ModelShapes};
use super::offload::Offload;
use super::pipeline::{DwmConfigs, DwmModel, DwmWeights, Sampling};
use super::scheduler::DdimConfig;
use super::t5::T5Config;
use super::transformer::TransformerConfig;
use super::vae::VaeConfig;
use super::wan_model::{WanConfigs, WanDwmModel, WanWeights};
use super::wan_transformer::WanTransformerConfig;
use super::wan_vae::WanVaeConfig;
use super::{ConfigFile as _, Result, WorldModelError};
use crate::video::Frames;
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Whose shapes the random model takes.
#[derive(Clone, Debug)]
pub enum BenchShapes {
    /// DWM's real model (CogVideoX-Fun-5B + DWM LoRA, T5-v1.1-XXL, the CogVideoX VAE).
    CogVideoX5b,
    /// DWM's Wan model (Wan2.1-Fun-14B-InP + DWM-Wan LoRA, umT5-XXL, the Wan 2.1 VAE).
    Wan14b,
    /// The configs of a model folder of either family (its weights are not read).
    Directory(PathBuf),
}

/// A randomly weighted model of either family, as the benchmark drives it.
trait BenchModel {
    /// The embeddings of a prompt that fills the text length and of a short negative prompt.
    fn encode_prompts(&mut self, vocab: u32) -> Result<(Tensor, Tensor)>;
    fn generate_with_embeds(
        &mut self,
        static_video: &Frames,
        hand_video: &Frames,
        prompt: &Tensor,
        negative: &Tensor,
        sampling: Sampling,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<Frames>>;
}

impl BenchModel for DwmModel {
    fn encode_prompts(&mut self, vocab: u32) -> Result<(Tensor, Tensor)> {
        let length = self.max_text_length();
        let ids: Vec<u32> = (0..length as u32).map(|i| (i * 37 + 5) % vocab).collect();
        Ok((
            self.encode_token_ids(&ids)?,
            self.encode_token_ids(&vec![0; length])?,
        ))
    }

    fn generate_with_embeds(
        &mut self,
        static_video: &Frames,
        hand_video: &Frames,
        prompt: &Tensor,
        negative: &Tensor,
        sampling: Sampling,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<Frames>> {
        DwmModel::generate_with_embeds(
            self,
            static_video,
            hand_video,
            prompt,
            negative,
            sampling,
            progress,
        )
    }
}

impl BenchModel for WanDwmModel {
    fn encode_prompts(&mut self, vocab: u32) -> Result<(Tensor, Tensor)> {
        let length = self.transformer_config().text_len;
        let ids: Vec<u32> = (0..length as u32).map(|i| (i * 37 + 5) % vocab).collect();
        // The prompt fills the 512 tokens (umT5's longest run); the negative is a few tokens, as "bad detailed".
        Ok((
            self.encode_token_ids(&ids, length)?,
            self.encode_token_ids(&ids, 3)?,
        ))
    }

    fn generate_with_embeds(
        &mut self,
        static_video: &Frames,
        hand_video: &Frames,
        prompt: &Tensor,
        negative: &Tensor,
        sampling: Sampling,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<Frames>> {
        WanDwmModel::generate_with_embeds(
            self,
            static_video,
            hand_video,
            prompt,
            negative,
            sampling,
            progress,
        )
    }
}

#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub shapes: BenchShapes,
    pub width: u32,
    pub height: u32,
    pub frames: usize,
    /// Steps timed per run (at least 2: the first step also holds the VAE encode).
    pub steps: usize,
    pub guidance_scale: f64,
    pub offloads: Vec<Offload>,
    pub device: Device,
    pub dtype: DType,
}

/// One offload setting's figures (seconds, bytes).
#[derive(Clone, Debug, Serialize)]
pub struct BenchRun {
    pub offload: String,
    pub build_s: f64,
    pub text_encode_s: f64,
    pub before_first_step_s: f64,
    pub step_s: f64,
    pub steps_per_s: f64,
    pub after_last_step_s: f64,
    pub clip_50_steps_s: f64,
    /// Device memory in use before the model was built and at its peak during the run (driver; GPUs only).
    pub device_used_before_bytes: Option<usize>,
    pub device_peak_bytes: Option<usize>,
    /// The estimate `model-info` prints for this setting.
    pub estimated_peak_bytes: usize,
    /// The process's peak resident memory during the run (Linux; None elsewhere).
    pub host_peak_rss_bytes: Option<usize>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub shapes: String,
    pub device: String,
    pub dtype: String,
    pub width: u32,
    pub height: u32,
    pub frames: usize,
    pub guidance_scale: f64,
    pub timed_steps: usize,
    pub parameters: BenchParameters,
    pub runs: Vec<BenchRun>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchParameters {
    pub text_encoder: usize,
    pub transformer: usize,
    pub vae: usize,
}

/// The configs of DWM's Wan model: the 14B transformer at 52 channels, umT5-XXL, the Wan 2.1 VAE.
fn wan_configs(frames: usize) -> Result<WanConfigs> {
    Ok(WanConfigs {
        transformer: WanTransformerConfig::wan21_i2v_14b(52),
        vae: WanVaeConfig::wan21(),
        t5: T5Config::from_json(
            r#"{"vocab_size": 256384, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24,
                "num_heads": 64, "feed_forward_proj": "gated-gelu"}"#,
            "umT5-XXL",
        )?,
        fixed_size: None,
        model_frames: frames,
    })
}

/// The configs of the benchmarked shapes (the CogVideoX family).
pub fn bench_configs(shapes: &BenchShapes) -> Result<DwmConfigs> {
    match shapes {
        BenchShapes::Wan14b => Err(WorldModelError::Input {
            what: "bench shapes".into(),
            reason: "wan2.1-fun-14b is the Wan family; its configs are `wan_configs`".into(),
        }),
        BenchShapes::CogVideoX5b => Ok(DwmConfigs {
            transformer: super::transformer::cogvideox_5b_config(49),
            vae: VaeConfig::default(),
            t5: T5Config::from_json(
                r#"{"vocab_size": 32128, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24,
                    "num_heads": 64, "feed_forward_proj": "gated-gelu"}"#,
                "T5-v1.1-XXL",
            )?,
            scheduler: DdimConfig::from_json(
                &super::train::tiny::scheduler_config_json(),
                "CogVideoX-5B scheduler",
            )?,
            model_frames: 49,
            max_text_length: 226,
        }),
        BenchShapes::Directory(dir) => {
            let path = dir.join("transformer").join("config.json");
            let mut transformer = TransformerConfig::from_file(&path)?;
            // DWM's widened input, whether the folder is the base model or already DWM's.
            transformer.in_channels = 49;
            let raw: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(&path).map_err(|e| file_error(&path, e))?,
            )
            .map_err(|e| file_error(&path, e))?;
            let number = |key: &str, default: usize| {
                raw.get(key)
                    .and_then(|v| v.as_u64())
                    .map_or(default, |v| v as usize)
            };
            let vae_path = dir.join("vae").join("config.json");
            Ok(DwmConfigs {
                model_frames: number("sample_frames", 49),
                max_text_length: number("max_text_seq_length", 226),
                transformer,
                vae: VaeConfig::from_file(&vae_path)?,
                t5: T5Config::from_file(&dir.join("text_encoder").join("config.json"))?,
                scheduler: DdimConfig::from_file(
                    &dir.join("scheduler").join("scheduler_config.json"),
                )?,
            })
        }
    }
}

fn file_error(path: &Path, error: impl ToString) -> WorldModelError {
    WorldModelError::File {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

/// Random N(0, 0.02) weights made on `generate_on` (fast on a GPU) and handed out on the device asked for.
struct RandomWeights {
    generate_on: Device,
}

impl SimpleBackend for RandomWeights {
    fn get(
        &self,
        shape: Shape,
        _: &str,
        _: candle_nn::Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        Tensor::randn(0f32, 0.02, shape, &self.generate_on)?
            .to_dtype(dtype)?
            .to_device(device)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("random weights: `{name}` was asked for without a shape")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

/// Device memory in use (total − free) from the driver; None for the CPU.
fn device_used(device: &Device) -> Option<usize> {
    super::memory::device_memory(device).map(|(free, total)| total.saturating_sub(free))
}

/// Samples [`device_used`] every 5 ms on a thread until dropped; `peak()` is the largest reading.
struct MemoryPoller {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MemoryPoller {
    fn start(device: &Device) -> Option<Self> {
        device_used(device)?;
        let (stop, peak) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (thread_stop, thread_peak, device) = (stop.clone(), peak.clone(), device.clone());
        let thread = std::thread::spawn(move || {
            while !thread_stop.load(Ordering::Relaxed) {
                if let Some(used) = device_used(&device) {
                    thread_peak.fetch_max(used, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Some(Self {
            stop,
            peak,
            thread: Some(thread),
        })
    }

    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// Resets the kernel's peak-RSS mark of this process (Linux: `5` to /proc/self/clear_refs).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident memory since the last reset (Linux: VmHWM).
fn peak_rss() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A clip with structure (so the VAE sees something like video), `frames`×`height`×`width`.
fn clip(width: u32, height: u32, frames: usize, phase: u32) -> Result<Frames> {
    let mut data = Vec::with_capacity(width as usize * height as usize * 3 * frames);
    for f in 0..frames as u32 {
        for y in 0..height {
            for x in 0..width {
                data.push(((x + f * 3 + phase) % 256) as u8);
                data.push(((y * 2 + phase) % 256) as u8);
                data.push(((x ^ y) % 256) as u8);
            }
        }
    }
    Frames::new(width, height, 8.0, data).map_err(|e| WorldModelError::Input {
        what: "benchmark clip".into(),
        reason: e.to_string(),
    })
}

/// Runs the benchmark; `log` receives one line per phase as it ends, `checkpoint` the report after every
/// finished run (so a run cut short by a time limit keeps the settings already timed).
pub fn run(
    options: &BenchOptions,
    log: &mut dyn FnMut(&str),
    checkpoint: &mut dyn FnMut(&BenchReport),
) -> Result<BenchReport> {
    if options.steps < 2 {
        return Err(WorldModelError::Input {
            what: "--steps".into(),
            reason: "time at least 2 steps (the first also holds the VAE encode)".into(),
        });
    }
    let wan_dir = match &options.shapes {
        BenchShapes::Directory(dir)
            if super::ModelFamily::of_dir(dir) == super::ModelFamily::Wan =>
        {
            Some(dir.clone())
        }
        _ => None,
    };
    let wan = matches!(options.shapes, BenchShapes::Wan14b) || wan_dir.is_some();
    let configs = if wan {
        None
    } else {
        Some(bench_configs(&options.shapes)?)
    };
    let wan_configs = match &wan_dir {
        Some(dir) => WanConfigs::from_dir(dir)?,
        None => wan_configs(options.frames)?,
    };
    let parameters = match &configs {
        Some(configs) => BenchParameters {
            text_encoder: super::memory::count_parameters(|vb| {
                super::t5::T5TextEncoder::new(&configs.t5, vb)
            })?,
            transformer: super::transformer::parameter_count(&configs.transformer),
            vae: super::memory::count_parameters(|vb| {
                Ok(super::vae::AutoencoderKLCogVideoX::new(&configs.vae, vb)?)
            })?,
        },
        None => BenchParameters {
            text_encoder: super::memory::count_parameters(|vb| {
                super::umt5::UMT5Encoder::new(&wan_configs.t5, vb)
            })?,
            transformer: super::memory::count_parameters(|vb| {
                super::wan_transformer::WanTransformer3DModel::new(&wan_configs.transformer, vb)
            })?,
            vae: super::memory::count_parameters(|vb| {
                super::wan_vae::AutoencoderKLWan::new(&wan_configs.vae, vb)
            })?,
        },
    };
    let shapes_name = match &options.shapes {
        BenchShapes::CogVideoX5b => "cogvideox-5b".to_string(),
        BenchShapes::Wan14b => "wan2.1-fun-14b".to_string(),
        BenchShapes::Directory(dir) => dir.display().to_string(),
    };
    let bytes = options.dtype.size_in_bytes();
    let estimate = {
        let mut shapes = match &options.shapes {
            BenchShapes::CogVideoX5b => ModelShapes::cogvideox_5b_dwm()?,
            BenchShapes::Wan14b => ModelShapes::wan_14b_dwm()?,
            BenchShapes::Directory(dir) if wan => ModelShapes::from_wan_directory(dir, None)?,
            BenchShapes::Directory(dir) => {
                let model = super::model_dir::ModelDirectory::inspect(dir, None)
                    .map_err(|e| file_error(dir, e))?;
                ModelShapes::from_directory(&model).ok_or_else(|| {
                    file_error(dir, "no transformer config to estimate memory from")
                })?
            }
        };
        shapes.text_encoder_parameters = parameters.text_encoder;
        shapes.vae_parameters = parameters.vae;
        MemoryEstimate::new(
            &shapes,
            options.width as usize,
            options.height as usize,
            options.frames,
            bytes,
        )
    };
    let static_video = clip(options.width, options.height, options.frames, 0)?;
    let hand_video = clip(options.width, options.height, options.frames, 97)?;
    let mut report = BenchReport {
        shapes: shapes_name,
        device: format!("{:?}", options.device.location()),
        dtype: format!("{:?}", options.dtype).to_lowercase(),
        width: options.width,
        height: options.height,
        frames: options.frames,
        guidance_scale: options.guidance_scale,
        timed_steps: options.steps,
        parameters,
        runs: Vec::new(),
    };
    for &offload in &options.offloads {
        let used_before = device_used(&options.device);
        reset_peak_rss();
        let poller = MemoryPoller::start(&options.device);
        let start = Instant::now();
        let generate_on = options.device.clone();
        let weights = || -> Box<dyn SimpleBackend> {
            Box::new(RandomWeights {
                generate_on: generate_on.clone(),
            })
        };
        let mut model: Box<dyn BenchModel> = match &configs {
            Some(configs) => Box::new(DwmModel::assemble(
                configs.clone(),
                DwmWeights {
                    transformer: weights(),
                    vae: weights(),
                    text_encoder: weights(),
                },
                None,
                &options.device,
                options.dtype,
                offload,
            )?),
            None => Box::new(WanDwmModel::assemble(
                wan_configs.clone(),
                WanWeights {
                    transformer: weights(),
                    vae: weights(),
                    text_encoder: weights(),
                },
                None,
                &options.device,
                options.dtype,
                offload,
            )?),
        };
        options.device.synchronize()?;
        let build_s = start.elapsed().as_secs_f64();
        log(&format!(
            "--offload {offload}: random model built in {build_s:.1} s"
        ));

        let vocab = configs
            .as_ref()
            .map_or(wan_configs.t5.vocab_size, |c| c.t5.vocab_size)
            .max(1) as u32;
        let start = Instant::now();
        let (prompt, negative) = model.encode_prompts(vocab)?;
        options.device.synchronize()?;
        let text_encode_s = start.elapsed().as_secs_f64() / 2.0;

        let mut marks = Vec::with_capacity(options.steps);
        let start = Instant::now();
        let device = options.device.clone();
        model.generate_with_embeds(
            &static_video,
            &hand_video,
            &prompt,
            &negative,
            Sampling {
                steps: options.steps,
                guidance_scale: options.guidance_scale,
                seed: 1,
            },
            &mut |_, _| {
                let _ = device.synchronize();
                marks.push(start.elapsed().as_secs_f64());
                true
            },
        )?;
        let total = start.elapsed().as_secs_f64();
        let device_peak = poller.map(MemoryPoller::finish);
        let host_peak_rss = peak_rss();
        drop(model);
        let step_s = marks.windows(2).map(|pair| pair[1] - pair[0]).sum::<f64>()
            / (marks.len().saturating_sub(1)).max(1) as f64;
        let first = marks.first().copied().unwrap_or(0.0);
        let before_first_step_s = (first - step_s).max(0.0);
        let after_last_step_s = total - marks.last().copied().unwrap_or(total);
        let run = BenchRun {
            offload: offload.to_string(),
            build_s,
            text_encode_s,
            before_first_step_s,
            step_s,
            steps_per_s: 1.0 / step_s.max(f64::MIN_POSITIVE),
            after_last_step_s,
            clip_50_steps_s: text_encode_s
                + before_first_step_s
                + 50.0 * step_s
                + after_last_step_s,
            device_used_before_bytes: used_before,
            device_peak_bytes: device_peak,
            estimated_peak_bytes: estimate.peak(offload).0,
            host_peak_rss_bytes: host_peak_rss,
        };
        log(&format!(
            "--offload {offload}: text {:.2} s, before the first step {:.2} s, step {:.2} s, after the last {:.2} s; \
             50 steps ≈ {:.0} s",
            run.text_encode_s,
            run.before_first_step_s,
            run.step_s,
            run.after_last_step_s,
            run.clip_50_steps_s
        ));
        report.runs.push(run);
        checkpoint(&report);
    }
    Ok(report)
}
