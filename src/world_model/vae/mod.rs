//! diffusers' `AutoencoderKLCogVideoX` in candle: the causal 3-D VAE of CogVideoX (and DWM), with the
//! reference's frame chunking (8 frames per encoder chunk, 2 latent frames per decoder chunk, conv caches
//! carried across chunks) and its tiling, so that GroupNorm statistics — and so the outputs — match.
//!
//! Layout is [B, C, T, H, W] throughout, as in the reference. Weights load through a `VarBuilder` with the
//! reference's state-dict keys (`encoder.down_blocks.0.resnets.0.conv1.conv.weight`, ...).

pub mod blocks;
pub mod config;
pub mod conv;
pub mod decoder;
pub mod encoder;
pub mod norm;
pub mod parity;
pub mod tiling;

pub use config::VaeConfig;
pub use tiling::Tiling;

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use conv::ConvCache;
use tiling::TileGrid;

/// Frames per encoder chunk (`num_sample_frames_batch_size`).
pub const ENCODE_FRAME_CHUNK: usize = 8;
/// Latent frames per decoder chunk (`num_latent_frames_batch_size`).
pub const DECODE_LATENT_CHUNK: usize = 2;

/// The reference's chunks of `frames` frames in batches of `batch`: max(frames / batch, 1) chunks, the first of
/// which also takes the remainder (so 49 frames → 9, 8, 8, 8, 8, 8). Returns (start, length) pairs.
pub fn frame_chunks(frames: usize, batch: usize) -> Vec<(usize, usize)> {
    let count = (frames / batch).max(1);
    let remainder = frames % batch;
    (0..count)
        .map(|i| {
            let start = batch * i + if i == 0 { 0 } else { remainder };
            let end = (batch * (i + 1) + remainder).min(frames);
            (start, end.saturating_sub(start))
        })
        .filter(|&(_, len)| len > 0)
        .collect()
}

/// The posterior of the encoder: mean and log-variance (clamped to [−30, 20] as diffusers'
/// `DiagonalGaussianDistribution` does), each [B, latent, t, h, w].
#[derive(Clone, Debug)]
pub struct DiagonalGaussian {
    pub mean: Tensor,
    pub logvar: Tensor,
}

impl DiagonalGaussian {
    /// Splits encoder output [B, 2·latent, ...] into mean (first half) and clamped logvar.
    pub fn from_parameters(parameters: &Tensor) -> Result<Self> {
        let channels = parameters.dim(1)?;
        if channels % 2 != 0 {
            candle_core::bail!("posterior parameters have an odd channel count {channels}");
        }
        let half = channels / 2;
        let mean = parameters.narrow(1, 0, half)?.contiguous()?;
        let logvar = parameters.narrow(1, half, half)?.clamp(-30f32, 20f32)?;
        Ok(Self { mean, logvar })
    }

    pub fn mode(&self) -> Tensor {
        self.mean.clone()
    }

    pub fn std(&self) -> Result<Tensor> {
        (&self.logvar * 0.5)?.exp()
    }

    /// mean + std·ε, with ε given by the caller (so a pipeline can inject the reference's noise).
    pub fn sample_with(&self, eps: &Tensor) -> Result<Tensor> {
        if eps.dims() != self.mean.dims() {
            candle_core::bail!(
                "posterior sample: ε has shape {:?}, the posterior {:?}",
                eps.dims(),
                self.mean.dims()
            );
        }
        &self.mean + (self.std()? * eps.to_dtype(self.mean.dtype())?)?
    }
}

/// The CogVideoX VAE. `set_tiling(None)` (the default) uses the frame-chunked untiled path for every size.
#[derive(Clone, Debug)]
pub struct AutoencoderKLCogVideoX {
    config: VaeConfig,
    encoder: encoder::Encoder,
    decoder: decoder::Decoder,
    tiling: Option<Tiling>,
}

impl AutoencoderKLCogVideoX {
    pub fn new(config: &VaeConfig, vb: VarBuilder) -> Result<Self> {
        config.validate().map_err(candle_core::Error::wrap)?;
        Ok(Self {
            config: config.clone(),
            encoder: encoder::Encoder::new(config, vb.pp("encoder"))?,
            decoder: decoder::Decoder::new(config, vb.pp("decoder"))?,
            tiling: None,
        })
    }

