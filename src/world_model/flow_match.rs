//! The flow-matching Euler sampler of the Wan variant (diffusers' `FlowMatchEulerDiscreteScheduler`, as DWM-Wan
//! builds it: shift 5, no dynamic shifting; `dwm-wan-reference.md` §3). The model predicts the velocity
//! `v = noise − x0`; a step moves the sample from σ_i to σ_{i+1}: `x ← x + (σ_{i+1} − σ_i)·v`, in float32.
//!
//! The schedule follows diffusers number for number: the training sigmas `shift·σ/(1 + (shift−1)·σ)` of
//! σ = t/N for t = N…1, in float32; inference timesteps spaced linearly (float64) from σ_max·N to σ_min·N, divided
//! by N and shifted again, then cast to float32, with the terminal 0 appended to the sigmas; the transformer
//! receives t = σ·N.

use super::error::{Result, config_error, input_error};
use super::{ConfigFile, WorldModelError};
use candle_core::{DType, Tensor};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The scheduler's `scheduler_config.json`. Keys for the options DWM does not use (dynamic shifting, Karras /
/// exponential / beta sigmas, a terminal shift, inverted sigmas, stochastic sampling) are accepted only at their
/// defaults, so a config handtwin would not follow is an error rather than a different schedule.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct FlowMatchConfig {
    #[serde(default = "default_train_timesteps")]
    pub num_train_timesteps: usize,
    #[serde(default = "default_shift")]
    pub shift: f64,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

fn default_train_timesteps() -> usize {
    1000
}

fn default_shift() -> f64 {
    1.0
}

impl ConfigFile for FlowMatchConfig {
    fn check(&self, source_name: &str) -> Result<()> {
        if self.num_train_timesteps == 0 {
            return Err(config_error(
                source_name,
                "num_train_timesteps",
                "must be positive",
            ));
        }
        if !(self.shift.is_finite() && self.shift > 0.0) {
            return Err(config_error(
                source_name,
                "shift",
                "must be a positive number",
            ));
        }
        for (key, value) in &self.extra {
            let at_default = match key.as_str() {
                "_class_name" => value.as_str() == Some("FlowMatchEulerDiscreteScheduler"),
                k if k.starts_with('_') => true,
                // Only read with dynamic shifting, which must be off.
                "base_shift" | "max_shift" | "base_image_seq_len" | "max_image_seq_len"
                | "time_shift_type" => true,
                "use_dynamic_shifting"
                | "invert_sigmas"
                | "use_karras_sigmas"
                | "use_exponential_sigmas"
                | "use_beta_sigmas"
                | "stochastic_sampling" => value.as_bool() == Some(false),
                "shift_terminal" => value.is_null(),
                _ => {
                    return Err(config_error(
                        source_name,
                        key,
                        "unknown key for FlowMatchEulerDiscreteScheduler",
                    ));
                }
            };
            if !at_default {
                return Err(config_error(
                    source_name,
                    key,
                    format!("{value} is not supported (DWM's Wan sampler uses the default)"),
                ));
            }
        }
        Ok(())
    }
}

/// The schedule for one sampling run.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowMatchEulerScheduler {
    /// σ_0 … σ_{n−1} and the terminal 0 (float32 values, as diffusers keeps them).
    sigmas: Vec<f32>,
    /// t_i = σ_i · N (float32), what the transformer receives.
    timesteps: Vec<f32>,
}

