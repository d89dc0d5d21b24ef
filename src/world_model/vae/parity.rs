//! The VAE components of the parity-case format (`cogvideox_vae_encode`, `cogvideox_vae_decode`,
//! `cogvideox_vae_tiled`): load a case folder, run it in float32 on the CPU, and report the worst relative
//! error of each expected output.

use super::{AutoencoderKLCogVideoX, Tiling, VaeConfig};
use crate::world_model::ConfigFile as _;
use anyhow::{Context as _, anyhow, bail};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use std::collections::HashMap;
use std::path::Path;

fn load_tensors(path: &Path) -> anyhow::Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .with_context(|| format!("{}: cannot read safetensors", path.display()))
}

fn get<'a>(io: &'a HashMap<String, Tensor>, path: &Path, name: &str) -> anyhow::Result<&'a Tensor> {
    io.get(name)
        .ok_or_else(|| anyhow!("{}: missing tensor `{name}`", path.display()))
}

/// max|ours − ref| / max(max|ref|, 1e-6), the parity pass measure.
pub fn relative_error(ours: &Tensor, reference: &Tensor) -> anyhow::Result<f32> {
    if ours.dims() != reference.dims() {
        bail!(
            "shape {:?} differs from the reference {:?}",
            ours.dims(),
            reference.dims()
        );
    }
    let ours = ours.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
    let reference = reference.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
    let max_abs = |t: &Tensor| -> anyhow::Result<f32> {
        Ok(t.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?)
    };
    let difference = max_abs(&(&ours - &reference)?)?;
    Ok(difference / max_abs(&reference)?.max(1e-6))
}

/// Tiling from the case settings; absent tile keys take the config's defaults, as `enable_tiling()` does.
fn tiling_from_settings(
    config: &VaeConfig,
    settings: &serde_json::Value,
) -> anyhow::Result<Option<Tiling>> {
    let enabled = match settings.get("tiling") {
        None | Some(serde_json::Value::Null) => false,
        Some(value) => value
            .as_bool()
            .ok_or_else(|| anyhow!("case.json: `tiling` must be true or false, got {value}"))?,
    };
    if !enabled {
        return Ok(None);
    }
    let mut tiling = Tiling::from_config(config);
    let size = |key: &str| -> anyhow::Result<Option<usize>> {
        match settings.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| anyhow!("case.json: `{key}` must be a positive integer, got {v}")),
        }
    };
    let factor = |key: &str| -> anyhow::Result<Option<f64>> {
        match settings.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| anyhow!("case.json: `{key}` must be a number, got {v}")),
        }
    };
    // `enable_tiling` treats 0 like "not given" (`value or default`).
    if let Some(v) = size("tile_sample_min_height")?.filter(|&v| v > 0) {
        tiling.tile_sample_min_height = v;
    }
    if let Some(v) = size("tile_sample_min_width")?.filter(|&v| v > 0) {
        tiling.tile_sample_min_width = v;
    }
    if let Some(v) = factor("tile_overlap_factor_height")?.filter(|&v| v != 0.0) {
        tiling.tile_overlap_factor_height = v;
    }
    if let Some(v) = factor("tile_overlap_factor_width")?.filter(|&v| v != 0.0) {
        tiling.tile_overlap_factor_width = v;
    }
    Ok(Some(tiling))
}

/// Runs one VAE parity case on `device` in `dtype` (the reference is float32; inputs are cast); returns
/// (output name, worst relative error) per expected output.
pub fn run_parity_case(
    component: &str,
    case_dir: &Path,
    settings: &serde_json::Value,
    device: &Device,
    dtype: DType,
) -> anyhow::Result<Vec<(String, f32)>> {
    let config_path = case_dir.join("config.json");
    let config = VaeConfig::from_file(&config_path)?;
    let weights_path = case_dir.join("model.safetensors");
    let weights = load_tensors(&weights_path)?;
    let vb = VarBuilder::from_tensors(weights, dtype, device);
    let mut vae = AutoencoderKLCogVideoX::new(&config, vb)
        .with_context(|| format!("{}: cannot build the VAE", weights_path.display()))?;
    let io_path = case_dir.join("io.safetensors");
    let io = load_tensors(&io_path)?;
    let tiling = tiling_from_settings(&config, settings)?;
    let compare = |name: &str, ours: &Tensor| -> anyhow::Result<(String, f32)> {
        let reference = get(&io, &io_path, name)?;
        let error = relative_error(ours, reference)
            .with_context(|| format!("{}: output `{name}`", io_path.display()))?;
        Ok((name.to_string(), error))
    };
    match component {
        "cogvideox_vae_encode" => {
            vae.set_tiling(tiling);
            let sample = get(&io, &io_path, "sample")?
                .to_device(device)?
                .to_dtype(dtype)?;
            let posterior = vae.encode(&sample)?;
            Ok(vec![
                compare("mean", &posterior.mean)?,
                compare("logvar", &posterior.logvar)?,
            ])
        }
        "cogvideox_vae_decode" => {
            vae.set_tiling(tiling);
            let latents = get(&io, &io_path, "latents")?
                .to_device(device)?
                .to_dtype(dtype)?;
            let sample = vae.decode(&latents)?;
            Ok(vec![compare("sample", &sample)?])
        }
        "cogvideox_vae_tiled" => {
            let tiling = tiling.ok_or_else(|| {
                anyhow!(
                    "{}: cogvideox_vae_tiled needs `tiling: true`",
                    case_dir.display()
                )
            })?;
            vae.set_tiling(Some(tiling));
            let sample = get(&io, &io_path, "sample")?
                .to_device(device)?
                .to_dtype(dtype)?;
            let posterior = vae.encode(&sample)?;
            // Decode the reference mean, so the decoder is checked on its own.
            let reference_mean = get(&io, &io_path, "mean")?
                .to_device(device)?
                .to_dtype(dtype)?;
            let decoded = vae.decode(&reference_mean)?;
            Ok(vec![
                compare("mean", &posterior.mean)?,
                compare("logvar", &posterior.logvar)?,
                compare("decoded", &decoded)?,
            ])
        }
        other => bail!(
            "{}: component `{other}` is not a VAE component (cogvideox_vae_encode, cogvideox_vae_decode, cogvideox_vae_tiled)",
            case_dir.display()
        ),
    }
}
