//! diffusers `CogVideoXDDIMScheduler`: scaled-linear betas in float64, SNR shift, zero-terminal-SNR rescale,
//! trailing/leading/linspace spacing, the eta = 0 DDIM step for v- or epsilon-prediction
//! (`spec/dwm-reference.md` §1.9).
//!
//! DWM samples with this scheduler (the base repo ships `CogVideoXDDIMScheduler`), so the DPM variant is not
//! implemented.

use super::error::{Result, config_error, input_error};
use candle_core::{DType, Tensor};
use serde::Deserialize;

/// `scheduler_config.json` of a `CogVideoXDDIMScheduler`, with diffusers' defaults for missing keys.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct DdimConfig {
    #[serde(default = "default_train_timesteps")]
    pub num_train_timesteps: usize,
    #[serde(default = "default_beta_start")]
    pub beta_start: f64,
    #[serde(default = "default_beta_end")]
    pub beta_end: f64,
    #[serde(default = "default_beta_schedule")]
    pub beta_schedule: String,
    #[serde(default)]
    pub trained_betas: Option<Vec<f64>>,
    /// Read and ignored, as diffusers' CogVideoX step never clips.
    #[serde(default)]
    pub clip_sample: bool,
    #[serde(default = "default_true")]
    pub set_alpha_to_one: bool,
    #[serde(default)]
    pub steps_offset: i64,
    #[serde(default = "default_prediction_type")]
    pub prediction_type: String,
    #[serde(default = "default_spacing")]
    pub timestep_spacing: String,
    #[serde(default)]
    pub rescale_betas_zero_snr: bool,
    #[serde(default = "default_snr_shift")]
    pub snr_shift_scale: f64,
}

fn default_train_timesteps() -> usize {
    1000
}
fn default_beta_start() -> f64 {
    0.00085
}
fn default_beta_end() -> f64 {
    0.012
}
fn default_beta_schedule() -> String {
    "scaled_linear".to_string()
}
fn default_true() -> bool {
    true
}
fn default_prediction_type() -> String {
    "epsilon".to_string()
}
fn default_spacing() -> String {
    "leading".to_string()
}
fn default_snr_shift() -> f64 {
    3.0
}

/// What the model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prediction {
    Epsilon,
    Velocity,
    Sample,
}

/// How inference timesteps are spread over the training range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spacing {
    Linspace,
    Leading,
    Trailing,
}

impl super::ConfigFile for DdimConfig {
    fn check(&self, source_name: &str) -> Result<()> {
        self.validate(source_name)
    }
}

impl DdimConfig {
    pub fn validate(&self, source_name: &str) -> Result<()> {
        let fail = |key: &str, reason: String| Err(config_error(source_name, key, reason));
        if self.trained_betas.is_some() {
            return fail(
                "trained_betas",
                "explicit betas are not supported (expected null)".into(),
            );
        }
        if self.beta_schedule != "scaled_linear" {
            return fail(
                "beta_schedule",
                format!("`{}` is not supported (scaled_linear)", self.beta_schedule),
            );
        }
        if self.num_train_timesteps < 2 {
            return fail("num_train_timesteps", "must be at least 2".into());
        }
        if !(self.beta_start > 0.0 && self.beta_end > 0.0 && self.beta_end < 1.0) {
            return fail("beta_start", "betas must lie in (0, 1)".into());
        }
        if self.prediction().is_none() {
            return fail(
                "prediction_type",
                format!(
                    "`{}` is not supported (v_prediction, epsilon, sample)",
                    self.prediction_type
                ),
            );
        }
        if self.spacing().is_none() {
            return fail(
                "timestep_spacing",
                format!(
                    "`{}` is not supported (trailing, leading, linspace)",
                    self.timestep_spacing
                ),
            );
        }
        if !self.snr_shift_scale.is_finite() || self.snr_shift_scale <= 0.0 {
            return fail("snr_shift_scale", "must be positive".into());
        }
        Ok(())
    }

    pub fn prediction(&self) -> Option<Prediction> {
        match self.prediction_type.as_str() {
            "epsilon" => Some(Prediction::Epsilon),
            "v_prediction" => Some(Prediction::Velocity),
            "sample" => Some(Prediction::Sample),
            _ => None,
        }
    }

