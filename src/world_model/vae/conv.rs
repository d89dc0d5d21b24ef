//! Causal 3-D convolution built from 2-D convolutions over time (candle 0.11 has no Conv3d), with the
//! reference's first-frame padding and per-layer caches that carry the last k−1 input frames of one frame
//! chunk into the next.

use candle_core::{Module as _, Result, Tensor};
use candle_nn::VarBuilder;

/// The conv caches of one encoder or decoder pass. Layers take slots in call order, which is the same in every
/// chunk, so slot i always belongs to the same layer.
#[derive(Debug, Default)]
pub struct ConvCache {
    slots: Vec<Option<Tensor>>,
    next: usize,
}

impl ConvCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Called before each chunk: layers will take their slots again from the first one.
    pub fn start_chunk(&mut self) {
        self.next = 0;
    }

    fn slot(&mut self) -> &mut Option<Tensor> {
        if self.next == self.slots.len() {
            self.slots.push(None);
        }
        let index = self.next;
        self.next += 1;
        // In range: a slot was pushed above whenever `index` reached the length.
        &mut self.slots[index]
    }
}

/// How the temporal taps of a k_t×k×k kernel are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeTaps {
    /// Our own im2col over (time, rows, columns) straight from [B, C, T, H, W] and one GEMM per slab: no
    /// layout changes, the output comes out in [B, O, T, H, W].
    Im2colGemm,
    /// The k_t shifted frames are stacked on the channel axis: one Conv2d with k_t·C input channels.
    StackChannels,
    /// One Conv2d per temporal tap over the shifted frames, summed.
    SumShifted,
}

/// Measured on 2 shared CPU cores (examples/bench_vae.rs, 3×3×3, 8 output frames): 128→128 channels at
/// 120×180 took 4.0 s with the own im2col + GEMM, 5.6 s stacking taps into one Conv2d and 6.1 s summing
/// per-tap Conv2d's (64→64 at 64×96: 0.33 / 0.54 / 0.69 s).
pub const DEFAULT_TIME_TAPS: TimeTaps = TimeTaps::Im2colGemm;

/// Largest im2col slab, in elements (256 MiB in f32): bounds the extra memory of a convolution.
const IM2COL_SLAB_ELEMENTS: usize = 64 << 20;

