//! Region metrics for interaction videos: PSNR and SSIM over the whole frame or over a per-pixel mask, and the
//! regions DWM's question is about — where the interaction changed the scene, and where only modelled dynamics
//! (not the hands themselves) can explain the change.

use crate::video::Frames;

/// A per-pixel mask over a clip (frame-major, row-major), true where the pixel counts.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionMask {
    pub frames: usize,
    pub width: usize,
    pub height: usize,
    pub values: Vec<bool>,
}

impl RegionMask {
    pub fn full(frames: usize, width: usize, height: usize) -> Self {
        Self {
            frames,
            width,
            height,
            values: vec![true; frames * width * height],
        }
    }

    pub fn count(&self) -> usize {
        self.values.iter().filter(|&&v| v).count()
    }

    pub fn fraction(&self) -> f64 {
        self.count() as f64 / self.values.len().max(1) as f64
    }
}

/// Same frame count, width and height.
pub fn same_shape(a: &Frames, b: &Frames) -> bool {
    (a.frame_count(), a.width(), a.height()) == (b.frame_count(), b.width(), b.height())
}

/// Pixels where the ground truth differs from the static video by more than `threshold` levels in some channel:
/// what the interaction changed (hands and moved objects).
pub fn interaction_region(
    truth: &Frames,
    static_video: &Frames,
    threshold: u8,
) -> Option<RegionMask> {
    if !same_shape(truth, static_video) {
        return None;
    }
    let values = truth
        .as_bytes()
        .chunks_exact(3)
        .zip(static_video.as_bytes().chunks_exact(3))
        .map(|(a, b)| a.iter().zip(b).any(|(x, y)| x.abs_diff(*y) > threshold))
        .collect();
    Some(RegionMask {
        frames: truth.frame_count(),
        width: truth.width() as usize,
        height: truth.height() as usize,
        values,
    })
}

/// Pixels of the hand-mesh video that are not black (any channel above `threshold`).
pub fn hand_pixels(hands: &Frames, threshold: u8) -> RegionMask {
    RegionMask {
        frames: hands.frame_count(),
        width: hands.width() as usize,
        height: hands.height() as usize,
        values: hands
            .as_bytes()
            .chunks_exact(3)
            .map(|p| p.iter().any(|&v| v > threshold))
            .collect(),
    }
}

/// The mask grown by `radius` pixels (square neighbourhood) in each frame.
pub fn dilate(mask: &RegionMask, radius: usize) -> RegionMask {
    let (w, h) = (mask.width, mask.height);
    let mut out = vec![false; mask.values.len()];
    for f in 0..mask.frames {
        let base = f * w * h;
        for y in 0..h {
            for x in 0..w {
                if !mask.values[base + y * w + x] {
                    continue;
                }
                for yy in y.saturating_sub(radius)..(y + radius + 1).min(h) {
                    for xx in x.saturating_sub(radius)..(x + radius + 1).min(w) {
                        out[base + yy * w + xx] = true;
                    }
                }
            }
        }
    }
    RegionMask {
        values: out,
        ..mask.clone()
    }
}

/// `a` and not `b`.
pub fn subtract(a: &RegionMask, b: &RegionMask) -> RegionMask {
    RegionMask {
        values: a
            .values
            .iter()
            .zip(&b.values)
            .map(|(&x, &y)| x && !y)
            .collect(),
        ..a.clone()
    }
}

/// `a` or `b`.
pub fn union(a: &RegionMask, b: &RegionMask) -> RegionMask {
    RegionMask {
        values: a
            .values
            .iter()
            .zip(&b.values)
            .map(|(&x, &y)| x || y)
            .collect(),
        ..a.clone()
    }
}

/// PSNR (peak 255) over the masked pixels of the whole clip: one MSE over every masked pixel and channel.
/// `None` when the mask is empty.
pub fn psnr_masked(a: &Frames, b: &Frames, mask: &RegionMask) -> Option<f64> {
    if !same_shape(a, b) || mask.values.len() != a.as_bytes().len() / 3 {
        return None;
    }
    let (mut sum, mut count) = (0u64, 0u64);
    for ((pa, pb), &on) in a
        .as_bytes()
        .chunks_exact(3)
        .zip(b.as_bytes().chunks_exact(3))
        .zip(&mask.values)
    {
        if on {
            for (x, y) in pa.iter().zip(pb) {
                let d = u64::from(x.abs_diff(*y));
                sum += d * d;
            }
            count += 3;
        }
    }
    if count == 0 {
        return None;
    }
    if sum == 0 {
        return Some(f64::INFINITY);
    }
    Some(10.0 * (255.0f64 * 255.0 / (sum as f64 / count as f64)).log10())
}

