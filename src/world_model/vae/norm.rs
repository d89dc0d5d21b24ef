//! Normalisations of the CogVideoX VAE: GroupNorm over (C/groups, T, H, W) of the current chunk (candle's
//! GroupNorm reduces over every axis after the channels, which is exactly that on [B, C, T, H, W]), and the
//! decoder's SpatialNorm3D conditioned on the latent chunk.

use super::conv::{CausalConv3d, ConvCache};
use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;

/// `nn.GroupNorm(groups, channels, eps, affine=True)` on [B, C, ...] (statistics over every axis after the
/// channels, so over (C/groups, T, H, W) of a video chunk); keys `weight`, `bias`. The statistics are taken in
/// f32 with a two-pass variance; normalisation and affine are folded into one per-channel scale and shift.
#[derive(Clone, Debug)]
pub struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    eps: f64,
}

/// Per-sample, per-channel `scale` and `shift` [B, C] with GroupNorm(x) = x·scale + shift.
pub struct ChannelAffine {
    pub scale: Tensor,
    pub shift: Tensor,
}

impl GroupNorm {
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let affine = self.channel_affine(x)?;
        let (b, c) = (x.dim(0)?, x.dim(1)?);
        let mut shape = vec![1usize; x.rank()];
        shape[0] = b;
        shape[1] = c;
        x.broadcast_mul(&affine.scale.reshape(shape.as_slice())?)?
            .broadcast_add(&affine.shift.reshape(shape.as_slice())?)
    }

    /// The statistics of `x` folded with the affine parameters, in x's dtype.
    pub fn channel_affine(&self, x: &Tensor) -> Result<ChannelAffine> {
        let (b, c) = (x.dim(0)?, x.dim(1)?);
        if c != self.weight.dim(0)? {
            candle_core::bail!(
                "GroupNorm: {c} channels, the layer has {}",
                self.weight.dim(0)?
            );
        }
        let dtype = x.dtype();
        let per_group = x.elem_count() / (b * self.groups);
        let grouped = x
            .reshape((b, self.groups, per_group))?
            .to_dtype(DType::F32)?;
        let mean = (grouped.sum_keepdim(2)? / per_group as f64)?;
        let variance = (grouped.broadcast_sub(&mean)?.sqr()?.sum_keepdim(2)? / per_group as f64)?;
        let inv_std = (variance + self.eps)?.sqrt()?.recip()?;
        // [B, G, 1] → [B, C]: every channel takes its group's statistics.
        let per_channel = |t: &Tensor| -> Result<Tensor> {
            t.broadcast_as((b, self.groups, c / self.groups))?
                .reshape((b, c))
        };
        let inv_std = per_channel(&inv_std)?;
        let mean = per_channel(&mean)?;
        let weight = self.weight.to_dtype(DType::F32)?.unsqueeze(0)?;
        let bias = self.bias.to_dtype(DType::F32)?.unsqueeze(0)?;
        let scale = inv_std.broadcast_mul(&weight)?;
        let shift = bias.broadcast_sub(&(mean * &scale)?)?;
        Ok(ChannelAffine {
            scale: scale.to_dtype(dtype)?,
            shift: shift.to_dtype(dtype)?,
        })
    }
}

pub fn group_norm(groups: usize, channels: usize, eps: f64, vb: VarBuilder) -> Result<GroupNorm> {
    if groups == 0 || !channels.is_multiple_of(groups) {
        candle_core::bail!("GroupNorm: {groups} groups do not divide {channels} channels");
    }
    let weight = vb.get_with_hints(channels, "weight", candle_nn::Init::Const(1.0))?;
    let bias = vb.get_with_hints(channels, "bias", candle_nn::Init::Const(0.0))?;
    Ok(GroupNorm {
        weight,
        bias,
        groups,
        eps,
    })
}

