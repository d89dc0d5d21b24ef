//! Training DWM-architecture models in candle (CPU, or a GPU when built with one): the CogVideoX VAE on
//! videos, then the transformer in the paper's two stages — video inpainting pre-training through the mask and
//! masked-video channels (the near-identity prior), and the DWM fine-tune with zero-initialised hand channels on
//! `[noisy | mask | static | hand]` — with the v-prediction loss on the CogVideoX DDIM schedule.
//!
//! A run lives in one folder: `checkpoints/<stage>.safetensors` (weights, AdamW moments and the step, written
//! atomically), `logs/<stage>.csv` (one row per step), and `model/`, the finished model in diffusers' layout.
//! Every random draw of step `n` comes from a generator seeded by (seed, stage, n), so a resumed run takes
//! exactly the steps an uninterrupted one would.

pub mod data;
pub mod optim;
pub mod recipe;
pub mod tiny;

use super::Result;
use super::error::file_error;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use optim::AdamW;
use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The training stages, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    Vae,
    /// The decoder fine-tune with the encoder frozen (optional; the latent space does not change).
    Decoder,
    Inpaint,
    Dwm,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Vae, Stage::Decoder, Stage::Inpaint, Stage::Dwm];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Vae => "vae",
            Stage::Decoder => "decoder",
            Stage::Inpaint => "inpaint",
            Stage::Dwm => "dwm",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == text)
    }

    fn tag(self) -> u64 {
        match self {
            Stage::Vae => 0x5641_4500,
            Stage::Decoder => 0x4445_4300,
            Stage::Inpaint => 0x494e_5000,
            Stage::Dwm => 0x4457_4d00,
        }
    }
}

/// The training run's draws over the crate's SplitMix64 (`crate::rng`): the same on every platform.
#[derive(Clone, Debug)]
pub struct TrainRng(crate::rng::SplitMix64);

impl TrainRng {
    /// The generator of one training step.
    pub fn for_step(seed: u64, stage: Stage, step: usize) -> Self {
        let mut rng = Self::new(
            seed ^ stage.tag().wrapping_mul(crate::rng::GOLDEN_GAMMA)
                ^ (step as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
        );
        rng.next_u64();
        rng
    }

    pub fn new(seed: u64) -> Self {
        Self(crate::rng::SplitMix64::new(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0.unit_f64()
    }

    /// Uniform in 0..n (n > 0; 0 for n = 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        ((self.uniform() * n as f64) as usize).min(n - 1)
    }

    /// Standard normal values (Box–Muller) as an f32 tensor.
    pub fn normal(&mut self, shape: &[usize], device: &Device) -> Result<Tensor> {
        let count: usize = shape.iter().product();
        let values = crate::rng::box_muller(count, || {
            let u1 = self.uniform().max(1e-300);
            (u1, self.uniform())
        });
        Ok(Tensor::from_vec(values, shape, device)?)
    }
}

/// A `VarMap` backend that draws new variables from a seeded generator (candle's CPU generator cannot be
/// seeded), following each layer's own initialisation hint, so a run starts from the same weights every time.
struct SeededVarMap {
    map: VarMap,
    rng: std::sync::Mutex<TrainRng>,
}

fn initial_values(
    init: &candle_nn::Init,
    shape: &candle_core::Shape,
    rng: &mut TrainRng,
    device: &Device,
) -> Result<Tensor> {
    use candle_nn::init::NormalOrUniform;
    let dims = shape.dims();
    let count = shape.elem_count();
    let uniform = |rng: &mut TrainRng, lo: f64, up: f64| -> Result<Tensor> {
        let values: Vec<f32> = (0..count)
            .map(|_| (lo + (up - lo) * rng.uniform()) as f32)
            .collect();
        Ok(Tensor::from_vec(values, dims, device)?)
    };
    Ok(match *init {
        candle_nn::Init::Const(value) => Tensor::full(value as f32, dims, device)?,
        candle_nn::Init::Uniform { lo, up } => uniform(rng, lo, up)?,
        candle_nn::Init::Randn { mean, stdev } => ((rng.normal(dims, device)? * stdev)? + mean)?,
        candle_nn::Init::Kaiming {
            dist,
            fan,
            non_linearity,
        } => {
            let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
            match dist {
                NormalOrUniform::Uniform => {
                    let bound = 3f64.sqrt() * std;
                    uniform(rng, -bound, bound)?
                }
                NormalOrUniform::Normal => (rng.normal(dims, device)? * std)?,
            }
        }
    })
}

impl candle_nn::var_builder::SimpleBackend for SeededVarMap {
    fn get(
        &self,
        shape: candle_core::Shape,
        name: &str,
        init: candle_nn::Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut data = self
            .map
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("a variable map was poisoned".into()))?;
        if let Some(var) = data.get(name) {
            if var.shape() != &shape {
                candle_core::bail!("shape mismatch on {name}: {shape:?} <> {:?}", var.shape());
            }
            return Ok(var.as_tensor().clone());
        }
        let mut rng = self.rng.lock().map_err(|_| {
            candle_core::Error::Msg("the initialisation generator was poisoned".into())
        })?;
        let values = initial_values(&init, &shape, &mut rng, device)
            .map_err(candle_core::Error::wrap)?
            .to_dtype(dtype)?;
        let var = Var::from_tensor(&values)?;
        let tensor = var.as_tensor().clone();
        data.insert(name.to_string(), var);
        Ok(tensor)
    }

    fn get_unchecked(
        &self,
        name: &str,
        _dtype: DType,
        _device: &Device,
    ) -> candle_core::Result<Tensor> {
        candle_core::bail!("`{name}`: a training variable needs its shape")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.map
            .data()
            .lock()
            .is_ok_and(|data| data.contains_key(name))
    }
}

/// candle-transformers' T5 asks for its RMS-norm scales without an initialisation hint, which a VarMap fills
/// with zeros (a T5 that outputs zeros): start them at one, as T5 itself does. `vars` are the text encoder's.
pub fn start_t5_norm_scales_at_one(vars: &[(String, Var)]) -> Result<()> {
    for (name, var) in vars {
        if name.ends_with("layer_norm.weight") {
            var.set(&var.as_tensor().ones_like()?)?;
        }
    }
    Ok(())
}

/// A `VarBuilder` over `map` whose new variables are drawn from a generator seeded with `seed`.
pub fn seeded_var_builder(
    map: &VarMap,
    seed: u64,
    device: &Device,
) -> candle_nn::VarBuilder<'static> {
    candle_nn::VarBuilder::from_backend(
        Box::new(SeededVarMap {
            map: map.clone(),
            rng: std::sync::Mutex::new(TrainRng::new(seed ^ 0x1417_0000)),
        }),
        DType::F32,
        device.clone(),
    )
}