/// A stride-1 3-D convolution by explicit im2col: for a slab of output frames and rows, the k_t·k·k shifted
/// views of the (spatially zero-padded) input are stacked into [k_t·k·k·C, frames·rows·W] and multiplied by
/// the kernel as an [O, k_t·k·k·C] matrix.
fn conv3d_im2col(
    padded: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    pad: usize,
) -> Result<Tensor> {
    let (b, c, padded_t, h, w) = padded.dims5()?;
    let (o, _, kt, k, _) = weight.dims5()?;
    let t = padded_t - kt + 1;
    let out_h = (h + 2 * pad).checked_sub(k - 1).ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "conv3d: kernel {k} larger than the padded height {}",
            h + 2 * pad
        ))
    })?;
    let out_w = (w + 2 * pad).checked_sub(k - 1).ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "conv3d: kernel {k} larger than the padded width {}",
            w + 2 * pad
        ))
    })?;
    let x = if pad > 0 {
        padded
            .pad_with_zeros(3, pad, pad)?
            .pad_with_zeros(4, pad, pad)?
    } else {
        padded.clone()
    };
    let spatial_taps = k * k;
    // Spatial-tap-major columns ([k·k, C] rows) let the im2col be one concatenation along the outer axis,
    // which candle writes straight into a contiguous buffer. The columns are built once per padded frame; each
    // temporal tap dt then reads the same buffer shifted by dt frames, so the copy is k·k·C per input frame
    // rather than k_t·k·k·C per output frame. Kernel: [O, k_t, k·k·C] to match.
    let kernel =
        weight
            .permute((0, 2, 3, 4, 1))?
            .contiguous()?
            .reshape((o, kt, spatial_taps * c))?;
    let on_cpu = padded.device().is_cpu();
    let per_row = c * spatial_taps * out_w;
    let rows_per_slab = (IM2COL_SLAB_ELEMENTS / (per_row * kt)).max(1).min(out_h);
    let frames_per_slab = if rows_per_slab == out_h {
        (IM2COL_SLAB_ELEMENTS / (per_row * out_h))
            .saturating_sub(kt - 1)
            .max(1)
            .min(t)
    } else {
        1
    };
    let mut batches = Vec::with_capacity(b);
    for bi in 0..b {
        let xb = x.narrow(0, bi, 1)?.squeeze(0)?;
        let mut frame_slabs = Vec::new();
        for t0 in (0..t).step_by(frames_per_slab) {
            let nt = frames_per_slab.min(t - t0);
            let input_frames = nt + kt - 1;
            let mut row_slabs = Vec::new();
            for r0 in (0..out_h).step_by(rows_per_slab) {
                let nr = rows_per_slab.min(out_h - r0);
                let mut views = Vec::with_capacity(spatial_taps);
                for dy in 0..k {
                    for dx in 0..k {
                        views.push(
                            xb.narrow(1, t0, input_frames)?
                                .narrow(2, r0 + dy, nr)?
                                .narrow(3, dx, out_w)?
                                .unsqueeze(0)?,
                        );
                    }
                }
                let frame_size = nr * out_w;
                let cols = Tensor::cat(&views, 0)?
                    .reshape((spatial_taps * c, input_frames * frame_size))?;
                let mut sum: Option<Tensor> = None;
                for dt in 0..kt {
                    let mut tap_kernel = kernel.narrow(1, dt, 1)?.squeeze(1)?;
                    // The CPU GEMM takes any row stride; other backends get contiguous operands.
                    let mut tap_cols = cols.narrow(1, dt * frame_size, nt * frame_size)?;
                    if !on_cpu {
                        tap_kernel = tap_kernel.contiguous()?;
                        tap_cols = tap_cols.contiguous()?;
                    }
                    let product = tap_kernel.matmul(&tap_cols)?;
                    sum = Some(match sum {
                        None => product,
                        Some(previous) => (previous + product)?,
                    });
                }
                let sum = sum.ok_or_else(|| {
                    candle_core::Error::Msg("conv3d: kernel without temporal taps".into())
                })?;
                row_slabs.push(sum.reshape((o, nt, nr, out_w))?);
            }
            frame_slabs.push(Tensor::cat(&row_slabs, 2)?);
        }
        batches.push(Tensor::cat(&frame_slabs, 1)?);
    }
    let out = match batches.as_slice() {
        [single] => single.unsqueeze(0)?,
        _ => Tensor::stack(&batches, 0)?,
    };
    match bias {
        Some(bias) => out.broadcast_add(&bias.reshape((1, o, 1, 1, 1))?),
        None => Ok(out),
    }
}

