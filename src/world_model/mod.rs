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
pub mod wan_pipeline;
pub mod wan_transformer;
pub mod wan_vae;

pub use error::{ConfigFile, Result, WorldModelError};