/// x·up(scale) + up(shift), where up resizes [B, C, t, h, w] to x's (T, H, W) by nearest neighbour. When every
/// axis is a whole-number repeat (always the case in the decoder) the small tensors are broadcast into the
/// product without being materialised at full size.
fn modulate(x: &Tensor, scale: &Tensor, shift: &Tensor) -> Result<Tensor> {
    let (b, c, t_out, h_out, w_out) = x.dims5()?;
    let (_, _, t_in, h_in, w_in) = scale.dims5()?;
    let repeat = |input: usize, output: usize| -> Option<usize> {
        if input == 0 || !output.is_multiple_of(input) {
            return None;
        }
        let factor = output / input;
        (0..output)
            .all(|i| nearest_source(i, input, output) == i / factor)
            .then_some(factor)
    };
    match (
        repeat(t_in, t_out),
        repeat(h_in, h_out),
        repeat(w_in, w_out),
    ) {
        (Some(ft), Some(fh), Some(fw)) => {
            let expanded = x.reshape(vec![b, c, t_in, ft, h_in, fh, w_in, fw])?;
            let small = vec![b, c, t_in, 1, h_in, 1, w_in, 1];
            expanded
                .broadcast_mul(&scale.reshape(small.clone())?)?
                .broadcast_add(&shift.reshape(small)?)?
                .reshape((b, c, t_out, h_out, w_out))
        }
        _ => {
            let size = (t_out, h_out, w_out);
            (x * resize_nearest_3d(scale, size)?)? + resize_nearest_3d(shift, size)?
        }
    }
}

/// PyTorch's legacy "nearest" source index for output index `i` (`nearest_idx` in ATen's UpSample.h).
fn nearest_source(i: usize, input: usize, output: usize) -> usize {
    if output == input {
        i
    } else if output == 2 * input {
        i >> 1
    } else {
        let scale = input as f32 / output as f32;
        ((i as f32 * scale).floor() as usize).min(input - 1)
    }
}

/// `F.interpolate(x, size=..., mode="nearest")` along one axis.
fn resize_nearest_axis(x: &Tensor, dim: usize, output: usize) -> Result<Tensor> {
    let input = x.dim(dim)?;
    if input == output {
        return Ok(x.clone());
    }
    if input == 0 {
        candle_core::bail!("nearest resize of an empty axis to {output}");
    }
    let sources: Vec<usize> = (0..output)
        .map(|i| nearest_source(i, input, output))
        .collect();
    if output.is_multiple_of(input) {
        let factor = output / input;
        if sources.iter().enumerate().all(|(i, &s)| s == i / factor) {
            // Repeating each element is a broadcast, much cheaper than a gather.
            let mut dims = x.dims().to_vec();
            let x = x.unsqueeze(dim + 1)?;
            dims.insert(dim + 1, factor);
            let merged: Vec<usize> = {
                let mut m = x.dims().to_vec();
                m.remove(dim + 1);
                m[dim] = output;
                m
            };
            return x.broadcast_as(dims)?.contiguous()?.reshape(merged);
        }
    }
    let ids: Vec<u32> = sources.iter().map(|&s| s as u32).collect();
    let ids = Tensor::new(ids.as_slice(), x.device())?;
    x.contiguous()?.index_select(&ids, dim)
}

/// `F.interpolate(x, size=(T, H, W))` (mode "nearest") on [B, C, T, H, W].
pub fn resize_nearest_3d(x: &Tensor, size: (usize, usize, usize)) -> Result<Tensor> {
    let x = resize_nearest_axis(x, 2, size.0)?;
    let x = resize_nearest_axis(&x, 3, size.1)?;
    resize_nearest_axis(&x, 4, size.2)
}

/// `CogVideoXSpatialNorm3D`: GroupNorm(f)·conv_y(zq) + conv_b(zq), zq resized (nearest) to f's frames and size;
/// for an odd frame count > 1 the first frame and the rest are resized separately. Keys `norm_layer.*`,
/// `conv_y.conv.*`, `conv_b.conv.*`.
#[derive(Clone, Debug)]
pub struct SpatialNorm3d {
    norm_layer: GroupNorm,
    conv_y: CausalConv3d,
    conv_b: CausalConv3d,
}