/// A 3-D convolution with stride 1 applied to frames that already carry their temporal padding
/// (`padded` is [B, C, T + k_t − 1, H, W]); spatial zero padding `pad` on H and W. Returns [B, O, T, H', W'].
pub fn conv3d_over_frames(
    padded: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    pad: usize,
    taps: TimeTaps,
) -> Result<Tensor> {
    let (b, c, padded_t, h, w) = padded.dims5()?;
    let (o, c_w, kt, kh, kw) = weight.dims5()?;
    if c_w != c {
        candle_core::bail!("conv3d: input has {c} channels, the kernel expects {c_w}");
    }
    if kh != kw {
        candle_core::bail!("conv3d: only square spatial kernels are supported, got {kh}×{kw}");
    }
    if padded_t < kt {
        candle_core::bail!("conv3d: {padded_t} frames for a temporal kernel of {kt}");
    }
    if taps == TimeTaps::Im2colGemm {
        return conv3d_im2col(padded, weight, bias, pad);
    }
    let t = padded_t - kt + 1;
    // Frames become the batch of the 2-D convolutions.
    let frames_first = padded.permute((0, 2, 1, 3, 4))?.contiguous()?;
    let out = if kt == 1 {
        let x = frames_first.reshape((b * t, c, h, w))?;
        x.conv2d(&weight.reshape((o, c, kh, kw))?, pad, 1, 1, 1)?
    } else {
        match taps {
            TimeTaps::StackChannels => {
                let shifted: Vec<Tensor> = (0..kt)
                    .map(|dt| frames_first.narrow(1, dt, t))
                    .collect::<Result<_>>()?;
                // Channel index dt·C + c, matching the kernel laid out as [O, k_t, C, k, k].
                let x = Tensor::cat(&shifted, 2)?.reshape((b * t, kt * c, h, w))?;
                let kernel =
                    weight
                        .permute((0, 2, 1, 3, 4))?
                        .contiguous()?
                        .reshape((o, kt * c, kh, kw))?;
                x.conv2d(&kernel, pad, 1, 1, 1)?
            }
            // Im2colGemm returned above.
            TimeTaps::SumShifted | TimeTaps::Im2colGemm => {
                let mut sum: Option<Tensor> = None;
                for dt in 0..kt {
                    let x = frames_first.narrow(1, dt, t)?.reshape((b * t, c, h, w))?;
                    let kernel = weight.narrow(2, dt, 1)?.squeeze(2)?.contiguous()?;
                    let y = x.conv2d(&kernel, pad, 1, 1, 1)?;
                    sum = Some(match sum {
                        None => y,
                        Some(s) => (s + y)?,
                    });
                }
                // kt > 1 here, so the loop ran.
                sum.ok_or_else(|| candle_core::Error::Msg("conv3d: empty kernel".into()))?
            }
        }
    };
    let (_, _, out_h, out_w) = out.dims4()?;
    let out = out
        .reshape((b, t, o, out_h, out_w))?
        .permute((0, 2, 1, 3, 4))?;
    match bias {
        // The binary op writes a contiguous [B, O, T, H, W] result from the permuted view.
        Some(bias) => out.broadcast_add(&bias.reshape((1, o, 1, 1, 1))?),
        None => out.contiguous(),
    }
}

/// `CogVideoXCausalConv3d` with pad_mode "first"/"constant" (the only modes CogVideoX uses): causal in time,
/// zero padding (k−1)/2 in H and W. Keys `<name>.conv.weight` [O, C, k, k, k] and `<name>.conv.bias`.
#[derive(Clone, Debug)]
pub struct CausalConv3d {
    weight: Tensor,
    bias: Tensor,
    kernel: usize,
}

impl CausalConv3d {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let vb = vb.pp("conv");
        let fan_in = in_channels * kernel * kernel * kernel;
        let weight = vb.get_with_hints(
            (out_channels, in_channels, kernel, kernel, kernel),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        let bound = 1.0 / (fan_in as f64).sqrt();
        let bias = vb.get_with_hints(
            out_channels,
            "bias",
            candle_nn::Init::Uniform {
                lo: -bound,
                up: bound,
            },
        )?;
        Ok(Self {
            weight,
            bias,
            kernel,
        })
    }

    /// x: [B, C, T, H, W]. Without a cached context the temporal padding is k−1 copies of the first frame;
    /// with one it is the last k−1 (padded) input frames of the previous chunk. The cache is updated.
    pub fn forward(&self, x: &Tensor, cache: &mut ConvCache) -> Result<Tensor> {
        if self.kernel == 1 {
            return conv3d_over_frames(x, &self.weight, Some(&self.bias), 0, DEFAULT_TIME_TAPS);
        }
        let context = self.kernel - 1;
        let slot = cache.slot();
        let prefix = match slot.take() {
            Some(previous) => previous,
            None => {
                let first = x.narrow(2, 0, 1)?;
                Tensor::cat(&vec![&first; context], 2)?
            }
        };
        let padded = Tensor::cat(&[&prefix, x], 2)?;
        let frames = padded.dim(2)?;
        *slot = Some(padded.narrow(2, frames - context, context)?.contiguous()?);
        conv3d_over_frames(
            &padded,
            &self.weight,
            Some(&self.bias),
            (self.kernel - 1) / 2,
            DEFAULT_TIME_TAPS,
        )
    }
}

