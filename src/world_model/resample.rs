//! Resampling videos as the DWM pipeline does: `F.interpolate(mode="trilinear", align_corners=False)` over
//! (frames, height, width) together, used when a clip does not have the model's frame count.

use crate::video::{Frames, FramesError};

/// Source position and the two taps (with weights) for one output index, PyTorch's align_corners=False rule:
/// src = (dst + 0.5)·(in/out) − 0.5, clamped at 0.
fn taps(output: usize, input: usize) -> Vec<(usize, usize, f32)> {
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|dst| {
            let src = ((dst as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(input - 1);
            let i1 = (i0 + 1).min(input - 1);
            (i0, i1, (src - i0 as f64) as f32)
        })
        .collect()
}

/// Trilinear resampling of a C×F×H×W array to C×F'×H'×W'. Separable: the trilinear weights are the product
/// of three linear ones, so three 1-D passes give the same result.
pub fn resample_trilinear(
    data: &[f32],
    [channels, frames, height, width]: [usize; 4],
    [out_frames, out_height, out_width]: [usize; 3],
) -> Vec<f32> {
    debug_assert_eq!(data.len(), channels * frames * height * width);
    // Along width.
    let tw = taps(out_width, width);
    let mut a = vec![0f32; channels * frames * height * out_width];
    for row in 0..channels * frames * height {
        let src = &data[row * width..(row + 1) * width];
        let dst = &mut a[row * out_width..(row + 1) * out_width];
        for (x, &(i0, i1, w)) in tw.iter().enumerate() {
            dst[x] = src[i0] * (1.0 - w) + src[i1] * w;
        }
    }
    // Along height.
    let th = taps(out_height, height);
    let mut b = vec![0f32; channels * frames * out_height * out_width];
    for plane in 0..channels * frames {
        for (y, &(i0, i1, w)) in th.iter().enumerate() {
            for x in 0..out_width {
                let top = a[(plane * height + i0) * out_width + x];
                let bottom = a[(plane * height + i1) * out_width + x];
                b[(plane * out_height + y) * out_width + x] = top * (1.0 - w) + bottom * w;
            }
        }
    }
    // Along time.
    let tf = taps(out_frames, frames);
    let plane = out_height * out_width;
    let mut c = vec![0f32; channels * out_frames * plane];
    for channel in 0..channels {
        for (t, &(i0, i1, w)) in tf.iter().enumerate() {
            let first = &b[(channel * frames + i0) * plane..(channel * frames + i0 + 1) * plane];
            let second = &b[(channel * frames + i1) * plane..(channel * frames + i1 + 1) * plane];
            let dst =
                &mut c[(channel * out_frames + t) * plane..(channel * out_frames + t + 1) * plane];
            for ((d, &p), &q) in dst.iter_mut().zip(first).zip(second) {
                *d = p * (1.0 - w) + q * w;
            }
        }
    }
    c
}

/// A clip as C×F×H×W floats in [0, 1].
pub fn frames_to_cfhw(frames: &Frames) -> Vec<f32> {
    let (f, plane) = (
        frames.frame_count(),
        frames.width() as usize * frames.height() as usize,
    );
    let mut out = vec![0f32; 3 * f * plane];
    for (index, pixel) in frames.as_bytes().chunks_exact(3).enumerate() {
        let (frame, at) = (index / plane, index % plane);
        for (channel, &value) in pixel.iter().enumerate() {
            out[(channel * f + frame) * plane + at] = value as f32 / 255.0;
        }
    }
    out
}

/// C×F×H×W floats in [0, 1] back to a clip, with DWM's floor(255·x) quantisation.
pub fn cfhw_to_frames(
    data: &[f32],
    frame_count: usize,
    width: u32,
    height: u32,
    fps: f64,
) -> Result<Frames, FramesError> {
    let plane = width as usize * height as usize;
    let mut bytes = vec![0u8; frame_count * plane * 3];
    for frame in 0..frame_count {
        for at in 0..plane {
            for channel in 0..3 {
                let value = data[(channel * frame_count + frame) * plane + at];
                bytes[(frame * plane + at) * 3 + channel] =
                    (value.clamp(0.0, 1.0) * 255.0).floor() as u8;
            }
        }
    }
    Frames::new(width, height, fps, bytes)
}

/// Resamples a clip to `frame_count` frames (same size), trilinearly as the pipeline does.
pub fn resample_frames(frames: &Frames, frame_count: usize) -> Result<Frames, FramesError> {
    if frames.frame_count() == frame_count {
        return Ok(frames.clone());
    }
    let (w, h) = (frames.width() as usize, frames.height() as usize);
    let data = resample_trilinear(
        &frames_to_cfhw(frames),
        [3, frames.frame_count(), h, w],
        [frame_count, h, w],
    );
    cfhw_to_frames(
        &data,
        frame_count,
        frames.width(),
        frames.height(),
        frames.fps(),
    )
}

/// 1-D area weights: output i averages the input interval [i·s, (i+1)·s) with s = input/output (for shrinking;
/// no output pixel skips an input pixel, unlike point-sampled bilinear).
fn area_taps(output: usize, input: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|dst| {
            let (start, end) = (dst as f64 * scale, (dst as f64 + 1.0) * scale);
            let mut taps = Vec::new();
            let mut i = start.floor() as usize;
            while (i as f64) < end && i < input {
                let overlap = (end.min(i as f64 + 1.0) - start.max(i as f64)).max(0.0);
                if overlap > 0.0 {
                    taps.push((i, (overlap / scale) as f32));
                }
                i += 1;
            }
            taps
        })
        .collect()
}

