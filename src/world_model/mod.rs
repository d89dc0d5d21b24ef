//! `world_model`: the CogVideoX-family networks DWM runs on (transformer, VAE, T5 text encoder), the DDIM
//! sampler, weight loading, and the parity runner that checks them against diffusers. See ARCHITECTURE.md.
//!
//! Every network is built through a `candle_nn::VarBuilder` with module names mirroring the reference
//! state-dict keys, so the same code loads released weights and can be trained through a `VarMap`.
pub mod bench;
pub mod checkpoint;
pub mod composite;
pub mod error;
pub mod flow_match;
pub mod memory;
pub mod model_dir;
pub mod offload;
pub mod parity;
pub mod pipeline;
pub mod resample;
pub mod scheduler;
pub mod t5;
pub mod tokenizer;
pub mod train;
pub mod transformer;
pub mod umt5;
pub mod vae;
pub mod wan_model;
pub mod wan_pipeline;
pub mod wan_transformer;
pub mod wan_vae;

pub use error::{ConfigFile, Result, WorldModelError};

use crate::video::Frames;
use std::path::Path;

/// The two model families DWM released: CogVideoX-Fun-5B (a diffusers pipeline folder) and Wan2.1-Fun-14B-InP
/// (Wan's own layout). Read from the folder, never from a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFamily {
    CogVideoX,
    Wan,
}

impl ModelFamily {
    /// The family of a model folder: Wan's layout (`Wan2.1_VAE.pth`, or a root config.json with Wan's keys),
    /// else CogVideoX's diffusers pipeline.
    pub fn of_dir(dir: &Path) -> Self {
        if wan_model::is_wan_model_dir(dir) {
            Self::Wan
        } else {
            Self::CogVideoX
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::CogVideoX => "CogVideoX (DWM's CogVideoX-Fun-5B release)",
            Self::Wan => "Wan 2.1 (DWM's Wan2.1-Fun-14B-InP release)",
        }
    }
}

/// What every model family gives the commands and the viewer: an interaction video for a static and a hand video,
/// and the no-action reconstruction the residual composite subtracts.
pub trait WorldModel: Send {
    fn family(&self) -> ModelFamily;

    /// Generates the interaction video (same size and frame count as the inputs); `Ok(None)` when `progress`
    /// (called after each step) returned false.
    fn generate(
        &mut self,
        static_video: &Frames,
        hand_video: &Frames,
        prompt: &str,
        sampling: pipeline::Sampling,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<Frames>>;

    /// The static video through the model's VAE at its size, resized back.
    fn reconstruct(&mut self, video: &Frames) -> Result<Frames>;
}

impl WorldModel for pipeline::DwmModel {
    fn family(&self) -> ModelFamily {
        ModelFamily::CogVideoX
    }

    fn generate(
        &mut self,
        static_video: &Frames,
        hand_video: &Frames,
        prompt: &str,
        sampling: pipeline::Sampling,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<Frames>> {
        pipeline::DwmModel::generate(self, static_video, hand_video, prompt, sampling, progress)
    }

    fn reconstruct(&mut self, video: &Frames) -> Result<Frames> {
        pipeline::DwmModel::reconstruct(self, video)
    }
}

impl WorldModel for wan_model::WanDwmModel {
    fn family(&self) -> ModelFamily {
        ModelFamily::Wan
    }

    fn generate(
        &mut self,
        static_video: &Frames,
        hand_video: &Frames,
        prompt: &str,
        sampling: pipeline::Sampling,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Option<Frames>> {
        wan_model::WanDwmModel::generate(self, static_video, hand_video, prompt, sampling, progress)
    }

    fn reconstruct(&mut self, video: &Frames) -> Result<Frames> {
        wan_model::WanDwmModel::reconstruct(self, video)
    }
}

/// Loads the model in `dir`, of whichever family the folder is, with its DWM LoRA folder, its weights placed as
/// `offload` says.
pub fn load_model(
    dir: &Path,
    lora: Option<&Path>,
    device: &candle_core::Device,
    dtype: candle_core::DType,
    offload: offload::Offload,
) -> Result<Box<dyn WorldModel>> {
    match ModelFamily::of_dir(dir) {
        ModelFamily::CogVideoX => Ok(Box::new(pipeline::DwmModel::load_with(
            dir, lora, device, dtype, offload,
        )?)),
        ModelFamily::Wan => Ok(Box::new(wan_model::WanDwmModel::load_with(
            dir, lora, device, dtype, offload,
        )?)),
    }
}
