//! AdamW with decoupled weight decay and global-norm gradient clipping, with its state exposed so a checkpoint
//! can hold it (candle_nn's AdamW keeps its moments private, which would make resuming start the moments from
//! zero and change the next step).

use super::super::Result;
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWSettings {
    pub learning_rate: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Applied to matrices and kernels only (rank ≥ 2), not to biases or norm scales.
    pub weight_decay: f64,
    /// Gradients are scaled down together when their global L2 norm exceeds this.
    pub max_grad_norm: f64,
}

impl Default for AdamWSettings {
    fn default() -> Self {
        Self {
            learning_rate: 2e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-4,
            max_grad_norm: 1.0,
        }
    }
}

struct Slot {
    name: String,
    var: Var,
    first: Tensor,
    second: Tensor,
    /// Multiplies this variable's update element by element (broadcast), on top of the learning rate; `None`
    /// is 1 everywhere.
    lr_scale: Option<Tensor>,
}

/// The optimizer over a fixed, name-sorted list of variables (so the order, and with it every reduction, is
/// the same in every run).
pub struct AdamW {
    slots: Vec<Slot>,
    steps: usize,
    pub settings: AdamWSettings,
}

/// What one optimizer step did.
#[derive(Clone, Copy, Debug)]
pub struct StepReport {
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
    pub clipped: bool,
}