/// The variables of a `VarMap`, names prefixed (so several networks share one optimizer and checkpoint).
pub fn named_vars(varmap: &VarMap, prefix: &str) -> Result<Vec<(String, Var)>> {
    let data = varmap.data().lock().map_err(|_| {
        super::error::input_error("training", "a variable map was poisoned by a panic")
    })?;
    let mut vars: Vec<(String, Var)> = data
        .iter()
        .map(|(name, var)| (format!("{prefix}{name}"), var.clone()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(vars)
}

/// The learning rate at a step: linear warm-up, then cosine decay to a tenth.
pub fn learning_rate(base: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / span).min(1.0);
    base * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
}

/// The files of a training run.
#[derive(Clone, Debug)]
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn checkpoint(&self, stage: Stage) -> PathBuf {
        self.root
            .join("checkpoints")
            .join(format!("{}.safetensors", stage.name()))
    }

    pub fn log(&self, stage: Stage) -> PathBuf {
        self.root.join("logs").join(format!("{}.csv", stage.name()))
    }

    pub fn model(&self) -> PathBuf {
        self.root.join("model")
    }

    pub fn latents(&self) -> PathBuf {
        self.root.join("latents.safetensors")
    }
}

/// Writes tensors to `path` atomically (`crate::atomic`), so an interruption never leaves a torn file.
pub fn save_tensors_atomic(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| file_error(parent, e))?;
    }
    // Stored in f32 on the CPU whatever the device, so a checkpoint moves between machines.
    let on_cpu = tensors
        .iter()
        .map(|(name, tensor)| {
            let tensor = if tensor.dtype() == DType::I64 {
                tensor.to_device(&Device::Cpu)?
            } else {
                tensor.to_device(&Device::Cpu)?.to_dtype(DType::F32)?
            };
            Ok((name.clone(), tensor))
        })
        .collect::<Result<HashMap<_, _>>>()?;
    crate::atomic::write_file_atomically(path, |temporary| {
        candle_core::safetensors::save(&on_cpu, temporary).map_err(std::io::Error::other)
    })
    .map_err(|e| file_error(path, e))
}

/// Writes text atomically (`crate::atomic`).
pub fn write_text_atomic(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| file_error(parent, e))?;
    }
    crate::atomic::write_atomically(path, text.as_bytes()).map_err(|e| file_error(path, e))
}

/// A training checkpoint: every variable (`param.<name>`), the optimizer moments, and the next step.
pub fn save_checkpoint(
    path: &Path,
    vars: &[(String, Var)],
    optimizer: &AdamW,
    next_step: usize,
) -> Result<()> {
    let mut tensors = optimizer.state()?;
    for (name, var) in vars {
        tensors.insert(format!("param.{name}"), var.as_tensor().clone());
    }
    tensors.insert(
        "train.next_step".to_string(),
        Tensor::new(&[next_step as i64], &Device::Cpu)?,
    );
    save_tensors_atomic(&tensors, path)
}

pub fn load_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, device)
        .map_err(|e| file_error(path, format!("not a readable safetensors file: {e}")))
}

/// Restores variables from a checkpoint's `param.<name>` tensors; each must be present with the same shape.
pub fn restore_vars(
    path: &Path,
    tensors: &HashMap<String, Tensor>,
    vars: &[(String, Var)],
) -> Result<()> {
    set_vars_from(
        path,
        vars,
        |name| tensors.get(&format!("param.{name}")).cloned(),
        "a different model?",
    )
}

