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

    /// The mask without the pixels less than `border` from an edge of the frame: what scikit-image's SSIM
    /// averages over (`border` 3) when the mask is the full frame.
    pub fn without_border(&self, border: usize) -> Self {
        let (w, h) = (self.width, self.height);
        let mut values = self.values.clone();
        for (i, value) in values.iter_mut().enumerate() {
            let (x, y) = (i % w.max(1), (i / w.max(1)) % h.max(1));
            if x < border || y < border || x + border >= w || y + border >= h {
                *value = false;
            }
        }
        Self {
            values,
            ..self.clone()
        }
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

/// The two SSIM conventions in use. They share the formula (K1 0.01, K2 0.03, data range 255 on u8 — the same
/// as data range 1 on values divided by 255) and differ in window, variance, border handling and what the mean
/// covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SsimKind {
    /// scikit-image's `structural_similarity(a, b, channel_axis=2, data_range=255)` on u8: 7×7 uniform window,
    /// sample covariance (× 49/48), scipy's `reflect` border (the edge pixel repeated: `c b a | a b c`); its mean
    /// leaves out the 3 pixels nearest each border ([`ssim_skimage`]).
    ScikitImage,
    /// torchmetrics' `StructuralSimilarityIndexMeasure(data_range=1.0)` (DWM's evaluation): 11×11 Gaussian window,
    /// σ 1.5, population variances clamped at 0, PyTorch's `reflect` border (the edge pixel not repeated:
    /// `c b | a b c`); since torchmetrics 1.6 its mean covers the whole map ([`ssim_torchmetrics`]), before 1.6 it
    /// left out 5 pixels at each border ([`ssim_torchmetrics_cropped`]).
    Torchmetrics,
}

impl SsimKind {
    /// Half the window: the pixels whose window reaches past the image, and what scikit-image (and torchmetrics
    /// before 1.6) crop before averaging.
    pub fn border(self) -> usize {
        match self {
            SsimKind::ScikitImage => 3,
            SsimKind::Torchmetrics => 5,
        }
    }

    /// The 1-D window (the 2-D window is its outer product with itself).
    fn taps(self) -> Vec<f64> {
        match self {
            SsimKind::ScikitImage => vec![1.0 / 7.0; 7],
            SsimKind::Torchmetrics => {
                // torchmetrics' `_gaussian`: exp(−d²/2σ²) at d = −5..5, normalised to sum 1.
                let sigma = 1.5f64;
                let raw: Vec<f64> = (-5..=5)
                    .map(|d| (-(f64::from(d) / sigma).powi(2) / 2.0).exp())
                    .collect();
                let total: f64 = raw.iter().sum();
                raw.iter().map(|v| v / total).collect()
            }
        }
    }

    /// Where index `i` (possibly outside 0..n) reads from under this kind's reflect rule, for any n ≥ 1 (the
    /// libraries need n > radius; repeating the reflection is scipy's rule for larger pads).
    fn reflect(self, i: isize, n: usize) -> usize {
        let n = n as isize;
        let (period, last) = match self {
            SsimKind::ScikitImage => (2 * n, 2 * n - 1),
            SsimKind::Torchmetrics if n > 1 => (2 * (n - 1), 2 * (n - 1)),
            SsimKind::Torchmetrics => return 0,
        };
        let m = i.rem_euclid(period);
        (if m >= n { last - m } else { m }) as usize
    }
}

/// The SSIM map of one channel of one frame (values 0–255), `kind`'s window and borders, in f64.
fn ssim_plane(kind: SsimKind, x: &[f64], y: &[f64], width: usize, height: usize) -> Vec<f64> {
    let taps = kind.taps();
    let radius = kind.border();
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    // Five windowed means (x, y, x², y², xy), separably: along rows over the padded height, then down columns.
    let padded_rows: Vec<usize> = (0..height + 2 * radius)
        .map(|r| kind.reflect(r as isize - radius as isize, height))
        .collect();
    let columns: Vec<usize> = (0..width + 2 * radius)
        .map(|c| kind.reflect(c as isize - radius as isize, width))
        .collect();
    let mut across = vec![[0f64; 5]; padded_rows.len() * width];
    for (pr, &row) in padded_rows.iter().enumerate() {
        for px in 0..width {
            let mut sums = [0f64; 5];
            for (t, &weight) in taps.iter().enumerate() {
                let at = row * width + columns[px + t];
                let (a, b) = (x[at], y[at]);
                sums[0] += weight * a;
                sums[1] += weight * b;
                sums[2] += weight * a * a;
                sums[3] += weight * b * b;
                sums[4] += weight * a * b;
            }
            across[pr * width + px] = sums;
        }
    }
    let mut out = vec![0f64; width * height];
    for py in 0..height {
        for px in 0..width {
            let mut m = [0f64; 5];
            for (t, &weight) in taps.iter().enumerate() {
                let sums = &across[(py + t) * width + px];
                for (slot, value) in m.iter_mut().zip(sums) {
                    *slot += weight * value;
                }
            }
            let [mx, my, mxx, myy, mxy] = m;
            let (vx, vy, cov) = match kind {
                SsimKind::ScikitImage => {
                    let correction = 49.0 / 48.0;
                    (
                        (mxx - mx * mx) * correction,
                        (myy - my * my) * correction,
                        (mxy - mx * my) * correction,
                    )
                }
                SsimKind::Torchmetrics => (
                    (mxx - mx * mx).max(0.0),
                    (myy - my * my).max(0.0),
                    mxy - mx * my,
                ),
            };
            out[py * width + px] = ((2.0 * mx * my + c1) * (2.0 * cov + c2))
                / ((mx * mx + my * my + c1) * (vx + vy + c2));
        }
    }
    out
}

