//! `CogVideoXEncoder3D`: conv_in, down blocks (the first log2(temporal ratio) also halve time), a mid block of
//! two resnets, GroupNorm, SiLU, conv_out to 2·latent channels (mean | logvar).

use super::blocks::{ResnetStack, StackSpec};
use super::config::VaeConfig;
use super::conv::{CausalConv3d, ConvCache};
use super::norm::group_norm;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

#[derive(Clone, Debug)]
pub struct Encoder {
    conv_in: CausalConv3d,
    down_blocks: Vec<ResnetStack>,
    mid_block: ResnetStack,
    norm_out: super::norm::GroupNorm,
    conv_out: CausalConv3d,
}

impl Encoder {
    pub fn new(config: &VaeConfig, vb: VarBuilder) -> Result<Self> {
        let channels = &config.block_out_channels;
        let groups = config.norm_num_groups;
        let eps = config.norm_eps;
        let first = *channels.first().ok_or_else(|| {
            candle_core::Error::Msg("VAE config: block_out_channels is empty".into())
        })?;
        let last = *channels.last().unwrap_or(&first);
        let conv_in = CausalConv3d::new(config.in_channels, first, 3, vb.pp("conv_in"))?;
        let level = config.temporal_compress_level();
        let mut down_blocks = Vec::with_capacity(channels.len());
        let mut previous = first;
        for (i, &out_channels) in channels.iter().enumerate() {
            let is_final = i + 1 == channels.len();
            let spec = StackSpec {
                in_channels: previous,
                out_channels,
                layers: config.layers_per_block,
                groups,
                eps,
                spatial_norm_channels: None,
            };
            let sampler = (!is_final).then_some((false, i < level));
            down_blocks.push(ResnetStack::new(
                &spec,
                sampler,
                vb.pp(format!("down_blocks.{i}")),
            )?);
            previous = out_channels;
        }
        let mid_spec = StackSpec {
            in_channels: last,
            out_channels: last,
            layers: 2,
            groups,
            eps,
            spatial_norm_channels: None,
        };
        let mid_block = ResnetStack::new(&mid_spec, None, vb.pp("mid_block"))?;
        // diffusers fixes this eps at 1e-6.
        let norm_out = group_norm(groups, last, 1e-6, vb.pp("norm_out"))?;
        let conv_out = CausalConv3d::new(last, 2 * config.latent_channels, 3, vb.pp("conv_out"))?;
        Ok(Self {
            conv_in,
            down_blocks,
            mid_block,
            norm_out,
            conv_out,
        })
    }

    /// One frame chunk [B, C, T, H, W] → posterior parameters [B, 2·latent, t, h, w]; `cache` carries the
    /// conv context from the previous chunk of the same video (and tile).
    pub fn forward(&self, x: &Tensor, cache: &mut ConvCache) -> Result<Tensor> {
        cache.start_chunk();
        let mut h = self.conv_in.forward(x, cache)?;
        for block in &self.down_blocks {
            h = block.forward(&h, None, cache)?;
        }
        h = self.mid_block.forward(&h, None, cache)?;
        let h = self.norm_out.forward(&h)?.silu()?;
        self.conv_out.forward(&h, cache)
    }
}
