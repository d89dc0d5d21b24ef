//! Parity runner: reads one case folder in the format of `spec/parity-cases.md` (case.json, config.json,
//! model.safetensors, io.safetensors), runs our component in float32 on the CPU, and compares every expected
//! output with the pass rule `max|ours − ref| / max(max|ref|, 1e-6) <= rtol`.

use super::error::{Result, WorldModelError};
use super::scheduler::{CogVideoXDdimScheduler, DdimConfig};
use super::t5::{T5Config, T5TextEncoder};
use super::transformer::{CogVideoXTransformer3DModel, TransformerConfig, rope_tables_for_grid};
use crate::world_model::ConfigFile as _;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The outcome of one case.
#[derive(Clone, Debug)]
pub struct CaseReport {
    pub dir: PathBuf,
    pub name: String,
    pub component: String,
    pub rtol: f32,
    /// (output name, worst relative error) for every expected output checked.
    pub outputs: Vec<(String, f32)>,
}

impl CaseReport {
    pub fn worst(&self) -> f32 {
        self.outputs.iter().map(|(_, e)| *e).fold(0.0, f32::max)
    }

    pub fn passed(&self) -> bool {
        !self.outputs.is_empty() && self.outputs.iter().all(|(_, e)| *e <= self.rtol)
    }
}

/// The spec's relative error of `ours` against `reference` (both compared in float32... or float64 tables).
pub fn relative_error(ours: &Tensor, reference: &Tensor) -> Result<f32> {
    if ours.shape() != reference.shape() {
        return Err(WorldModelError::Input {
            what: "parity comparison".into(),
            reason: format!(
                "shape {:?} differs from the reference {:?}",
                ours.shape(),
                reference.shape()
            ),
        });
    }
    let ours = ours.to_device(&Device::Cpu)?.to_dtype(DType::F64)?;
    let reference = reference.to_device(&Device::Cpu)?.to_dtype(DType::F64)?;
    let worst = (ours - &reference)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_scalar::<f64>()?;
    let scale = reference.abs()?.flatten_all()?.max(0)?.to_scalar::<f64>()?;
    let error = worst / scale.max(1e-6);
    // A NaN anywhere must fail, not compare as "not greater".
    Ok(if error.is_nan() {
        f32::INFINITY
    } else {
        error as f32
    })
}