impl AdamW {
    pub fn new(mut vars: Vec<(String, Var)>, settings: AdamWSettings) -> Result<Self> {
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = vars
            .into_iter()
            .map(|(name, var)| {
                let zeros = var.as_tensor().zeros_like()?;
                Ok(Slot {
                    name,
                    first: zeros.clone(),
                    second: zeros,
                    lr_scale: None,
                    var,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            slots,
            steps: 0,
            settings,
        })
    }

    /// Scales the update of the variable `name` element by element: `scale` must broadcast to its shape (for
    /// example `(1, channels, 1, 1)` for a kernel's input channels). The weight decay is not scaled. A setting
    /// of the run, not state: a resumed run must be given the same scale to take the same steps.
    pub fn scale_learning_rate(&mut self, name: &str, scale: &Tensor) -> Result<()> {
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or_else(|| {
                super::super::error::input_error(
                    "learning-rate scale",
                    format!("the optimizer has no variable `{name}`"),
                )
            })?;
        let shape = slot.var.as_tensor().shape().clone();
        let scale = scale
            .to_dtype(slot.var.dtype())?
            .to_device(slot.var.device())?
            .broadcast_as(shape.clone())
            .map_err(|e| {
                super::super::error::input_error(
                    "learning-rate scale",
                    format!(
                        "a scale of shape {:?} does not fit `{name}` of shape {:?}: {e}",
                        scale.dims(),
                        shape.dims()
                    ),
                )
            })?
            .contiguous()?;
        slot.lr_scale = Some(scale);
        Ok(())
    }

    pub fn steps(&self) -> usize {
        self.steps
    }

    pub fn parameter_count(&self) -> usize {
        self.slots
            .iter()
            .map(|s| s.var.as_tensor().elem_count())
            .sum()
    }

    /// Clips by global norm, then one AdamW update of every variable that has a gradient.
    pub fn step(&mut self, grads: &GradStore) -> Result<StepReport> {
        let mut squared = 0f64;
        for slot in &self.slots {
            if let Some(g) = grads.get(slot.var.as_tensor()) {
                squared += g
                    .to_dtype(DType::F32)?
                    .sqr()?
                    .sum_all()?
                    .to_scalar::<f32>()? as f64;
            }
        }
        let grad_norm = squared.sqrt();
        if !grad_norm.is_finite() {
            return Err(super::super::error::input_error(
                "training step",
                format!(
                    "the gradient norm is {grad_norm} (the loss diverged); lower the learning rate or resume from an earlier checkpoint"
                ),
            ));
        }
        let max = self.settings.max_grad_norm;
        let clipped = max > 0.0 && grad_norm > max;
        let scale = if clipped {
            max / (grad_norm + 1e-6)
        } else {
            1.0
        };
        self.steps += 1;
        let s = self.settings;
        let t = self.steps as i32;
        let correction1 = 1.0 - s.beta1.powi(t);
        let correction2 = 1.0 - s.beta2.powi(t);
        for slot in &mut self.slots {
            let Some(g) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            // Gradients carry the op graph of the step that made them; detached, the moments do not keep every
            // past step's graph alive.
            let g = (g.detach() * scale)?;
            slot.first = ((&slot.first * s.beta1)? + (&g * (1.0 - s.beta1))?)?.detach();
            slot.second = ((&slot.second * s.beta2)? + (g.sqr()? * (1.0 - s.beta2))?)?.detach();
            let m_hat = (&slot.first / correction1)?;
            let v_hat = (&slot.second / correction2)?;
            let update = (m_hat / (v_hat.sqrt()? + s.eps)?)?;
            let update = match &slot.lr_scale {
                Some(scale) => (update * scale)?,
                None => update,
            };
            let theta = slot.var.as_tensor().detach();
            let decayed = if theta.rank() >= 2 && s.weight_decay > 0.0 {
                (&theta * (1.0 - s.learning_rate * s.weight_decay))?
            } else {
                theta
            };
            slot.var.set(&(decayed - (update * s.learning_rate)?)?)?;
        }
        Ok(StepReport { grad_norm, clipped })
    }

    /// The moments, keyed `adamw.first.<name>` / `adamw.second.<name>`, plus the step count.
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for slot in &self.slots {
            out.insert(format!("adamw.first.{}", slot.name), slot.first.clone());
            out.insert(format!("adamw.second.{}", slot.name), slot.second.clone());
        }
        out.insert(
            "adamw.steps".to_string(),
            Tensor::new(&[self.steps as i64], &candle_core::Device::Cpu)?,
        );
        Ok(out)
    }

    /// Restores the moments written by [`AdamW::state`]; every variable must have both.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let device = self
            .slots
            .first()
            .map(|s| s.var.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        for slot in &mut self.slots {
            for (prefix, target) in [("first", &mut slot.first), ("second", &mut slot.second)] {
                let key = format!("adamw.{prefix}.{}", slot.name);
                let tensor = tensors.get(&key).ok_or_else(|| {
                    super::super::error::input_error(
                        "checkpoint",
                        format!("has no optimizer state `{key}`"),
                    )
                })?;
                if tensor.dims() != target.dims() {
                    return Err(super::super::error::input_error(
                        "checkpoint",
                        format!(
                            "optimizer state `{key}` has shape {:?}, the variable {:?}",
                            tensor.dims(),
                            target.dims()
                        ),
                    ));
                }
                *target = tensor.to_device(&device)?.to_dtype(target.dtype())?;
            }
        }
        let steps = tensors
            .get("adamw.steps")
            .ok_or_else(|| super::super::error::input_error("checkpoint", "has no `adamw.steps`"))?
            .to_vec1::<i64>()?;
        self.steps = steps.first().copied().unwrap_or(0).max(0) as usize;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn minimises_a_quadratic_and_clips() {
        let x = Var::new(&[3f32, -2.0], &Device::Cpu).unwrap();
        let mut optimizer = AdamW::new(
            vec![("x".into(), x.clone())],
            AdamWSettings {
                learning_rate: 0.1,
                weight_decay: 0.0,
                max_grad_norm: 0.5,
                ..Default::default()
            },
        )
        .unwrap();
        let mut first_report = None;
        for _ in 0..300 {
            let loss = x.as_tensor().sqr().unwrap().sum_all().unwrap();
            let report = optimizer.step(&loss.backward().unwrap()).unwrap();
            first_report.get_or_insert(report);
        }
        // The moments must not hold the op graphs of past steps (that leaked gigabytes per hundred steps).
        assert!(optimizer.state().unwrap().values().all(|t| !t.track_op()));
        assert!(!x.as_tensor().detach().track_op());
        let first = first_report.unwrap();
        assert!(first.clipped && (first.grad_norm - (36f64 + 16.0).sqrt()).abs() < 1e-4);
        let values = x.as_tensor().to_vec1::<f32>().unwrap();
        assert!(values.iter().all(|v| v.abs() < 0.05), "{values:?}");
    }

    #[test]
    fn a_learning_rate_scale_scales_the_update_of_its_elements_only() {
        let settings = AdamWSettings {
            learning_rate: 0.01,
            weight_decay: 0.0,
            max_grad_norm: 0.0,
            ..Default::default()
        };
        let x = Var::new(&[[1f32, 1.0], [1.0, 1.0]], &Device::Cpu).unwrap();
        let mut optimizer = AdamW::new(vec![("x".into(), x.clone())], settings).unwrap();
        // Columns: the first at the plain rate, the second at ten times it.
        let scale = Tensor::new(&[[1f32, 10.0]], &Device::Cpu).unwrap();
        optimizer.scale_learning_rate("x", &scale).unwrap();
        let loss = x.as_tensor().sum_all().unwrap();
        optimizer.step(&loss.backward().unwrap()).unwrap();
        // The first Adam step moves every element by the rate (m̂ / √v̂ = 1 for any gradient).
        let moved: Vec<Vec<f32>> = x.as_tensor().to_vec2().unwrap();
        for row in &moved {
            assert!((1.0 - row[0] - 0.01).abs() < 1e-5, "{moved:?}");
            assert!((1.0 - row[1] - 0.1).abs() < 1e-5, "{moved:?}");
        }
        let bad = Tensor::new(&[1f32, 2.0, 3.0], &Device::Cpu).unwrap();
        let err = optimizer
            .scale_learning_rate("x", &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not fit `x`"), "{err}");
        let err = optimizer
            .scale_learning_rate("y", &scale)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no variable `y`"), "{err}");
    }
}
