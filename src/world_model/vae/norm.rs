//! Normalisations of the CogVideoX VAE: GroupNorm over (C/groups, T, H, W) of the current chunk (candle's
//! GroupNorm reduces over every axis after the channels, which is exactly that on [B, C, T, H, W]), and the
//! decoder's SpatialNorm3D conditioned on the latent chunk.

use super::conv::{CausalConv3d, ConvCache};
use candle_core::{Module as _, Result, Tensor};
use candle_nn::VarBuilder;

/// `nn.GroupNorm(groups, channels, eps, affine=True)` on [B, C, ...]; keys `weight`, `bias`.
pub fn group_norm(
    groups: usize,
    channels: usize,
    eps: f64,
    vb: VarBuilder,
) -> Result<candle_nn::GroupNorm> {
    candle_nn::group_norm(groups, channels, eps, vb)
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
    norm_layer: candle_nn::GroupNorm,
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
        let (_, _, frames, height, width) = f.dims5()?;
        // conv_y/conv_b are 1×1×1, so they commute with nearest resizing: run them at the latent size.
        let y = self.conv_y.forward(zq, cache)?;
        let b = self.conv_b.forward(zq, cache)?;
        let fit = |m: &Tensor| -> Result<Tensor> {
            if frames > 1 && frames % 2 == 1 {
                let latent_frames = m.dim(2)?;
                if latent_frames < 2 {
                    candle_core::bail!(
                        "SpatialNorm3D: {frames} feature frames need at least 2 latent frames, got {latent_frames}"
                    );
                }
                let first = resize_nearest_3d(&m.narrow(2, 0, 1)?, (1, height, width))?;
                let rest = resize_nearest_3d(
                    &m.narrow(2, 1, latent_frames - 1)?,
                    (frames - 1, height, width),
                )?;
                Tensor::cat(&[first, rest], 2)
            } else {
                resize_nearest_3d(m, (frames, height, width))
            }
        };
        let y = fit(&y)?;
        let b = fit(&b)?;
        let normed = self.norm_layer.forward(f)?;
        (normed * y)? + b
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