    pub fn config(&self) -> &VaeConfig {
        &self.config
    }

    pub fn tiling(&self) -> Option<Tiling> {
        self.tiling
    }

    /// Some(settings) = diffusers' `enable_tiling(...)`; None = `disable_tiling()`.
    pub fn set_tiling(&mut self, tiling: Option<Tiling>) {
        self.tiling = tiling;
    }

    /// Video [B, in, T, H, W] in [−1, 1] → posterior over [B, latent, t, h, w].
    pub fn encode(&self, x: &Tensor) -> Result<DiagonalGaussian> {
        let (_, channels, frames, height, width) = x.dims5()?;
        if frames == 0 || height == 0 || width == 0 {
            candle_core::bail!("VAE encode: empty video {:?}", x.dims());
        }
        if channels != self.config.in_channels {
            candle_core::bail!(
                "VAE encode: input has {channels} channels, the VAE takes {}",
                self.config.in_channels
            );
        }
        let parameters = match self.tiling {
            Some(tiling)
                if width > tiling.tile_sample_min_width
                    || height > tiling.tile_sample_min_height =>
            {
                let grid = TileGrid::for_encode(&tiling, self.config.spatial_compression())?;
                grid.run(x, |tile| self.encode_chunked(tile))?
            }
            _ => self.encode_chunked(x)?,
        };
        DiagonalGaussian::from_parameters(&parameters)
    }

    /// Latents [B, latent, t, h, w] (already divided by the scaling factor) → video [B, out, T, H, W].
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        let (_, channels, frames, height, width) = z.dims5()?;
        if frames == 0 || height == 0 || width == 0 {
            candle_core::bail!("VAE decode: empty latents {:?}", z.dims());
        }
        if channels != self.config.latent_channels {
            candle_core::bail!(
                "VAE decode: latents have {channels} channels, the VAE has {}",
                self.config.latent_channels
            );
        }
        let compression = self.config.spatial_compression();
        match self.tiling {
            Some(tiling)
                if width > tiling.tile_sample_min_width / compression
                    || height > tiling.tile_sample_min_height / compression =>
            {
                let grid = TileGrid::for_decode(&tiling, compression)?;
                grid.run(z, |tile| self.decode_chunked(tile))
            }
            _ => self.decode_chunked(z),
        }
    }

    /// `_encode` without tiling: 8-frame chunks (the first takes the remainder) sharing conv caches.
    fn encode_chunked(&self, x: &Tensor) -> Result<Tensor> {
        let mut cache = ConvCache::new();
        let parts = frame_chunks(x.dim(2)?, ENCODE_FRAME_CHUNK)
            .into_iter()
            .map(|(start, len)| self.encoder.forward(&x.narrow(2, start, len)?, &mut cache))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&parts, 2)
    }

    /// `_decode` without tiling: 2-latent-frame chunks (the first takes the remainder) sharing conv caches.
    fn decode_chunked(&self, z: &Tensor) -> Result<Tensor> {
        let mut cache = ConvCache::new();
        let parts = frame_chunks(z.dim(2)?, DECODE_LATENT_CHUNK)
            .into_iter()
            .map(|(start, len)| self.decoder.forward(&z.narrow(2, start, len)?, &mut cache))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&parts, 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_follow_the_reference() {
        assert_eq!(
            frame_chunks(49, 8),
            vec![(0, 9), (9, 8), (17, 8), (25, 8), (33, 8), (41, 8)]
        );
        assert_eq!(
            frame_chunks(13, 2),
            vec![(0, 3), (3, 2), (5, 2), (7, 2), (9, 2), (11, 2)]
        );
        assert_eq!(frame_chunks(12, 2).len(), 6);
        assert_eq!(frame_chunks(1, 2), vec![(0, 1)]);
        assert_eq!(frame_chunks(5, 8), vec![(0, 5)]);
        assert_eq!(frame_chunks(20, 8), vec![(0, 12), (12, 8)]);
    }
}