/// The SSIM map of one channel of one frame: scikit-image's `structural_similarity` defaults (7×7 uniform
/// window, K1 0.01, K2 0.03, data range 255, sample covariance), with the window clipped at the borders.
fn ssim_map(x: &[f32], y: &[f32], width: usize, height: usize) -> Vec<f32> {
    const RADIUS: usize = 3;
    let c1 = (0.01f64 * 255.0).powi(2);
    let c2 = (0.03f64 * 255.0).powi(2);
    let mut out = vec![0f32; width * height];
    for py in 0..height {
        for px in 0..width {
            let (y0, y1) = (py.saturating_sub(RADIUS), (py + RADIUS + 1).min(height));
            let (x0, x1) = (px.saturating_sub(RADIUS), (px + RADIUS + 1).min(width));
            let n = ((y1 - y0) * (x1 - x0)) as f64;
            let (mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0f64, 0f64, 0f64, 0f64, 0f64);
            for yy in y0..y1 {
                for xx in x0..x1 {
                    let (a, b) = (x[yy * width + xx] as f64, y[yy * width + xx] as f64);
                    sx += a;
                    sy += b;
                    sxx += a * a;
                    syy += b * b;
                    sxy += a * b;
                }
            }
            let (mx, my) = (sx / n, sy / n);
            let correction = n / (n - 1.0).max(1.0);
            let vx = (sxx / n - mx * mx) * correction;
            let vy = (syy / n - my * my) * correction;
            let cov = (sxy / n - mx * my) * correction;
            let s = ((2.0 * mx * my + c1) * (2.0 * cov + c2))
                / ((mx * mx + my * my + c1) * (vx + vy + c2));
            out[py * width + px] = s as f32;
        }
    }
    out
}

/// The per-pixel SSIM of two clips, channels averaged (frame-major, row-major); compute once, then average it over
/// any number of regions with [`mean_over`].
pub fn ssim_map_clip(a: &Frames, b: &Frames) -> Option<Vec<f32>> {
    if !same_shape(a, b) {
        return None;
    }
    let (w, h) = (a.width() as usize, a.height() as usize);
    let plane = w * h;
    let mut out = vec![0f32; a.frame_count() * plane];
    for f in 0..a.frame_count() {
        let (fa, fb) = (a.frame(f)?, b.frame(f)?);
        for c in 0..3 {
            let xa: Vec<f32> = fa.iter().skip(c).step_by(3).map(|&v| v as f32).collect();
            let xb: Vec<f32> = fb.iter().skip(c).step_by(3).map(|&v| v as f32).collect();
            let map = ssim_map(&xa, &xb, w, h);
            for (slot, value) in out[f * plane..(f + 1) * plane].iter_mut().zip(map) {
                *slot += value / 3.0;
            }
        }
    }
    Some(out)
}

/// The mean of a per-pixel map over a mask; `None` when the mask is empty or does not fit.
pub fn mean_over(map: &[f32], mask: &RegionMask) -> Option<f64> {
    if map.len() != mask.values.len() {
        return None;
    }
    let (mut sum, mut count) = (0f64, 0usize);
    for (value, &on) in map.iter().zip(&mask.values) {
        if on {
            sum += *value as f64;
            count += 1;
        }
    }
    (count > 0).then(|| sum / count as f64)
}

/// Mean SSIM over the masked pixels (channels averaged). `None` when the mask is empty.
pub fn ssim_masked(a: &Frames, b: &Frames, mask: &RegionMask) -> Option<f64> {
    mean_over(&ssim_map_clip(a, b)?, mask)
}

/// The static video with the hand-mesh video's pixels pasted over it: the baseline that draws the hands and
/// models no dynamics.
pub fn paste_hands(static_video: &Frames, hands: &Frames, threshold: u8) -> Option<Frames> {
    if !same_shape(static_video, hands) {
        return None;
    }
    let mut bytes = static_video.as_bytes().to_vec();
    for (pixel, hand) in bytes
        .chunks_exact_mut(3)
        .zip(hands.as_bytes().chunks_exact(3))
    {
        if hand.iter().any(|&v| v > threshold) {
            pixel.copy_from_slice(hand);
        }
    }
    Frames::new(
        static_video.width(),
        static_video.height(),
        static_video.fps(),
        bytes,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(values: &[u8], w: u32, h: u32) -> Frames {
        let bytes: Vec<u8> = values.iter().flat_map(|&v| [v, v, v]).collect();
        Frames::new(w, h, 8.0, bytes).unwrap()
    }

    #[test]
    fn regions_and_masked_psnr() {
        let truth = clip(&[10, 10, 200, 10], 2, 2);
        let still = clip(&[10, 10, 10, 10], 2, 2);
        let hands = clip(&[0, 0, 0, 90], 2, 2);
        let region = interaction_region(&truth, &still, 8).unwrap();
        assert_eq!(region.values, vec![false, false, true, false]);
        assert_eq!(
            psnr_masked(&truth, &still, &RegionMask::full(1, 2, 2)).map(|p| p.round()),
            Some(9.0)
        );
        assert_eq!(psnr_masked(&truth, &truth, &region), Some(f64::INFINITY));
        let near_hand = dilate(&hand_pixels(&hands, 8), 1);
        assert!(near_hand.values.iter().all(|&v| v));
        assert_eq!(subtract(&region, &near_hand).count(), 0);
        let pasted = paste_hands(&still, &hands, 8).unwrap();
        assert_eq!(pasted.pixel(0, 1, 1), Some([90, 90, 90]));
        assert!(psnr_masked(&truth, &still, &subtract(&region, &region)).is_none());
    }

    #[test]
    fn ssim_is_one_for_equal_frames_and_lower_for_noise() {
        let w = 16;
        let a: Vec<u8> = (0..w * w).map(|i| ((i * 37) % 251) as u8).collect();
        let b: Vec<u8> = a
            .iter()
            .enumerate()
            .map(|(i, &v)| v.wrapping_add((i % 7) as u8 * 9))
            .collect();
        let (fa, fb) = (clip(&a, w as u32, w as u32), clip(&b, w as u32, w as u32));
        let full = RegionMask::full(1, w, w);
        assert!((ssim_masked(&fa, &fa, &full).unwrap() - 1.0).abs() < 1e-9);
        assert!(ssim_masked(&fa, &fb, &full).unwrap() < 0.9);
    }
}
