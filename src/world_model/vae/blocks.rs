//! Resnet blocks and the down/up-samplers of the CogVideoX VAE, with the reference's odd-frame rules.

use super::conv::{
    CausalConv3d, ConvCache, DEFAULT_TIME_TAPS, PointwiseConv3d, conv2d_per_frame,
    conv3d_over_frames,
};
use super::norm::{GroupNorm, SpatialNorm3d, group_norm};
use candle_core::{Module as _, Result, Tensor};
use candle_nn::VarBuilder;

/// The two normalisations a resnet block can use: plain GroupNorm (encoder) or SpatialNorm3D (decoder,
/// conditioned on the latent chunk `zq`).
#[derive(Clone, Debug)]
enum Norm {
    Group(GroupNorm),
    Spatial(SpatialNorm3d),
}

impl Norm {
    fn forward(&self, x: &Tensor, zq: Option<&Tensor>, cache: &mut ConvCache) -> Result<Tensor> {
        match (self, zq) {
            (Norm::Group(norm), _) => norm.forward(x),
            (Norm::Spatial(norm), Some(zq)) => norm.forward(x, zq, cache),
            (Norm::Spatial(_), None) => {
                candle_core::bail!("SpatialNorm3D needs the latent chunk zq")
            }
        }
    }
}

/// `CogVideoXResnetBlock3D` without time embedding (temb_channels = 0 in the VAE).
#[derive(Clone, Debug)]
pub struct ResnetBlock3d {
    norm1: Norm,
    conv1: CausalConv3d,
    norm2: Norm,
    conv2: CausalConv3d,
    shortcut: Option<PointwiseConv3d>,
}

impl ResnetBlock3d {
    /// `spatial_norm_channels`: Some(latent channels) for the decoder's SpatialNorm3D, None for GroupNorm.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        groups: usize,
        eps: f64,
        spatial_norm_channels: Option<usize>,
        vb: VarBuilder,
    ) -> Result<Self> {
        let make_norm = |channels: usize, vb: VarBuilder| -> Result<Norm> {
            Ok(match spatial_norm_channels {
                None => Norm::Group(group_norm(groups, channels, eps, vb)?),
                Some(zq) => Norm::Spatial(SpatialNorm3d::new(channels, zq, groups, vb)?),
            })
        };
        let norm1 = make_norm(in_channels, vb.pp("norm1"))?;
        let conv1 = CausalConv3d::new(in_channels, out_channels, 3, vb.pp("conv1"))?;
        let norm2 = make_norm(out_channels, vb.pp("norm2"))?;
        let conv2 = CausalConv3d::new(out_channels, out_channels, 3, vb.pp("conv2"))?;
        let shortcut = if in_channels != out_channels {
            Some(PointwiseConv3d::new(
                in_channels,
                out_channels,
                vb.pp("conv_shortcut"),
            )?)
        } else {
            None
        };
        Ok(Self {
            norm1,
            conv1,
            norm2,
            conv2,
            shortcut,
        })
    }

    pub fn forward(
        &self,
        x: &Tensor,
        zq: Option<&Tensor>,
        cache: &mut ConvCache,
    ) -> Result<Tensor> {
        // Cache slots are taken in the reference's call order: norm1, conv1, norm2, conv2.
        let h = self.norm1.forward(x, zq, cache)?.silu()?;
        let h = self.conv1.forward(&h, cache)?;
        let h = self.norm2.forward(&h, zq, cache)?.silu()?;
        let h = self.conv2.forward(&h, cache)?;
        match &self.shortcut {
            Some(shortcut) => h + shortcut.forward(x)?,
            None => h + x,
        }
    }
}