    pub fn spacing(&self) -> Option<Spacing> {
        match self.timestep_spacing.as_str() {
            "linspace" => Some(Spacing::Linspace),
            "leading" => Some(Spacing::Leading),
            "trailing" => Some(Spacing::Trailing),
            _ => None,
        }
    }
}

/// `torch.linspace` in float64 (ATen's two-sided formula).
fn linspace_f64(start: f64, end: f64, steps: usize) -> Vec<f64> {
    if steps == 1 {
        return vec![start];
    }
    let step = (end - start) / (steps - 1) as f64;
    let halfway = steps / 2;
    (0..steps)
        .map(|i| {
            if i < halfway {
                start + step * i as f64
            } else {
                end - step * (steps - 1 - i) as f64
            }
        })
        .collect()
}

/// ᾱ (cumulative alpha products) of a config: float64, SNR-shifted and optionally zero-terminal-SNR rescaled.
pub fn alphas_cumprod(config: &DdimConfig) -> Vec<f64> {
    let n = config.num_train_timesteps;
    let betas: Vec<f64> = linspace_f64(config.beta_start.sqrt(), config.beta_end.sqrt(), n)
        .into_iter()
        .map(|b| b * b)
        .collect();
    let s = config.snr_shift_scale;
    let mut product = 1.0;
    let mut alphas: Vec<f64> = betas
        .iter()
        .map(|beta| {
            product *= 1.0 - beta;
            product
        })
        .map(|a| a / (s + (1.0 - s) * a))
        .collect();
    if config.rescale_betas_zero_snr {
        let roots: Vec<f64> = alphas.iter().map(|a| a.sqrt()).collect();
        let first = roots.first().copied().unwrap_or(1.0);
        let last = roots.last().copied().unwrap_or(0.0);
        let factor = first / (first - last);
        alphas = roots
            .iter()
            .map(|r| {
                let shifted = (r - last) * factor;
                shifted * shifted
            })
            .collect();
    }
    alphas
}

/// The inference timesteps diffusers' `set_timesteps` produces, in sampling order (descending).
pub fn inference_timesteps(config: &DdimConfig, num_inference_steps: usize) -> Result<Vec<i64>> {
    let train = config.num_train_timesteps;
    if num_inference_steps == 0 || num_inference_steps > train {
        return Err(input_error(
            "num_inference_steps",
            format!("{num_inference_steps}: must be between 1 and num_train_timesteps ({train})"),
        ));
    }
    let spacing = config.spacing().ok_or_else(|| {
        config_error(
            "scheduler config",
            "timestep_spacing",
            &config.timestep_spacing,
        )
    })?;
    Ok(match spacing {
        Spacing::Linspace => {
            // numpy linspace(0, train − 1, n): arange·step, last value exactly the end.
            let end = (train - 1) as f64;
            let n = num_inference_steps;
            let step = if n > 1 { end / (n - 1) as f64 } else { 0.0 };
            let mut values: Vec<i64> = (0..n)
                .map(|i| {
                    let value = if n > 1 && i == n - 1 {
                        end
                    } else {
                        i as f64 * step
                    };
                    value.round_ties_even() as i64
                })
                .collect();
            values.reverse();
            values
        }
        Spacing::Leading => {
            let ratio = (train / num_inference_steps) as i64;
            (0..num_inference_steps as i64)
                .rev()
                .map(|i| i * ratio + config.steps_offset)
                .collect()
        }
        Spacing::Trailing => {
            // np.round(np.arange(train, 0, −ratio)) − 1, with numpy's length rule ceil((stop − start)/step).
            let ratio = train as f64 / num_inference_steps as f64;
            let count = (train as f64 / ratio).ceil() as usize;
            (0..count)
                .map(|i| (train as f64 - i as f64 * ratio).round_ties_even() as i64 - 1)
                .collect()
        }
    })
}

/// The scheduler with its tables; `set_timesteps` chooses the inference steps.
#[derive(Clone, Debug)]
pub struct CogVideoXDdimScheduler {
    config: DdimConfig,
    prediction: Prediction,
    alphas_cumprod: Vec<f64>,
    final_alpha_cumprod: f64,
    timesteps: Vec<i64>,
    step_ratio: i64,
}