/// Every case folder under the given paths: a folder with case.json is a case, otherwise its direct
/// subfolders that have one are (sorted by name).
pub fn find_cases(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut cases = Vec::new();
    for path in paths {
        if path.join("case.json").is_file() {
            cases.push(path.clone());
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|error| WorldModelError::File {
            path: path.clone(),
            reason: format!(
                "not a case folder (no case.json) and not readable as a folder: {error}"
            ),
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.join("case.json").is_file())
            .collect();
        if found.is_empty() {
            return Err(WorldModelError::File {
                path: path.clone(),
                reason: "neither a case folder (case.json) nor a folder of case folders".into(),
            });
        }
        found.sort();
        cases.extend(found);
    }
    Ok(cases)
}

fn parity_error(dir: &Path, reason: impl ToString) -> WorldModelError {
    WorldModelError::Parity {
        case: dir.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// A case's tensors and settings.
pub struct CaseFiles {
    pub dir: PathBuf,
    pub settings: serde_json::Value,
    pub component: String,
    pub rtol: f32,
    pub io: HashMap<String, Tensor>,
    /// Where and in what precision the case runs (the reference outputs stay float32 on the CPU).
    pub device: Device,
    pub dtype: DType,
}

impl CaseFiles {
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_on(dir, &Device::Cpu, DType::F32)
    }

    /// A case to run on `device` in `dtype`.
    pub fn load_on(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        let case_path = dir.join("case.json");
        let text = std::fs::read_to_string(&case_path).map_err(|error| WorldModelError::File {
            path: case_path.clone(),
            reason: error.to_string(),
        })?;
        let settings: serde_json::Value =
            serde_json::from_str(&text).map_err(|error| WorldModelError::File {
                path: case_path.clone(),
                reason: format!("not JSON: {error}"),
            })?;
        let component = settings
            .get("component")
            .and_then(|c| c.as_str())
            .ok_or_else(|| parity_error(dir, "case.json: key `component` missing or not a string"))?
            .to_string();
        let rtol = settings
            .get("rtol")
            .and_then(|r| r.as_f64())
            .ok_or_else(|| parity_error(dir, "case.json: key `rtol` missing or not a number"))?
            as f32;
        let io_path = dir.join("io.safetensors");
        let io = candle_core::safetensors::load(&io_path, &Device::Cpu).map_err(|error| {
            WorldModelError::File {
                path: io_path.clone(),
                reason: error.to_string(),
            }
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            settings,
            component,
            rtol,
            io,
            device: device.clone(),
            dtype,
        })
    }

    /// An input tensor on the case's device; floating-point inputs in the case's dtype.
    pub fn input(&self, name: &str) -> Result<Tensor> {
        let tensor = self.tensor(name)?.to_device(&self.device)?;
        Ok(if tensor.dtype().is_float() {
            tensor.to_dtype(self.dtype)?
        } else {
            tensor
        })
    }

    pub fn tensor(&self, name: &str) -> Result<&Tensor> {
        self.io.get(name).ok_or_else(|| {
            parity_error(
                &self.dir,
                format!("io.safetensors: tensor `{name}` missing"),
            )
        })
    }

    /// The case's `num_inference_steps` setting.
    pub fn inference_steps(&self) -> Result<usize> {
        self.settings
            .get("num_inference_steps")
            .and_then(|n| n.as_u64())
            .map(|n| n as usize)
            .ok_or_else(|| parity_error(&self.dir, "case.json: key `num_inference_steps` missing"))
    }

    pub fn config_text(&self) -> Result<(String, String)> {
        let path = self.dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|error| WorldModelError::File {
            path: path.clone(),
            reason: error.to_string(),
        })?;
        Ok((text, path.display().to_string()))
    }

    /// The case's weights, on the case's device in its dtype, through a VarBuilder.
    pub fn weights(&self) -> Result<VarBuilder<'static>> {
        let path = self.dir.join("model.safetensors");
        let tensors = candle_core::safetensors::load(&path, &Device::Cpu).map_err(|error| {
            WorldModelError::File {
                path: path.clone(),
                reason: error.to_string(),
            }
        })?;
        Ok(VarBuilder::from_tensors(tensors, self.dtype, &self.device))
    }
}

/// Runs one case folder. `Err` means the case could not be read or run (a failure of its own kind).
pub fn run_case(dir: &Path) -> Result<CaseReport> {
    run_case_on(dir, &Device::Cpu, DType::F32)
}

/// [`run_case`] on `device` in `dtype` (the DDIM case's arithmetic always runs in float32, as the pipeline
/// runs it). The case's own `rtol` is for float32; callers judge half precision with their own tolerance.
pub fn run_case_on(dir: &Path, device: &Device, dtype: DType) -> Result<CaseReport> {
    let case = CaseFiles::load_on(dir, device, dtype)?;
    let outputs = match case.component.as_str() {
        "cogvideox_transformer" => run_transformer(&case)?,
        "cogvideox_ddim" => run_ddim(&case)?,
        "flow_match_euler" => run_flow_match(&case)?,
        "t5_encoder" => run_t5(&case)?,
        "umt5_encoder" => run_umt5(&case)?,
        "wan_transformer" => run_wan_transformer(&case)?,
        "wan_vae_encode" | "wan_vae_decode" => run_wan_vae(&case)?,
        "cogvideox_vae_encode" | "cogvideox_vae_decode" | "cogvideox_vae_tiled" => {
            super::vae::parity::run_parity_case(&case.component, dir, &case.settings, device, dtype)
                .map_err(|e| external_error(dir, &e))?
        }
        "dwm_pipeline" => run_dwm_pipeline(&case)?,
        "dwm_wan_pipeline" => run_dwm_wan_pipeline(&case)?,
        other => {
            return Err(parity_error(
                dir,
                format!("component `{other}` is not supported by this build"),
            ));
        }
    };
    Ok(CaseReport {
        dir: dir.to_path_buf(),
        name: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string()),
        component: case.component.clone(),
        rtol: case.rtol,
        outputs,
    })
}