/// Averages frame pairs; with an odd count frame 0 is kept and the rest are paired (`CogVideoXDownsample3D`).
pub fn pool_time_pairs(x: &Tensor) -> Result<Tensor> {
    let (b, c, t, h, w) = x.dims5()?;
    let pair_mean = |x: &Tensor, t: usize| -> Result<Tensor> {
        let pairs = x.contiguous()?.reshape((b, c, t / 2, 2, h, w))?;
        // avg_pool1d sums the pair, then divides by 2.
        ((pairs.narrow(3, 0, 1)? + pairs.narrow(3, 1, 1)?)? / 2.0)?.squeeze(3)
    };
    if t % 2 == 1 {
        let first = x.narrow(2, 0, 1)?;
        if t == 1 {
            return Ok(first);
        }
        let rest = pair_mean(&x.narrow(2, 1, t - 1)?, t - 1)?;
        Tensor::cat(&[first, rest], 2)
    } else {
        pair_mean(x, t)
    }
}

/// `CogVideoXDownsample3D`: optional time pooling, zero pad right/bottom by 1, Conv2d(k3, s2, p0) per frame.
#[derive(Clone, Debug)]
pub struct Downsample3d {
    conv: candle_nn::Conv2d,
    compress_time: bool,
}

/// The 3×3 `conv` of the down- and upsamplers (channels in = out).
fn sampler_conv(
    channels: usize,
    padding: usize,
    stride: usize,
    vb: VarBuilder,
) -> Result<candle_nn::Conv2d> {
    let config = candle_nn::Conv2dConfig {
        padding,
        stride,
        ..Default::default()
    };
    candle_nn::conv2d(channels, channels, 3, config, vb.pp("conv"))
}

impl Downsample3d {
    pub fn new(channels: usize, compress_time: bool, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv: sampler_conv(channels, 0, 2, vb)?,
            compress_time,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = if self.compress_time {
            pool_time_pairs(x)?
        } else {
            x.clone()
        };
        let x = x.pad_with_zeros(3, 0, 1)?.pad_with_zeros(4, 0, 1)?;
        conv2d_per_frame(&self.conv, &x)
    }
}

/// Repeats every element of `dim` twice (nearest 2× along one axis).
fn repeat_twice(x: &Tensor, dim: usize) -> Result<Tensor> {
    let mut doubled = x.dims().to_vec();
    doubled[dim] *= 2;
    let mut expanded = x.dims().to_vec();
    expanded.insert(dim + 1, 2);
    x.unsqueeze(dim + 1)?
        .broadcast_as(expanded)?
        .contiguous()?
        .reshape(doubled)
}

/// Nearest 2× in H and W of [B, C, T, H, W].
fn upsample_spatial(x: &Tensor) -> Result<Tensor> {
    repeat_twice(&repeat_twice(x, 3)?, 4)
}

/// The time/space upsampling of `CogVideoXUpsample3D` before its conv: with compress_time, an odd count > 1
/// keeps frame 0 single (upsampled in space only) and doubles the rest in time; an even count doubles all; a
/// single frame stays single. Without compress_time only space is doubled.
pub fn upsample_frames(x: &Tensor, compress_time: bool) -> Result<Tensor> {
    let t = x.dim(2)?;
    if compress_time && t > 1 {
        if t % 2 == 1 {
            let first = upsample_spatial(&x.narrow(2, 0, 1)?)?;
            let rest = repeat_twice(&upsample_spatial(&x.narrow(2, 1, t - 1)?)?, 2)?;
            Tensor::cat(&[first, rest], 2)
        } else {
            repeat_twice(&upsample_spatial(x)?, 2)
        }
    } else {
        upsample_spatial(x)
    }
}

/// `CogVideoXUpsample3D`: nearest upsampling as above, then Conv2d(k3, s1, p1) per frame.
#[derive(Clone, Debug)]
pub struct Upsample3d {
    conv: candle_nn::Conv2d,
    compress_time: bool,
}

impl Upsample3d {
    pub fn new(channels: usize, compress_time: bool, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv: sampler_conv(channels, 1, 1, vb)?,
            compress_time,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = upsample_frames(x, self.compress_time)?;
        // A per-frame 3×3 Conv2d is a 1×3×3 Conv3d; this routes it through the faster im2col path.
        let (o, c, kh, kw) = self.conv.weight().dims4()?;
        let weight = self.conv.weight().reshape((o, c, 1, kh, kw))?;
        conv3d_over_frames(&x, &weight, self.conv.bias(), 1, DEFAULT_TIME_TAPS)
    }
}

