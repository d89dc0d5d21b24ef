//! Where the networks' weights live between uses: `--offload none|model|sequential`, as diffusers names them.
//!
//! - `none`: every network is built on the compute device at load and stays there.
//! - `model`: the weights are parked in host memory; each network (T5, transformer, VAE) is built on the device
//!   only while it runs, and dropped after, so the device holds one network at a time.
//! - `sequential`: as `model` for T5 and the VAE; the transformer keeps only its small outer layers (patch and
//!   time embedding, output norm and projection) on the device and streams its blocks through it one at a time
//!   during every forward.
//!
//! Offload moves weights, never changes them: a network built from parked weights is the same network (the
//! weights are parked already merged with the LoRA and cast to the compute dtype), so every option computes the
//! same numbers (`tests/offload.rs`).

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// Where the weights live between uses (module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Offload {
    #[default]
    None,
    Model,
    Sequential,
}

impl Offload {
    pub const ALL: [Offload; 3] = [Offload::None, Offload::Model, Offload::Sequential];

    pub fn name(self) -> &'static str {
        match self {
            Offload::None => "none",
            Offload::Model => "model",
            Offload::Sequential => "sequential",
        }
    }

    /// Whether the weights are parked in host memory (built on the device per use).
    pub fn parks_weights(self) -> bool {
        self != Offload::None
    }
}

impl fmt::Display for Offload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Offload {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "none" => Ok(Offload::None),
            "model" => Ok(Offload::Model),
            "sequential" => Ok(Offload::Sequential),
            other => Err(format!(
                "offload \"{other}\" is not one of none, model, sequential"
            )),
        }
    }
}

/// A network's weights parked in host memory, in the compute dtype and with any LoRA merged: a `VarBuilder`
/// over them builds the network on any device (copying each tensor there as the network asks for it).
#[derive(Clone)]
pub struct ParkedWeights {
    tensors: Arc<HashMap<String, Tensor>>,
    dtype: DType,
}

impl ParkedWeights {
    pub fn new(tensors: HashMap<String, Tensor>, dtype: DType) -> Self {
        Self {
            tensors: Arc::new(tensors),
            dtype,
        }
    }

    /// A `VarBuilder` that builds on `device` from these weights.
    pub fn var_builder(&self, device: &Device) -> VarBuilder<'static> {
        // candle's map backend checks shapes and copies to the device; the map's clone shares the tensors.
        VarBuilder::from_tensors((*self.tensors).clone(), self.dtype, device)
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Bytes the parked tensors hold.
    pub fn bytes(&self) -> usize {
        self.tensors
            .values()
            .map(|t| t.elem_count() * t.dtype().size_in_bytes())
            .sum()
    }

    /// Parks what `build` asks of a checkpoint: the network is built once on the CPU through a backend that
    /// records every tensor handed out (merged and cast as the network receives it), then dropped. Returns the
    /// recorded weights and the network's own value (e.g. a check result).
    pub fn record<T>(
        inner: Box<dyn SimpleBackend>,
        dtype: DType,
        build: impl FnOnce(VarBuilder<'static>) -> super::Result<T>,
    ) -> super::Result<(Self, T)> {
        let recorder = Arc::new(Recorder {
            inner,
            seen: Mutex::new(HashMap::new()),
        });
        let vb = VarBuilder::from_backend(
            Box::new(RecorderHandle(recorder.clone())),
            dtype,
            Device::Cpu,
        );
        let value = build(vb)?;
        let seen = recorder
            .seen
            .lock()
            .map(|mut seen| std::mem::take(&mut *seen))
            .unwrap_or_default();
        Ok((Self::new(seen, dtype), value))
    }
}

struct Recorder {
    inner: Box<dyn SimpleBackend>,
    seen: Mutex<HashMap<String, Tensor>>,
}

struct RecorderHandle(Arc<Recorder>);

impl RecorderHandle {
    fn keep(&self, name: &str, tensor: &Tensor) {
        if let Ok(mut seen) = self.0.seen.lock() {
            seen.insert(name.to_string(), tensor.clone());
        }
    }
}

impl SimpleBackend for RecorderHandle {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        init: candle_nn::Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let tensor = self.0.inner.get(shape, name, init, dtype, device)?;
        self.keep(name, &tensor);
        Ok(tensor)
    }

    fn get_unchecked(
        &self,
        name: &str,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let tensor = self.0.inner.get_unchecked(name, dtype, device)?;
        self.keep(name, &tensor);
        Ok(tensor)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0.inner.contains_tensor(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_refused() {
        for offload in Offload::ALL {
            assert_eq!(offload.name().parse::<Offload>().unwrap(), offload);
        }
        let error = "gpu".parse::<Offload>().unwrap_err();
        assert!(error.contains("none, model, sequential"), "{error}");
    }

    #[test]
    fn parked_weights_build_with_shape_checks() {
        let mut map = HashMap::new();
        map.insert(
            "w".to_string(),
            Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu).unwrap(),
        );
        let parked = ParkedWeights::new(map, DType::F32);
        assert_eq!(parked.bytes(), 16);
        let vb = parked.var_builder(&Device::Cpu);
        let w = vb.get((2, 2), "w").unwrap();
        assert_eq!(
            w.to_vec2::<f32>().unwrap(),
            vec![vec![1.0, 2.0], vec![3.0, 4.0]]
        );
        assert!(vb.get((4,), "w").is_err());
        let missing = vb.get((2, 2), "v").unwrap_err().to_string();
        assert!(missing.contains('v'), "{missing}");
    }
}