/// Area-averages a C×F×H×W array down to C×F×H'×W' (H' ≤ H, W' ≤ W).
fn shrink_area(
    data: &[f32],
    [planes, height, width]: [usize; 3],
    [out_height, out_width]: [usize; 2],
) -> Vec<f32> {
    let tw = area_taps(out_width, width);
    let mut a = vec![0f32; planes * height * out_width];
    for row in 0..planes * height {
        let src = &data[row * width..(row + 1) * width];
        for (x, taps) in tw.iter().enumerate() {
            a[row * out_width + x] = taps.iter().map(|&(i, w)| src[i] * w).sum();
        }
    }
    let th = area_taps(out_height, height);
    let mut b = vec![0f32; planes * out_height * out_width];
    for plane in 0..planes {
        for (y, taps) in th.iter().enumerate() {
            for x in 0..out_width {
                b[(plane * out_height + y) * out_width + x] = taps
                    .iter()
                    .map(|&(i, w)| a[(plane * height + i) * out_width + x] * w)
                    .sum();
            }
        }
    }
    b
}

/// Resizes a clip to `frame_count` frames of `width`×`height`: area averaging where it shrinks (a 720×480 clip
/// going into a 96×64 model keeps thin things), trilinear (the pipeline's rule) where it grows and in time.
pub fn resize_frames(
    frames: &Frames,
    frame_count: usize,
    width: u32,
    height: u32,
) -> Result<Frames, FramesError> {
    if (frames.frame_count(), frames.width(), frames.height()) == (frame_count, width, height) {
        return Ok(frames.clone());
    }
    let (f, h, w) = (
        frames.frame_count(),
        frames.height() as usize,
        frames.width() as usize,
    );
    let mut data = frames_to_cfhw(frames);
    let (mut ch, mut cw) = (h, w);
    let (th, tw) = (height as usize, width as usize);
    if th < h || tw < w {
        let (sh, sw) = (th.min(h), tw.min(w));
        data = shrink_area(&data, [3 * f, h, w], [sh, sw]);
        (ch, cw) = (sh, sw);
    }
    let data = resample_trilinear(&data, [3, f, ch, cw], [frame_count, th, tw]);
    cfhw_to_frames(&data, frame_count, width, height, frames.fps())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_pytorch_align_corners_false() {
        // Values printed by torch.nn.functional.interpolate(torch.tensor([[[0., 1., 2., 3.]]]), size=6,
        // mode="linear", align_corners=False) (torch 2.x).
        let out = resample_trilinear(&[0.0, 1.0, 2.0, 3.0], [1, 1, 1, 4], [1, 1, 6]);
        let expected = [0.0, 0.5, 1.1666666, 1.8333333, 2.5, 3.0];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-5, "{out:?}");
        }
        // Downsampling 4 → 2 averages neighbours: src = 0.5 and 2.5.
        assert_eq!(
            resample_trilinear(&[0.0, 1.0, 2.0, 3.0], [1, 1, 1, 4], [1, 1, 2]),
            vec![0.5, 2.5]
        );
    }

    #[test]
    fn area_shrink_averages_and_keeps_sizes() {
        // 4×4 → 2×2: each output is the mean of a 2×2 block.
        let data: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let out = shrink_area(&data, [1, 4, 4], [2, 2]);
        assert_eq!(out, vec![2.5, 4.5, 10.5, 12.5]);
        // 720 → 96 (7.5×): weights of every output sum to one.
        for taps in area_taps(96, 720) {
            let total: f32 = taps.iter().map(|t| t.1).sum();
            assert!((total - 1.0).abs() < 1e-5);
        }
        let frames = Frames::new(8, 6, 8.0, vec![200; 8 * 6 * 3 * 3]).unwrap();
        let small = resize_frames(&frames, 5, 4, 2).unwrap();
        assert_eq!(
            (small.frame_count(), small.width(), small.height()),
            (5, 4, 2)
        );
        assert!(small.as_bytes().iter().all(|&v| (199..=200).contains(&v)));
    }

    #[test]
    fn matches_pytorch_trilinear() {
        // x = torch.arange(120.).reshape(1, 2, 3, 4, 5); F.interpolate(x, size=(5, 3, 7), mode="trilinear",
        // align_corners=False).flatten(): first eight and last three values.
        let data: Vec<f32> = (0..120).map(|i| i as f32).collect();
        let out = resample_trilinear(&data, [2, 3, 4, 5], [5, 3, 7]);
        let first = [
            0.8333334, 1.4047619, 2.1190476, 2.8333335, 3.5476193, 4.261_905, 4.8333335, 7.5,
        ];
        let last = [116.88096, 117.59525, 118.16667];
        for (o, e) in out
            .iter()
            .zip(first)
            .chain(out[out.len() - 3..].iter().zip(last))
        {
            assert!((o - e).abs() < 1e-4, "{o} vs {e}");
        }
    }

    #[test]
    fn same_size_is_identity_and_time_resampling_interpolates() {
        let data: Vec<f32> = (0..2 * 3 * 2 * 2).map(|i| i as f32).collect();
        assert_eq!(resample_trilinear(&data, [2, 3, 2, 2], [3, 2, 2]), data);
        // Two frames, black then white, to three: src = 0, 0.5·(2/3)... → 0, 0.5, 1 (clamped ends).
        let clip = Frames::new(1, 1, 8.0, vec![0, 0, 0, 255, 255, 255]).unwrap();
        let out = resample_frames(&clip, 3).unwrap();
        assert_eq!(out.frame_count(), 3);
        assert_eq!(out.pixel(0, 0, 0), Some([0, 0, 0]));
        assert_eq!(out.pixel(1, 0, 0), Some([127, 127, 127]));
        assert_eq!(out.pixel(2, 0, 0), Some([255, 255, 255]));
    }
}