impl CogVideoXDdimScheduler {
    pub fn new(config: &DdimConfig, num_inference_steps: usize) -> Result<Self> {
        config.validate("scheduler config")?;
        let prediction = config.prediction().ok_or_else(|| {
            config_error(
                "scheduler config",
                "prediction_type",
                &config.prediction_type,
            )
        })?;
        let alphas_cumprod = alphas_cumprod(config);
        let final_alpha_cumprod = if config.set_alpha_to_one {
            1.0
        } else {
            alphas_cumprod.first().copied().unwrap_or(1.0)
        };
        Ok(Self {
            config: config.clone(),
            prediction,
            alphas_cumprod,
            final_alpha_cumprod,
            timesteps: inference_timesteps(config, num_inference_steps)?,
            step_ratio: (config.num_train_timesteps / num_inference_steps) as i64,
        })
    }

    pub fn config(&self) -> &DdimConfig {
        &self.config
    }

    pub fn timesteps(&self) -> &[i64] {
        &self.timesteps
    }

    pub fn alphas_cumprod(&self) -> &[f64] {
        &self.alphas_cumprod
    }

    /// The initial noise is not scaled (`init_noise_sigma` = 1).
    pub fn init_noise_sigma(&self) -> f64 {
        1.0
    }

    fn alpha_at(&self, timestep: i64) -> Result<f64> {
        usize::try_from(timestep)
            .ok()
            .and_then(|t| self.alphas_cumprod.get(t).copied())
            .ok_or_else(|| {
                input_error(
                    "DDIM timestep",
                    format!("{timestep} is outside 0..{}", self.alphas_cumprod.len()),
                )
            })
    }

    /// The (coefficient of x_t, coefficient of the model output) of one eta = 0 step, computed in float64.
    pub fn step_coefficients(&self, timestep: i64) -> Result<(f64, f64)> {
        let previous = timestep - self.step_ratio;
        let alpha = self.alpha_at(timestep)?;
        let alpha_prev = if previous >= 0 {
            self.alpha_at(previous)?
        } else {
            self.final_alpha_cumprod
        };
        let beta = 1.0 - alpha;
        // x0 = a·x_t + b·output, for the prediction type.
        let (x0_from_sample, x0_from_output) = match self.prediction {
            Prediction::Epsilon => (1.0 / alpha.sqrt(), -beta.sqrt() / alpha.sqrt()),
            Prediction::Velocity => (alpha.sqrt(), -beta.sqrt()),
            Prediction::Sample => (0.0, 1.0),
        };
        let a_t = ((1.0 - alpha_prev) / beta).sqrt();
        let b_t = alpha_prev.sqrt() - alpha.sqrt() * a_t;
        Ok((a_t + b_t * x0_from_sample, b_t * x0_from_output))
    }