/// A plain 1×1×1 Conv3d (`conv_shortcut.{weight,bias}`, no `.conv.` in the key): a per-pixel channel mix.
#[derive(Clone, Debug)]
pub struct PointwiseConv3d {
    weight: Tensor,
    bias: Tensor,
}

impl PointwiseConv3d {
    pub fn new(in_channels: usize, out_channels: usize, vb: VarBuilder) -> Result<Self> {
        let bound = 1.0 / (in_channels as f64).sqrt();
        let weight = vb.get_with_hints(
            (out_channels, in_channels, 1, 1, 1),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        let bias = vb.get_with_hints(
            out_channels,
            "bias",
            candle_nn::Init::Uniform {
                lo: -bound,
                up: bound,
            },
        )?;
        Ok(Self { weight, bias })
    }
}

impl candle_core::Module for PointwiseConv3d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, t, h, w) = x.dims5()?;
        let o = self.weight.dim(0)?;
        // Time folds into height: a 1×1 Conv2d over [B, C, T·H, W] needs no permutation.
        let y =
            x.reshape((b, c, t * h, w))?
                .conv2d(&self.weight.reshape((o, c, 1, 1))?, 0, 1, 1, 1)?;
        y.reshape((b, o, t, h, w))?
            .broadcast_add(&self.bias.reshape((1, o, 1, 1, 1))?)
    }
}

