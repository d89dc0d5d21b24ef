//! The real model for the worker: DWM of either family (`world_model::load_model`).

use super::{Control, JobInput, Model, ModelLoader, ModelSpec, StepProgress};
use crate::video::Frames;
use crate::world_model::WorldModel;
use crate::world_model::pipeline::Sampling;
use candle_core::{DType, Device};

/// Loads DWM models of either family from their folder (+ the DWM LoRA folder).
#[derive(Clone, Copy, Debug, Default)]
pub struct DwmLoader;

/// The candle device for "cpu", "cuda" or "metal" (the `--device` option and the viewer's choice).
pub fn device(name: &str) -> Result<Device, String> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(0).map_err(|e| {
            // candle's errors carry a backtrace after the first line; the first line says what failed.
            let reason = e.to_string();
            let reason = reason.lines().next().unwrap_or_default().to_string();
            if cfg!(feature = "cuda") {
                format!("cannot use CUDA device 0: {reason} (is an NVIDIA driver of the 580 series or newer loaded?)")
            } else {
                format!("cannot use CUDA ({reason}); this build lacks the `cuda` feature (tools/check-cuda-build.sh)")
            }
        }),
        "metal" => Device::new_metal(0).map_err(|e| {
            format!("cannot use Metal ({e}); this build may lack the `metal` feature")
        }),
        other => Err(format!("unknown device \"{other}\" (cpu, cuda or metal)")),
    }
}

/// The candle dtype for "f32", "bf16" or "f16" on `device` (the `--dtype` option).
pub fn dtype(name: &str, device: &Device) -> Result<DType, String> {
    match (name, device) {
        ("f32", _) => Ok(DType::F32),
        // candle's CPU backend has no bf16 matrix multiply.
        ("bf16", Device::Cpu) => Err("bf16 needs a GPU; use f32 on the CPU".into()),
        ("bf16", _) => Ok(DType::BF16),
        ("f16", _) => Ok(DType::F16),
        (other, _) => Err(format!("unknown dtype \"{other}\" (f32, bf16 or f16)")),
    }
}

impl ModelLoader for DwmLoader {
    fn load(&self, spec: &ModelSpec) -> Result<Box<dyn Model>, String> {
        let device = device(&spec.device)?;
        let dtype = dtype(&spec.dtype, &device)?;
        // Refuse before reading gigabytes of weights when the device cannot hold the run.
        let available = spec
            .device_memory
            .map(|bytes| bytes as usize)
            .or_else(|| crate::world_model::memory::device_free_bytes(&device));
        if let Some(available) = available {
            let estimate = crate::world_model::memory::estimate_for_directory(
                &spec.directory,
                spec.lora.as_deref(),
                dtype.size_in_bytes(),
            )
            .map_err(|e| e.to_string())?;
            if let Some(estimate) = estimate {
                estimate
                    .check_fits(spec.offload, available, &spec.device)
                    .map_err(|e| format!("{}: {e}", spec.directory.display()))?;
            }
        }
        let model = crate::world_model::load_model(
            &spec.directory,
            spec.lora.as_deref(),
            &device,
            dtype,
            spec.offload,
        )
        .map_err(|e| e.to_string())?;
        Ok(Box::new(Loaded(model)))
    }
}

/// A loaded model of either family, as the worker runs it.
struct Loaded(Box<dyn WorldModel>);

impl Model for Loaded {
    fn generate(
        &mut self,
        input: &JobInput,
        progress: &mut dyn FnMut(StepProgress) -> Control,
    ) -> Result<Option<Frames>, String> {
        let settings = &input.settings;
        self.0
            .generate(
                &input.static_video,
                &input.hand_video,
                &input.prompt,
                Sampling {
                    steps: settings.steps,
                    guidance_scale: settings.guidance_scale,
                    seed: settings.seed,
                },
                &mut |step, total| progress(StepProgress { step, total }) == Control::Continue,
            )
            .map_err(|e| e.to_string())
    }

    fn reconstruct(&mut self, static_video: &Frames) -> Result<Option<Frames>, String> {
        self.0
            .reconstruct(static_video)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}
