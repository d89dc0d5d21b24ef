//! `CogVideoXDecoder3D`: conv_in, a mid block of two resnets, up blocks of layers_per_block + 1 resnets (the
//! first log2(temporal ratio) also double time), SpatialNorm3D, SiLU, conv_out. Every norm is conditioned on the
//! latent chunk being decoded.

use super::blocks::{ResnetStack, StackSpec};
use super::config::VaeConfig;
use super::conv::{CausalConv3d, ConvCache};
use super::norm::SpatialNorm3d;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

#[derive(Clone, Debug)]
pub struct Decoder {
    conv_in: CausalConv3d,
    mid_block: ResnetStack,
    up_blocks: Vec<ResnetStack>,
    norm_out: SpatialNorm3d,
    conv_out: CausalConv3d,
}

impl Decoder {
    pub fn new(config: &VaeConfig, vb: VarBuilder) -> Result<Self> {
        let reversed: Vec<usize> = config.block_out_channels.iter().rev().copied().collect();
        let groups = config.norm_num_groups;
        let eps = config.norm_eps;
        let latent = config.latent_channels;
        let first = *reversed.first().ok_or_else(|| {
            candle_core::Error::Msg("VAE config: block_out_channels is empty".into())
        })?;
        let last = *reversed.last().unwrap_or(&first);
        let conv_in = CausalConv3d::new(latent, first, 3, vb.pp("conv_in"))?;
        let mid_spec = StackSpec {
            in_channels: first,
            out_channels: first,
            layers: 2,
            groups,
            eps,
            spatial_norm_channels: Some(latent),
        };
        let mid_block = ResnetStack::new(&mid_spec, None, vb.pp("mid_block"))?;
        let level = config.temporal_compress_level();
        let mut up_blocks = Vec::with_capacity(reversed.len());
        let mut previous = first;
        for (i, &out_channels) in reversed.iter().enumerate() {
            let is_final = i + 1 == reversed.len();
            let spec = StackSpec {
                in_channels: previous,
                out_channels,
                layers: config.layers_per_block + 1,
                groups,
                eps,
                spatial_norm_channels: Some(latent),
            };
            let sampler = (!is_final).then_some((true, i < level));
            up_blocks.push(ResnetStack::new(
                &spec,
                sampler,
                vb.pp(format!("up_blocks.{i}")),
            )?);
            previous = out_channels;
        }
        let norm_out = SpatialNorm3d::new(last, latent, groups, vb.pp("norm_out"))?;
        let conv_out = CausalConv3d::new(last, config.out_channels, 3, vb.pp("conv_out"))?;
        Ok(Self {
            conv_in,
            mid_block,
            up_blocks,
            norm_out,
            conv_out,
        })
    }

    /// One latent chunk [B, latent, t, h, w] → frames [B, out, T, H, W]; `cache` carries the conv context.
    pub fn forward(&self, z: &Tensor, cache: &mut ConvCache) -> Result<Tensor> {
        cache.start_chunk();
        let mut h = self.conv_in.forward(z, cache)?;
        h = self.mid_block.forward(&h, Some(z), cache)?;
        for block in &self.up_blocks {
            h = block.forward(&h, Some(z), cache)?;
        }
        let h = self.norm_out.forward(&h, z, cache)?.silu()?;
        self.conv_out.forward(&h, cache)
    }
}