    /// One DDIM step (eta = 0): x_{t−Δ} from x_t and the model output, in float32 like the reference (which
    /// mixes a bf16 sample with a float32 model output into a float32 result); the caller casts the latents back.
    pub fn step(&self, model_output: &Tensor, timestep: i64, sample: &Tensor) -> Result<Tensor> {
        if model_output.shape() != sample.shape() {
            return Err(input_error(
                "DDIM step",
                format!(
                    "model output {:?} and sample {:?} differ in shape",
                    model_output.shape(),
                    sample.shape()
                ),
            ));
        }
        let previous = timestep - self.step_ratio;
        let alpha = self.alpha_at(timestep)?;
        let alpha_prev = if previous >= 0 {
            self.alpha_at(previous)?
        } else {
            self.final_alpha_cumprod
        };
        let beta = 1.0 - alpha;
        let sample = sample.to_dtype(DType::F32)?;
        let output = model_output.to_dtype(DType::F32)?;
        // Same operation order as diffusers: predicted x0 first, then the two-term update.
        let x0 = match self.prediction {
            Prediction::Epsilon => ((&sample - (&output * beta.sqrt())?)? / alpha.sqrt())?,
            Prediction::Velocity => ((&sample * alpha.sqrt())? - (&output * beta.sqrt())?)?,
            Prediction::Sample => output,
        };
        let a_t = ((1.0 - alpha_prev) / beta).sqrt();
        let b_t = alpha_prev.sqrt() - alpha.sqrt() * a_t;
        Ok(((&sample * a_t)? + (&x0 * b_t)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world_model::ConfigFile as _;

    fn config_5b() -> DdimConfig {
        DdimConfig::from_json(
            r#"{"_class_name": "CogVideoXDDIMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
                "beta_start": 0.00085, "clip_sample": false, "num_train_timesteps": 1000,
                "prediction_type": "v_prediction", "rescale_betas_zero_snr": true, "set_alpha_to_one": true,
                "snr_shift_scale": 1.0, "steps_offset": 0, "timestep_spacing": "trailing"}"#,
            "test",
        )
        .unwrap()
    }

    #[test]
    fn trailing_50_steps_are_999_down_to_19() {
        let timesteps = inference_timesteps(&config_5b(), 50).unwrap();
        assert_eq!(timesteps.len(), 50);
        assert_eq!(timesteps.first(), Some(&999));
        assert_eq!(timesteps.get(1), Some(&979));
        assert_eq!(timesteps.last(), Some(&19));
        assert!(timesteps.windows(2).all(|w| w[0] - w[1] == 20));
    }

    #[test]
    fn trailing_uneven_step_count_rounds_like_numpy() {
        // np.round(np.arange(1000, 0, -1000/7)) - 1 = [999, 856, 713, 570, 428, 285, 142]
        let timesteps = inference_timesteps(&config_5b(), 7).unwrap();
        assert_eq!(timesteps, vec![999, 856, 713, 570, 428, 285, 142]);
    }

    #[test]
    fn leading_and_linspace_spacing() {
        let mut config = config_5b();
        config.timestep_spacing = "leading".into();
        config.steps_offset = 1;
        assert_eq!(
            inference_timesteps(&config, 4).unwrap(),
            vec![751, 501, 251, 1]
        );
        config.timestep_spacing = "linspace".into();
        // np.linspace(0, 999, 4).round() = [0, 333, 666, 999]
        assert_eq!(
            inference_timesteps(&config, 4).unwrap(),
            vec![999, 666, 333, 0]
        );
    }

    #[test]
    fn alphas_match_the_spec_reference_values() {
        let alphas = alphas_cumprod(&config_5b());
        let close = |i: usize, value: f64, tolerance: f64| {
            assert!(
                (alphas[i] - value).abs() <= tolerance,
                "ᾱ[{i}] = {} vs {value}",
                alphas[i]
            )
        };
        close(0, 0.99915, 1e-5);
        close(19, 0.98101, 1e-5);
        close(499, 0.24236, 1e-5);
        close(979, 8.5788e-5, 1e-8);
        assert_eq!(alphas[999], 0.0);
        let mut shifted = config_5b();
        shifted.snr_shift_scale = 3.0;
        let alphas = alphas_cumprod(&shifted);
        assert!((alphas[19] - 0.94657).abs() < 1e-5);
        assert!((alphas[499] - 0.09597).abs() < 1e-5);
    }

    #[test]
    fn unsupported_values_name_the_key() {
        let error =
            DdimConfig::from_json(r#"{"prediction_type": "flow"}"#, "sched.json").unwrap_err();
        assert!(error.to_string().contains("prediction_type"), "{error}");
        let error =
            DdimConfig::from_json(r#"{"timestep_spacing": "karras"}"#, "sched.json").unwrap_err();
        assert!(error.to_string().contains("timestep_spacing"), "{error}");
        let error =
            DdimConfig::from_json(r#"{"beta_schedule": "linear"}"#, "sched.json").unwrap_err();
        assert!(error.to_string().contains("beta_schedule"), "{error}");
    }

    #[test]
    fn last_step_returns_the_predicted_clean_sample() {
        // At t = 19 with 50 steps, prev_t < 0 so ᾱ_prev = 1: x_prev = x0 = √ᾱ·x − √(1−ᾱ)·v.
        let scheduler = CogVideoXDdimScheduler::new(&config_5b(), 50).unwrap();
        let device = candle_core::Device::Cpu;
        let x = Tensor::new(&[1.0f32, -2.0], &device).unwrap();
        let v = Tensor::new(&[0.5f32, 0.25], &device).unwrap();
        let out: Vec<f32> = scheduler.step(&v, 19, &x).unwrap().to_vec1().unwrap();
        let a = scheduler.alphas_cumprod()[19];
        for ((o, x), v) in out.iter().zip([1.0f64, -2.0]).zip([0.5f64, 0.25]) {
            let expected = a.sqrt() * x - (1.0 - a).sqrt() * v;
            assert!((*o as f64 - expected).abs() < 1e-6);
        }
        let (cx, cv) = scheduler.step_coefficients(19).unwrap();
        assert!((cx - a.sqrt()).abs() < 1e-12 && (cv + (1.0 - a).sqrt()).abs() < 1e-12);
    }
}