/// `CogVideoXDownBlock3D` / `CogVideoXUpBlock3D` / `CogVideoXMidBlock3D`: resnets, then an optional sampler.
#[derive(Clone, Debug)]
pub struct ResnetStack {
    resnets: Vec<ResnetBlock3d>,
    sampler: Option<Sampler>,
}

#[derive(Clone, Debug)]
pub enum Sampler {
    Down(Downsample3d),
    Up(Upsample3d),
}

/// What one stack of resnets looks like.
pub struct StackSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    pub layers: usize,
    pub groups: usize,
    pub eps: f64,
    pub spatial_norm_channels: Option<usize>,
}

impl ResnetStack {
    pub fn new(spec: &StackSpec, sampler: Option<(bool, bool)>, vb: VarBuilder) -> Result<Self> {
        let resnets = (0..spec.layers)
            .map(|i| {
                let in_channels = if i == 0 {
                    spec.in_channels
                } else {
                    spec.out_channels
                };
                ResnetBlock3d::new(
                    in_channels,
                    spec.out_channels,
                    spec.groups,
                    spec.eps,
                    spec.spatial_norm_channels,
                    vb.pp(format!("resnets.{i}")),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        // (is_up, compress_time)
        let sampler = match sampler {
            None => None,
            Some((false, compress_time)) => Some(Sampler::Down(Downsample3d::new(
                spec.out_channels,
                compress_time,
                vb.pp("downsamplers.0"),
            )?)),
            Some((true, compress_time)) => Some(Sampler::Up(Upsample3d::new(
                spec.out_channels,
                compress_time,
                vb.pp("upsamplers.0"),
            )?)),
        };
        Ok(Self { resnets, sampler })
    }

    pub fn forward(
        &self,
        x: &Tensor,
        zq: Option<&Tensor>,
        cache: &mut ConvCache,
    ) -> Result<Tensor> {
        let mut h = x.clone();
        for resnet in &self.resnets {
            h = resnet.forward(&h, zq, cache)?;
        }
        match &self.sampler {
            None => Ok(h),
            Some(Sampler::Down(down)) => down.forward(&h),
            Some(Sampler::Up(up)) => up.forward(&h),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn frames(values: &[f32]) -> Tensor {
        Tensor::new(values, &Device::Cpu)
            .unwrap()
            .reshape((1, 1, values.len(), 1, 1))
            .unwrap()
    }

    fn values(x: &Tensor) -> Vec<f32> {
        x.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn time_pooling_keeps_the_first_of_an_odd_count() {
        assert_eq!(
            values(&pool_time_pairs(&frames(&[1., 2., 4., 6., 10.])).unwrap()),
            vec![1., 3., 8.]
        );
        assert_eq!(
            values(&pool_time_pairs(&frames(&[2., 4., 6., 10.])).unwrap()),
            vec![3., 8.]
        );
        assert_eq!(values(&pool_time_pairs(&frames(&[7.])).unwrap()), vec![7.]);
    }

    #[test]
    fn time_upsampling_keeps_the_first_of_an_odd_count() {
        let up = |v: &[f32], compress: bool| {
            let y = upsample_frames(&frames(v), compress).unwrap();
            assert_eq!(y.dims()[3..], [2, 2]);
            // Look at the top-left pixel of every frame.
            let y = y.narrow(3, 0, 1).unwrap().narrow(4, 0, 1).unwrap();
            values(&y)
        };
        assert_eq!(up(&[1., 2., 3.], true), vec![1., 2., 2., 3., 3.]);
        assert_eq!(up(&[1., 2.], true), vec![1., 1., 2., 2.]);
        assert_eq!(up(&[5.], true), vec![5.]);
        assert_eq!(up(&[1., 2., 3.], false), vec![1., 2., 3.]);
    }

    #[test]
    fn spatial_upsampling_is_nearest() {
        let x = Tensor::new(&[1f32, 2., 3., 4.], &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 1, 2, 2))
            .unwrap();
        let y = upsample_frames(&x, false).unwrap();
        assert_eq!(
            values(&y),
            vec![
                1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.
            ]
        );
    }
}