/// Sets each variable to the tensor `lookup` finds for its name in the file `path`; a missing tensor or another
/// shape is an error naming the file, the variable and `hint` (what the user may have got wrong).
pub fn set_vars_from(
    path: &Path,
    vars: &[(String, Var)],
    lookup: impl Fn(&str) -> Option<Tensor>,
    hint: &str,
) -> Result<()> {
    for (name, var) in vars {
        let tensor = lookup(name)
            .ok_or_else(|| file_error(path, format!("has no weights for `{name}` ({hint})")))?;
        if tensor.dims() != var.dims() {
            return Err(file_error(
                path,
                format!(
                    "`{name}` has shape {:?}, the model {:?} ({hint})",
                    tensor.dims(),
                    var.dims()
                ),
            ));
        }
        var.set(&tensor.to_device(var.device())?.to_dtype(var.dtype())?)?;
    }
    Ok(())
}

/// The step a checkpoint resumes at.
pub fn checkpoint_next_step(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<usize> {
    let step = tensors
        .get("train.next_step")
        .ok_or_else(|| {
            file_error(
                path,
                "has no `train.next_step`: not a handtwin training checkpoint",
            )
        })?
        .to_vec1::<i64>()?;
    Ok(step.first().copied().unwrap_or(0).max(0) as usize)
}

/// One row of a training log.
#[derive(Clone, Debug)]
pub struct StepLog {
    pub stage: Stage,
    pub step: usize,
    pub total: usize,
    pub loss: f64,
    pub grad_norm: f64,
    pub learning_rate: f64,
    /// Seconds this step took.
    pub seconds: f64,
}

/// The CSV log of a stage; on resume, rows at or after the resumed step are dropped (they will be redone).
pub struct LossLog {
    file: std::fs::File,
    path: PathBuf,
}

impl LossLog {
    pub const HEADER: &'static str = "step,loss,grad_norm,learning_rate,seconds";

    pub fn open(path: &Path, resume_at: usize) -> Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| file_error(parent, e))?;
        }
        let mut kept = vec![Self::HEADER.to_string()];
        if resume_at > 0
            && let Ok(text) = std::fs::read_to_string(path)
        {
            kept.extend(
                text.lines()
                    .skip(1)
                    .filter(|line| {
                        line.split(',')
                            .next()
                            .and_then(|s| s.parse::<usize>().ok())
                            .is_some_and(|step| step < resume_at)
                    })
                    .map(str::to_string),
            );
        }
        write_text_atomic(path, &(kept.join("\n") + "\n"))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| file_error(path, e))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn append(&mut self, row: &StepLog) -> Result<()> {
        writeln!(
            self.file,
            "{},{:.6},{:.5},{:.3e},{:.3}",
            row.step, row.loss, row.grad_norm, row.learning_rate, row.seconds
        )
        .map_err(|e| file_error(&self.path, e))
    }
}

/// Reads a stage's log: (step, loss) pairs.
pub fn read_loss_log(path: &Path) -> Result<Vec<(usize, f64)>> {
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        let mut fields = line.split(',');
        let step = fields.next().and_then(|s| s.parse::<usize>().ok());
        let loss = fields.next().and_then(|s| s.parse::<f64>().ok());
        match (step, loss) {
            (Some(step), Some(loss)) => rows.push((step, loss)),
            _ => {
                return Err(file_error(
                    path,
                    format!("line {}: expected `step,loss,...`", index + 1),
                ));
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_generators_are_reproducible_and_distinct() {
        let a = TrainRng::for_step(7, Stage::Dwm, 3).next_u64();
        assert_eq!(a, TrainRng::for_step(7, Stage::Dwm, 3).next_u64());
        assert_ne!(a, TrainRng::for_step(7, Stage::Dwm, 4).next_u64());
        assert_ne!(a, TrainRng::for_step(7, Stage::Inpaint, 3).next_u64());
        let values = TrainRng::new(1)
            .normal(&[10_000], &Device::Cpu)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }

    #[test]
    fn schedule_warms_up_then_decays() {
        assert!((learning_rate(1.0, 0, 10, 100) - 0.1).abs() < 1e-12);
        assert!((learning_rate(1.0, 10, 10, 100) - 1.0).abs() < 1e-12);
        assert!((learning_rate(1.0, 100, 10, 100) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn log_drops_rows_that_will_be_redone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/dwm.csv");
        let mut log = LossLog::open(&path, 0).unwrap();
        for step in 0..5 {
            let row = StepLog {
                stage: Stage::Dwm,
                step,
                total: 5,
                loss: step as f64,
                grad_norm: 1.0,
                learning_rate: 1e-4,
                seconds: 0.1,
            };
            log.append(&row).unwrap();
        }
        drop(log);
        LossLog::open(&path, 3).unwrap();
        let rows = read_loss_log(&path).unwrap();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 1, 2]);
    }
}