/// One part (`transformer`, `vae`, `scheduler`) of a pipeline case's config.json, read as that part's config.
fn pipeline_part<T: super::ConfigFile>(case: &CaseFiles, key: &str) -> Result<T> {
    let (text, source) = case.config_text()?;
    let config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| parity_error(&case.dir, format!("{source}: {e}")))?;
    let part = config
        .get(key)
        .ok_or_else(|| parity_error(&case.dir, format!("{source}: key `{key}` missing")))?;
    T::from_json(&part.to_string(), &format!("{source} ({key})"))
}

/// A pipeline case's sampling inputs handed to `sample`, and its video compared with the reference.
fn run_sampling_case(
    case: &CaseFiles,
    sample: impl FnOnce(&super::pipeline::SamplingInputs<'_>) -> Result<Option<Tensor>>,
) -> Result<Vec<(String, f32)>> {
    let guidance_scale = case
        .settings
        .get("guidance_scale")
        .and_then(|v| v.as_f64())
        .ok_or_else(|| parity_error(&case.dir, "case.json: key `guidance_scale` missing"))?;
    let (static_video, hand_video) = (case.input("static_video")?, case.input("hand_video")?);
    let (prompt_embeds, negative_prompt_embeds) = (
        case.input("prompt_embeds")?,
        case.input("negative_prompt_embeds")?,
    );
    let (initial_noise, hand_posterior_eps) = (
        case.input("initial_noise")?,
        case.input("hand_posterior_eps")?,
    );
    let inputs = super::pipeline::SamplingInputs {
        static_video: &static_video,
        hand_video: &hand_video,
        prompt_embeds: &prompt_embeds,
        negative_prompt_embeds: &negative_prompt_embeds,
        initial_noise: &initial_noise,
        hand_posterior_eps: &hand_posterior_eps,
        steps: case.inference_steps()?,
        guidance_scale,
    };
    let video = sample(&inputs)?.ok_or_else(|| parity_error(&case.dir, "the run stopped early"))?;
    Ok(vec![(
        "video".into(),
        relative_error(&video, case.tensor("video")?)?,
    )])
}

/// DWM's sampling loop on the case's tiny transformer and VAE (keys prefixed `transformer.` and `vae.`).
fn run_dwm_pipeline(case: &CaseFiles) -> Result<Vec<(String, f32)>> {
    let transformer_config: TransformerConfig = pipeline_part(case, "transformer")?;
    let vae_config: super::vae::VaeConfig = pipeline_part(case, "vae")?;
    let scheduler: DdimConfig = pipeline_part(case, "scheduler")?;
    let weights = case.weights()?;
    let transformer =
        CogVideoXTransformer3DModel::new(&transformer_config, weights.pp("transformer"))?;
    let vae = super::vae::AutoencoderKLCogVideoX::new(&vae_config, weights.pp("vae"))?;
    let networks = super::pipeline::DwmNetworks {
        vae: &vae,
        transformer: &transformer,
        transformer_config: &transformer_config,
        scheduler: &scheduler,
        scaling_factor: vae_config.scaling_factor,
    };
    run_sampling_case(case, |inputs| {
        super::pipeline::sample(&networks, inputs, &mut |_, _| true)
    })
}

/// DWM's Wan loop on the case's tiny transformer and VAE (keys prefixed `transformer.` and `vae.`, diffusers
/// layout).
fn run_dwm_wan_pipeline(case: &CaseFiles) -> Result<Vec<(String, f32)>> {
    use super::wan_transformer::{WanTransformer3DModel, WanTransformerConfig};
    use super::wan_vae::{AutoencoderKLWan, WanVaeConfig};
    let transformer_config: WanTransformerConfig = pipeline_part(case, "transformer")?;
    let vae_config: WanVaeConfig = pipeline_part(case, "vae")?;
    let scheduler: super::flow_match::FlowMatchConfig = pipeline_part(case, "scheduler")?;
    let weights = case.weights()?;
    let transformer = WanTransformer3DModel::new(&transformer_config, weights.pp("transformer"))?;
    let vae = AutoencoderKLWan::new(&vae_config, weights.pp("vae"))?;
    let networks = super::wan_pipeline::WanNetworks {
        vae: &vae,
        transformer: &transformer,
        scheduler: &scheduler,
    };
    run_sampling_case(case, |inputs| {
        super::wan_pipeline::sample(&networks, inputs, &mut |_, _| true)
    })
}

/// Wraps an error of a component run elsewhere (anyhow at its edge) as a parity error of this case.
pub fn external_error(dir: &Path, error: &anyhow::Error) -> WorldModelError {
    parity_error(dir, format!("{error:#}"))
}

fn run_transformer(case: &CaseFiles) -> Result<Vec<(String, f32)>> {
    let (text, source) = case.config_text()?;
    let config = TransformerConfig::from_json(&text, &source)?;
    let model = CogVideoXTransformer3DModel::new(&config, case.weights()?)?;
    let hidden = case.input("hidden_states")?;
    let (_, frames, _, height, width) = hidden.dims5()?;
    let p = config.patch_size;
    let (cos, sin) = rope_tables_for_grid(&config, height / p, width / p, frames, &case.device)?;
    let mut outputs = vec![
        (
            "rope_cos".to_string(),
            relative_error(&cos, case.tensor("rope_cos")?)?,
        ),
        (
            "rope_sin".to_string(),
            relative_error(&sin, case.tensor("rope_sin")?)?,
        ),
    ];
    let sample = model.forward(
        &hidden,
        &case.input("encoder_hidden_states")?,
        &case.tensor("timestep")?.to_device(&case.device)?,
        Some(&(cos, sin)),
    )?;
    outputs.push((
        "sample".into(),
        relative_error(&sample, case.tensor("sample")?)?,
    ));
    Ok(outputs)
}

fn run_ddim(case: &CaseFiles) -> Result<Vec<(String, f32)>> {
    let (text, source) = case.config_text()?;
    let config = DdimConfig::from_json(&text, &source)?;
    let steps = case.inference_steps()?;
    let scheduler = CogVideoXDdimScheduler::new(&config, steps)?;
    let timesteps = Tensor::new(scheduler.timesteps(), &Device::Cpu)?;
    let alphas = Tensor::new(scheduler.alphas_cumprod(), &Device::Cpu)?;
    let reference_timesteps = case.tensor("timesteps")?;
    let mut outputs = vec![
        (
            "timesteps".to_string(),
            relative_error(&timesteps, reference_timesteps)?,
        ),
        (
            "alphas_cumprod".to_string(),
            relative_error(&alphas, case.tensor("alphas_cumprod")?)?,
        ),
    ];
    check_steps(case, &mut outputs, |index, model_output, sample| {
        let t = case.tensor(&format!("step{index}_t"))?;
        let t = t.flatten_all()?.to_dtype(DType::I64)?.to_vec1::<i64>()?;
        let t = *t
            .first()
            .ok_or_else(|| parity_error(&case.dir, format!("step{index}_t is empty")))?;
        scheduler.step(model_output, t, sample)
    })?;
    Ok(outputs)
}

/// A scheduler case's chain of steps: for every recorded step i (while `step{i}_sample` exists), `step(i,
/// model_output, sample)` — both in float32 on the case's device, as the pipelines step in float32 — against
/// `step{i}_prev_sample`.
fn check_steps(
    case: &CaseFiles,
    outputs: &mut Vec<(String, f32)>,
    mut step: impl FnMut(usize, &Tensor, &Tensor) -> Result<Tensor>,
) -> Result<()> {
    let f32_input = |name: String| -> Result<Tensor> {
        Ok(case
            .tensor(&name)?
            .to_device(&case.device)?
            .to_dtype(DType::F32)?)
    };
    let mut index = 0;
    while case.io.contains_key(&format!("step{index}_sample")) {
        let ours = step(
            index,
            &f32_input(format!("step{index}_model_output"))?,
            &f32_input(format!("step{index}_sample"))?,
        )?;
        let name = format!("step{index}_prev_sample");
        outputs.push((name.clone(), relative_error(&ours, case.tensor(&name)?)?));
        index += 1;
    }
    Ok(())
}

/// The Wan variant's flow-matching Euler sampler: its sigmas and timesteps, and every recorded step.
fn run_flow_match(case: &CaseFiles) -> Result<Vec<(String, f32)>> {
    use super::flow_match::{FlowMatchConfig, FlowMatchEulerScheduler};
    let (text, source) = case.config_text()?;
    let config = FlowMatchConfig::from_json(&text, &source)?;
    let steps = case.inference_steps()?;
    let scheduler = FlowMatchEulerScheduler::new(&config, steps)?;
    let sigmas = Tensor::new(scheduler.sigmas(), &Device::Cpu)?;
    let timesteps = Tensor::new(scheduler.timesteps(), &Device::Cpu)?;
    let mut outputs = vec![
        (
            "sigmas".to_string(),
            relative_error(&sigmas, case.tensor("sigmas")?)?,
        ),
        (
            "timesteps".to_string(),
            relative_error(&timesteps, case.tensor("timesteps")?)?,
        ),
    ];
    check_steps(case, &mut outputs, |index, model_output, sample| {
        scheduler.step(model_output, index, sample)
    })?;
    Ok(outputs)
}

fn run_t5(case: &CaseFiles) -> Result<Vec<(String, f32)>> {
    let (text, source) = case.config_text()?;
    let config = T5Config::from_json(&text, &source)?;
    let mut encoder = T5TextEncoder::new(&config, case.weights()?)?;
    let hidden = encoder.forward(&case.input("input_ids")?)?;
    Ok(vec![(
        "last_hidden_state".into(),
        relative_error(&hidden, case.tensor("last_hidden_state")?)?,
    )])
}

/// The Wan transformer on the case's latents, timesteps, text and (I2V) image features.
fn run_wan_transformer(case: &CaseFiles) -> Result<Vec<(String, f32)>> {
    use super::wan_transformer::{WanTransformer3DModel, WanTransformerConfig};
    let (text, source) = case.config_text()?;
    let config = WanTransformerConfig::from_json(&text, &source)?;
    let model = WanTransformer3DModel::new(&config, case.weights()?)?;
    let image = if case.io.contains_key("encoder_hidden_states_image") {
        Some(case.input("encoder_hidden_states_image")?)
    } else {
        None
    };
    let sample = model.forward(
        &case.input("hidden_states")?,
        &case.input("timestep")?,
        &case.input("encoder_hidden_states")?,
        image.as_ref(),
    )?;
    Ok(vec![(
        "sample".into(),
        relative_error(&sample, case.tensor("sample")?)?,
    )])
}

/// The Wan VAE: raw posterior of `sample`, or the decode of raw `latents`.
fn run_wan_vae(case: &CaseFiles) -> Result<Vec<(String, f32)>> {
    use super::wan_vae::{AutoencoderKLWan, WanVaeConfig};
    let (text, source) = case.config_text()?;
    let config = WanVaeConfig::from_json(&text, &source)?;
    let vae = AutoencoderKLWan::new(&config, case.weights()?)?;
    if case.component == "wan_vae_encode" {
        let posterior = vae.encode(&case.input("sample")?)?;
        Ok(vec![
            (
                "mean".into(),
                relative_error(&posterior.mean, case.tensor("mean")?)?,
            ),
            (
                "logvar".into(),
                relative_error(&posterior.logvar, case.tensor("logvar")?)?,
            ),
        ])
    } else {
        let video = vae.decode(&case.input("latents")?)?;
        Ok(vec![(
            "sample".into(),
            relative_error(&video, case.tensor("sample")?)?,
        )])
    }
}

/// The Wan variant's umT5 encoder, with the case's attention mask.
fn run_umt5(case: &CaseFiles) -> Result<Vec<(String, f32)>> {
    let (text, source) = case.config_text()?;
    let config = T5Config::from_json(&text, &source)?;
    let encoder = super::umt5::UMT5Encoder::new(&config, case.weights()?)?;
    let hidden = encoder.forward(&case.input("input_ids")?, &case.input("attention_mask")?)?;
    Ok(vec![(
        "last_hidden_state".into(),
        relative_error(&hidden, case.tensor("last_hidden_state")?)?,
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_follows_the_pass_rule() {
        let device = Device::Cpu;
        let reference = Tensor::new(&[2.0f32, -4.0], &device).unwrap();
        let ours = Tensor::new(&[2.0f32, -3.9], &device).unwrap();
        let error = relative_error(&ours, &reference).unwrap();
        assert!((error - 0.025).abs() < 1e-6, "{error}");
        let nan = Tensor::new(&[f32::NAN, -4.0], &device).unwrap();
        assert!(relative_error(&nan, &reference).unwrap().is_infinite());
        let other_shape = Tensor::new(&[2.0f32], &device).unwrap();
        assert!(relative_error(&other_shape, &reference).is_err());
    }
}