/// Per-pixel SSIM of two clips, channels averaged, frame-major, in f64; `None` when the shapes differ.
fn ssim_map_f64(kind: SsimKind, a: &Frames, b: &Frames) -> Option<Vec<f64>> {
    use rayon::prelude::*;
    if !same_shape(a, b) {
        return None;
    }
    let (w, h) = (a.width() as usize, a.height() as usize);
    let frames: Option<Vec<Vec<f64>>> = (0..a.frame_count())
        .into_par_iter()
        .map(|f| {
            let (fa, fb) = (a.frame(f)?, b.frame(f)?);
            let mut average = vec![0f64; w * h];
            for c in 0..3 {
                let channel = |frame: &[u8]| -> Vec<f64> {
                    frame
                        .iter()
                        .skip(c)
                        .step_by(3)
                        .map(|&v| f64::from(v))
                        .collect()
                };
                let map = ssim_plane(kind, &channel(fa), &channel(fb), w, h);
                for (slot, value) in average.iter_mut().zip(map) {
                    *slot += value / 3.0;
                }
            }
            Some(average)
        })
        .collect();
    Some(frames?.concat())
}

/// The per-pixel SSIM of two clips as scikit-image computes it ([`SsimKind::ScikitImage`]; the 3 border pixels
/// from the reflected image), channels averaged (frame-major, row-major); compute once, then average it over any
/// number of regions with [`mean_over`].
pub fn ssim_map_clip(a: &Frames, b: &Frames) -> Option<Vec<f32>> {
    ssim_map_clip_of(SsimKind::ScikitImage, a, b)
}

/// The per-pixel SSIM of two clips of either kind (channels averaged, frame-major, row-major).
pub fn ssim_map_clip_of(kind: SsimKind, a: &Frames, b: &Frames) -> Option<Vec<f32>> {
    Some(
        ssim_map_f64(kind, a, b)?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
    )
}

/// The mean of a clip's f64 map over the pixels at least `border` from every edge; `None` when none is.
fn interior_mean(map: &[f64], width: usize, height: usize, border: usize) -> Option<f64> {
    if width <= 2 * border || height <= 2 * border {
        return None;
    }
    let (mut sum, mut count) = (0f64, 0usize);
    for frame in map.chunks_exact(width * height) {
        for row in frame
            .chunks_exact(width)
            .skip(border)
            .take(height - 2 * border)
        {
            sum += row[border..width - border].iter().sum::<f64>();
            count += width - 2 * border;
        }
    }
    (count > 0).then(|| sum / count as f64)
}

/// scikit-image's SSIM of two clips: per frame `structural_similarity(a, b, channel_axis=2, data_range=255)`
/// (the mean over the map without its 3 border pixels, channels averaged), averaged over frames. `None` when the
/// shapes differ or a side is shorter than the 7-pixel window (scikit-image refuses those).
pub fn ssim_skimage(a: &Frames, b: &Frames) -> Option<f64> {
    let (w, h) = (a.width() as usize, a.height() as usize);
    if w < 7 || h < 7 {
        return None;
    }
    interior_mean(&ssim_map_f64(SsimKind::ScikitImage, a, b)?, w, h, 3)
}

/// torchmetrics' SSIM of two clips as DWM's evaluation takes it (`StructuralSimilarityIndexMeasure(data_range=1.0)`
/// on [0, 1] frames, torchmetrics ≥ 1.6): the mean over the whole map, borders from the reflected image, averaged
/// over frames. `None` when the shapes differ or a side is 5 pixels or less (PyTorch cannot reflect-pad those).
pub fn ssim_torchmetrics(a: &Frames, b: &Frames) -> Option<f64> {
    let (w, h) = (a.width() as usize, a.height() as usize);
    if w < 6 || h < 6 {
        return None;
    }
    let map = ssim_map_f64(SsimKind::Torchmetrics, a, b)?;
    interior_mean(&map, w, h, 0)
}

/// torchmetrics' SSIM as versions before 1.6 returned it: the same map, averaged without its 5 border pixels.
/// `None` when the shapes differ or nothing is left after the crop.
pub fn ssim_torchmetrics_cropped(a: &Frames, b: &Frames) -> Option<f64> {
    let (w, h) = (a.width() as usize, a.height() as usize);
    interior_mean(&ssim_map_f64(SsimKind::Torchmetrics, a, b)?, w, h, 5)
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

/// Mean scikit-image SSIM over the masked pixels (channels averaged). `None` when the mask is empty. Over
/// `RegionMask::full(..).without_border(3)` this is [`ssim_skimage`].
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