/// A per-frame Conv2d for the samplers (`<name>.conv.{weight,bias}`), over [B, C, T, H, W].
pub fn conv2d_per_frame(conv: &candle_nn::Conv2d, x: &Tensor) -> Result<Tensor> {
    let (b, c, t, h, w) = x.dims5()?;
    let frames = x
        .permute((0, 2, 1, 3, 4))?
        .contiguous()?
        .reshape((b * t, c, h, w))?;
    let y = conv.forward(&frames)?;
    let (_, o, out_h, out_w) = y.dims4()?;
    y.reshape((b, t, o, out_h, out_w))?
        .permute((0, 2, 1, 3, 4))?
        .contiguous()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, IndexOp as _};

    fn random(shape: &[usize], seed: u64) -> Tensor {
        // A small deterministic generator keeps the tests independent of candle's RNG.
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let count: usize = shape.iter().product();
        let values: Vec<f32> = (0..count)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    fn conv(kernel: usize, seed: u64) -> CausalConv3d {
        let weight = random(&[5, 3, kernel, kernel, kernel], seed);
        let bias = random(&[5], seed + 1);
        let mut tensors = std::collections::HashMap::new();
        tensors.insert("conv.weight".to_string(), weight);
        tensors.insert("conv.bias".to_string(), bias);
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        CausalConv3d::new(3, 5, kernel, vb).unwrap()
    }

    /// Direct evaluation of the causal convolution with first-frame padding, one output value at a time.
    fn naive_causal(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Tensor {
        let (b, c, t, h, w) = x.dims5().unwrap();
        let (o, _, k, _, _) = weight.dims5().unwrap();
        let xs: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        let ws: Vec<f32> = weight.flatten_all().unwrap().to_vec1().unwrap();
        let bs: Vec<f32> = bias.to_vec1().unwrap();
        let pad = (k - 1) / 2;
        let mut out = vec![0f32; b * o * t * h * w];
        for bi in 0..b {
            for oi in 0..o {
                for ti in 0..t {
                    for yi in 0..h {
                        for xi in 0..w {
                            let mut acc = bs[oi];
                            for ci in 0..c {
                                for dt in 0..k {
                                    // Padded frame ti + dt maps to input frame ti + dt − (k − 1), clamped at 0.
                                    let src_t = (ti + dt).saturating_sub(k - 1);
                                    for dy in 0..k {
                                        for dx in 0..k {
                                            let sy = yi as isize + dy as isize - pad as isize;
                                            let sx = xi as isize + dx as isize - pad as isize;
                                            if sy < 0
                                                || sx < 0
                                                || sy >= h as isize
                                                || sx >= w as isize
                                            {
                                                continue;
                                            }
                                            let xv = xs[(((bi * c + ci) * t + src_t) * h
                                                + sy as usize)
                                                * w
                                                + sx as usize];
                                            let wv =
                                                ws[(((oi * c + ci) * k + dt) * k + dy) * k + dx];
                                            acc += xv * wv;
                                        }
                                    }
                                }
                            }
                            out[(((bi * o + oi) * t + ti) * h + yi) * w + xi] = acc;
                        }
                    }
                }
            }
        }
        Tensor::from_vec(out, (b, o, t, h, w), &Device::Cpu).unwrap()
    }

    #[test]
    fn first_frame_padding_matches_direct_sum() {
        let layer = conv(3, 7);
        let x = random(&[1, 3, 4, 5, 6], 3);
        let y = layer.forward(&x, &mut ConvCache::new()).unwrap();
        assert_eq!(y.dims(), &[1, 5, 4, 5, 6]);
        let expected = naive_causal(&x, &layer.weight, &layer.bias);
        assert!(max_abs_diff(&y, &expected) < 1e-5);
        // Frame 0 sees three copies of frame 0, so it equals the output for a one-frame video.
        let single = layer
            .forward(&x.narrow(2, 0, 1).unwrap(), &mut ConvCache::new())
            .unwrap();
        assert!(max_abs_diff(&y.i((.., .., 0..1)).unwrap(), &single) < 1e-6);
    }

    #[test]
    fn chunked_equals_one_shot() {
        let layer = conv(3, 11);
        let x = random(&[2, 3, 9, 4, 5], 5);
        let whole = layer.forward(&x, &mut ConvCache::new()).unwrap();
        let mut cache = ConvCache::new();
        let mut parts = Vec::new();
        // Uneven chunks, including a single-frame one, as the reference's first chunk can be.
        for (start, len) in [(0, 1), (1, 4), (5, 2), (7, 2)] {
            cache.start_chunk();
            parts.push(
                layer
                    .forward(&x.narrow(2, start, len).unwrap(), &mut cache)
                    .unwrap(),
            );
        }
        let chunked = Tensor::cat(&parts, 2).unwrap();
        assert!(max_abs_diff(&whole, &chunked) < 1e-5);
    }

    #[test]
    fn time_tap_strategies_agree() {
        let weight = random(&[4, 3, 3, 3, 3], 1);
        let bias = random(&[4], 2);
        let padded = random(&[2, 3, 6, 5, 7], 3);
        let a =
            conv3d_over_frames(&padded, &weight, Some(&bias), 1, TimeTaps::StackChannels).unwrap();
        let b = conv3d_over_frames(&padded, &weight, Some(&bias), 1, TimeTaps::SumShifted).unwrap();
        let c = conv3d_over_frames(&padded, &weight, Some(&bias), 1, TimeTaps::Im2colGemm).unwrap();
        assert_eq!(a.dims(), &[2, 4, 4, 5, 7]);
        assert!(max_abs_diff(&a, &b) < 1e-5);
        assert!(max_abs_diff(&a, &c) < 1e-5);
        // Unpadded and 1×1×1 kernels too.
        let a = conv3d_over_frames(&padded, &weight, None, 0, TimeTaps::StackChannels).unwrap();
        let c = conv3d_over_frames(&padded, &weight, None, 0, TimeTaps::Im2colGemm).unwrap();
        assert_eq!(c.dims(), &[2, 4, 4, 3, 5]);
        assert!(max_abs_diff(&a, &c) < 1e-5);
        let pointwise = random(&[4, 3, 1, 1, 1], 4);
        let a =
            conv3d_over_frames(&padded, &pointwise, Some(&bias), 0, TimeTaps::SumShifted).unwrap();
        let c =
            conv3d_over_frames(&padded, &pointwise, Some(&bias), 0, TimeTaps::Im2colGemm).unwrap();
        assert!(max_abs_diff(&a, &c) < 1e-5);
    }
}