impl SpatialNorm3d {
    pub fn new(
        f_channels: usize,
        zq_channels: usize,
        groups: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        // diffusers fixes eps at 1e-6 here, whatever the config's norm_eps.
        let norm_layer = group_norm(groups, f_channels, 1e-6, vb.pp("norm_layer"))?;
        let conv_y = CausalConv3d::new(zq_channels, f_channels, 1, vb.pp("conv_y"))?;
        let conv_b = CausalConv3d::new(zq_channels, f_channels, 1, vb.pp("conv_b"))?;
        Ok(Self {
            norm_layer,
            conv_y,
            conv_b,
        })
    }

    pub fn forward(&self, f: &Tensor, zq: &Tensor, cache: &mut ConvCache) -> Result<Tensor> {
        let (b, c, frames, _, _) = f.dims5()?;
        // conv_y/conv_b are 1×1×1, so they commute with nearest resizing: run them at the latent size. The
        // GroupNorm folds into them too: norm(f)·y + b = f·(s·y) + (t·y + b) with per-channel s, t.
        let y = self.conv_y.forward(zq, cache)?;
        let b_map = self.conv_b.forward(zq, cache)?;
        let affine = self.norm_layer.channel_affine(f)?;
        let per_channel = (b, c, 1, 1, 1);
        let scale = y.broadcast_mul(&affine.scale.reshape(per_channel)?)?;
        let shift = y
            .broadcast_mul(&affine.shift.reshape(per_channel)?)?
            .add(&b_map)?;
        if frames > 1 && frames % 2 == 1 {
            // The reference resizes the first latent frame to the first frame and the rest to the rest.
            let latent_frames = zq.dim(2)?;
            if latent_frames < 2 {
                candle_core::bail!(
                    "SpatialNorm3D: {frames} feature frames need at least 2 latent frames, got {latent_frames}"
                );
            }
            let part = |t: &Tensor, start: usize, len: usize| t.narrow(2, start, len);
            let first = modulate(&part(f, 0, 1)?, &part(&scale, 0, 1)?, &part(&shift, 0, 1)?)?;
            let rest = modulate(
                &part(f, 1, frames - 1)?.contiguous()?,
                &part(&scale, 1, latent_frames - 1)?.contiguous()?,
                &part(&shift, 1, latent_frames - 1)?.contiguous()?,
            )?;
            Tensor::cat(&[first, rest], 2)
        } else {
            modulate(f, &scale, &shift)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn nearest_indices_match_pytorch() {
        // torch.nn.functional.interpolate(arange(n), size=m) picks these sources.
        let pick = |n: usize, m: usize| (0..m).map(|i| nearest_source(i, n, m)).collect::<Vec<_>>();
        assert_eq!(pick(2, 8), vec![0, 0, 0, 0, 1, 1, 1, 1]);
        assert_eq!(pick(3, 5), vec![0, 0, 1, 1, 2]);
        assert_eq!(pick(5, 3), vec![0, 1, 3]);
    }

    #[test]
    fn resize_repeats_and_gathers() {
        let x = Tensor::arange(0f32, 6.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 2, 1, 3))
            .unwrap();
        let y = resize_nearest_3d(&x, (4, 2, 5)).unwrap();
        assert_eq!(y.dims(), &[1, 1, 4, 2, 5]);
        let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        // Frame 0 twice then frame 1 twice; rows duplicated; columns picked 0,0,1,1,2 (scale 3/5).
        let frame0 = [0., 0., 1., 1., 2.];
        let frame1 = [3., 3., 4., 4., 5.];
        let mut expected = Vec::new();
        for frame in [frame0, frame0, frame1, frame1] {
            expected.extend_from_slice(&frame);
            expected.extend_from_slice(&frame);
        }
        assert_eq!(v, expected);
    }
}