impl FlowMatchEulerScheduler {
    pub fn new(config: &FlowMatchConfig, steps: usize) -> Result<Self> {
        if steps == 0 {
            return Err(input_error("sampling steps", "must be at least 1"));
        }
        let n = config.num_train_timesteps;
        // The training sigmas in float32 (diffusers' __init__): only their ends are used.
        let shift32 = config.shift as f32;
        let shifted32 = |sigma: f32| shift32 * sigma / (1.0 + (config.shift - 1.0) as f32 * sigma);
        // t = N gives σ = N/N = 1 exactly; t = 1 gives 1/N.
        let sigma_max = f64::from(shifted32(1.0));
        let sigma_min = f64::from(shifted32(1.0 / n as f32));
        // set_timesteps: numpy's linspace in float64 (start + i·step, the last value exactly the stop).
        let (start, stop) = (sigma_max * n as f64, sigma_min * n as f64);
        let step = if steps > 1 {
            (stop - start) / (steps - 1) as f64
        } else {
            0.0
        };
        let mut sigmas: Vec<f32> = (0..steps)
            .map(|i| {
                let t = if steps > 1 && i == steps - 1 {
                    stop
                } else {
                    start + i as f64 * step
                };
                let sigma = t / n as f64;
                (config.shift * sigma / (1.0 + (config.shift - 1.0) * sigma)) as f32
            })
            .collect();
        let timesteps = sigmas.iter().map(|&s| s * n as f32).collect();
        sigmas.push(0.0);
        Ok(Self { sigmas, timesteps })
    }

    pub fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }

    pub fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    /// One Euler step from σ_index to σ_{index+1}: `sample + (σ_{index+1} − σ_index)·velocity`, computed in
    /// float32 and returned in the velocity's dtype.
    pub fn step(&self, velocity: &Tensor, index: usize, sample: &Tensor) -> Result<Tensor> {
        let (Some(&sigma), Some(&next)) = (self.sigmas.get(index), self.sigmas.get(index + 1))
        else {
            return Err(WorldModelError::Input {
                what: "flow-matching step".into(),
                reason: format!(
                    "step {index} is past the schedule's {} steps",
                    self.timesteps.len()
                ),
            });
        };
        let dt = f64::from(next - sigma);
        let moved = (sample.to_dtype(DType::F32)? + (velocity.to_dtype(DType::F32)? * dt)?)?;
        Ok(moved.to_dtype(velocity.dtype())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Result<FlowMatchConfig> {
        FlowMatchConfig::from_json(json, "scheduler_config.json")
    }

    #[test]
    fn dwm_wan_schedule_matches_the_spec() {
        let config =
            config(r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 5.0}"#).unwrap();
        let scheduler = FlowMatchEulerScheduler::new(&config, 50).unwrap();
        let sigmas = scheduler.sigmas();
        assert_eq!(sigmas.len(), 51);
        // dwm-wan-reference.md §3: σ = 1, .995872, .991605, …, .114819, .024414, then 0.
        for (got, want) in [
            (sigmas[0], 1.0),
            (sigmas[1], 0.995872),
            (sigmas[2], 0.991605),
            (sigmas[48], 0.114819),
            (sigmas[49], 0.024414),
        ] {
            assert!((got - want).abs() < 5e-7, "{got} vs {want}");
        }
        assert_eq!(sigmas[50], 0.0);
        assert_eq!(scheduler.timesteps()[0], 1000.0);
    }

    #[test]
    fn unsupported_options_are_refused_by_name() {
        for bad in [
            r#"{"use_dynamic_shifting": true}"#,
            r#"{"use_karras_sigmas": true}"#,
            r#"{"shift_terminal": 0.1}"#,
            r#"{"stochastic_sampling": true}"#,
            r#"{"shift": 0}"#,
            r#"{"prediction_type": "epsilon"}"#,
            r#"{"_class_name": "UniPCMultistepScheduler"}"#,
        ] {
            let error = config(bad).unwrap_err().to_string();
            assert!(
                error.starts_with("scheduler_config.json: key `"),
                "{bad}: {error}"
            );
        }
        let scheduler = FlowMatchEulerScheduler::new(&config("{}").unwrap(), 3).unwrap();
        let x = Tensor::zeros(2, DType::F32, &candle_core::Device::Cpu).unwrap();
        assert!(scheduler.step(&x, 3, &x).is_err());
        assert!(FlowMatchEulerScheduler::new(&config("{}").unwrap(), 0).is_err());
    }
}
