//! The fitted mask: a small network over per-pixel cues of where the model changed the scene.
//!
//! The hand-set ramp ([`super::CompositeSettings`] without `learned`) decides from one cue at a time — the residual
//! above a threshold, and only within a fixed reach of the hands. A change the model draws faintly, or a little
//! farther from the hand, falls out; sampler noise near a hand that never touched anything stays in. The cues
//! together say more: how strong the residual is at three scales and over neighbouring frames, how far the pixel
//! is from a hand *now* and from where hands have been *so far*, how late in the clip it is (a moved object stays
//! moved), and how badly the VAE reproduces the static scene there (where it cannot, the residual is not evidence).
//!
//! The weights were fitted by `tools/fit_composite_mask.py` on synthetic clips of one seed, maximising the mean
//! per-clip PSNR over the frame plus λ times the mean PSNR over the object region — exactly the two numbers the
//! composite is judged by — through the same hold, feather and cut as below; λ was chosen on clips of a second
//! seed and the result reported on a third (docs/residual-composite.md).

use super::distance::distance_to;
use super::{
    ResidualMask, box_filter_line, filter_frames, max_filter_line, pixels, signed_box_filter_line,
};
use crate::video::Frames;

/// The model's inputs per pixel, in order.
pub const INPUT_NAMES: [&str; INPUTS] = [
    "log residual (1% box)",
    "log residual (4% box)",
    "log residual (10% box)",
    "log |generated − static| (4% box)",
    "log VAE error |static − reconstruction| (4% box)",
    "log residual (4% box), held ±3 frames",
    "distance to any hand pixel of the clip",
    "exp(−that / 5%)",
    "distance to a hand pixel of this frame",
    "exp(−that / 5%)",
    "distance to a pixel a hand covered up to this frame",
    "exp(−that / 5%)",
    "hand pixel (grown 2%)",
    "time in the clip (0 at the first frame, 1 at the last)",
];
pub const INPUTS: usize = 14;

/// Magnitudes enter as log(m + this): the model sees ratios, and a zero residual stays finite.
const LOG_OFFSET: f32 = 0.003;
/// Distances are fractions of the width, capped here (and this where the clip has no hand pixel).
const FAR_DISTANCE: f32 = 0.5;
/// The length scale of the distances' exponential inputs.
const NEAR_SCALE: f32 = 0.05;
/// Frames before and after over which the held residual input takes its maximum.
const INPUT_HOLD: usize = 3;

/// Hidden units of the fitted model.
pub const HIDDEN: usize = 16;

/// A fitted mask: a small network over each pixel's inputs, `σ(out · tanh(hidden · inputs + hidden_bias) +
/// out_bias)`, then held over `hold_frames`, feathered, and cut to exactly zero below `cut` (rescaled so 1 stays 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LearnedMask {
    pub hidden: [[f32; INPUTS]; HIDDEN],
    pub hidden_bias: [f32; HIDDEN],
    pub out: [f32; HIDDEN],
    pub out_bias: f32,
    pub cut: f32,
}

impl LearnedMask {
    /// The probability that a pixel takes the model's output, before hold, feather and cut.
    pub fn probability(&self, x: &[f32]) -> f32 {
        let mut z = self.out_bias;
        for ((row, bias), out) in self.hidden.iter().zip(&self.hidden_bias).zip(&self.out) {
            let a = bias + row.iter().zip(x).map(|(w, v)| w * v).sum::<f32>();
            z += out * a.tanh();
        }
        1.0 / (1.0 + (-z).exp())
    }
}

/// Per-pixel inputs (pixel-major: `INPUTS` values for each pixel of each frame).
pub fn inputs(
    static_video: &Frames,
    generated: &Frames,
    reconstruction: &Frames,
    hands: &Frames,
    hand_threshold: u8,
) -> Vec<f32> {
    let (frames, width, height) = (
        static_video.frame_count(),
        static_video.width() as usize,
        static_video.height() as usize,
    );
    let plane = width * height;
    let magnitude = |a: &Frames, b: &Frames, radius: f32| -> Vec<f32> {
        let channels: Vec<ResidualMask> = (0..3)
            .map(|c| {
                let mut diff = ResidualMask {
                    frames,
                    width,
                    height,
                    values: a
                        .as_bytes()
                        .iter()
                        .zip(b.as_bytes())
                        .skip(c)
                        .step_by(3)
                        .map(|(&x, &y)| (f32::from(x) - f32::from(y)) / 255.0)
                        .collect(),
                };
                filter_frames(&mut diff, pixels(radius, width), signed_box_filter_line);
                diff
            })
            .collect();
        (0..frames * plane)
            .map(|i| {
                channels
                    .iter()
                    .map(|c| c.values[i].abs())
                    .fold(0.0, f32::max)
            })
            .collect()
    };
    let r1 = magnitude(generated, reconstruction, 0.01);
    let r4 = magnitude(generated, reconstruction, 0.04);
    let r10 = magnitude(generated, reconstruction, 0.10);
    let gs4 = magnitude(generated, static_video, 0.04);
    let e4 = magnitude(static_video, reconstruction, 0.04);
    let mut r4_held = r4.clone();
    if frames > 1 {
        for i in 0..plane {
            max_filter_line(&mut r4_held, i, plane, frames, INPUT_HOLD);
        }
    }
    let hand: Vec<bool> = hands
        .as_bytes()
        .chunks_exact(3)
        .map(|p| p.iter().any(|&v| v > hand_threshold))
        .collect();
    let distance = |mask: &[bool]| -> Vec<f32> {
        match distance_to(mask, width, height) {
            Some(d) => d
                .into_iter()
                .map(|d| (d / width as f32).min(FAR_DISTANCE))
                .collect(),
            None => vec![FAR_DISTANCE; plane],
        }
    };
    let mut anywhere = vec![false; plane];
    for frame in hand.chunks_exact(plane) {
        for (slot, &h) in anywhere.iter_mut().zip(frame) {
            *slot |= h;
        }
    }
    let d_all = distance(&anywhere);
    let mut so_far = vec![false; plane];
    let mut d_now = Vec::with_capacity(frames * plane);
    let mut d_past = Vec::with_capacity(frames * plane);
    for frame in hand.chunks_exact(plane) {
        for (slot, &h) in so_far.iter_mut().zip(frame) {
            *slot |= h;
        }
        d_now.extend(distance(frame));
        d_past.extend(distance(&so_far));
    }
    let mut grown = ResidualMask {
        frames,
        width,
        height,
        values: hand.iter().map(|&h| if h { 1.0 } else { 0.0 }).collect(),
    };
    filter_frames(&mut grown, pixels(0.02, width), max_filter_line);
    let log = |m: f32| (m + LOG_OFFSET).ln();
    let near = |d: f32| (-d / NEAR_SCALE).exp();
    let mut out = Vec::with_capacity(frames * plane * INPUTS);
    for i in 0..frames * plane {
        let t = if frames > 1 {
            (i / plane) as f32 / (frames - 1) as f32
        } else {
            0.0
        };
        let p = i % plane;
        out.extend([
            log(r1[i]),
            log(r4[i]),
            log(r10[i]),
            log(gs4[i]),
            log(e4[i]),
            log(r4_held[i]),
            d_all[p],
            near(d_all[p]),
            d_now[i],
            near(d_now[i]),
            d_past[i],
            near(d_past[i]),
            grown.values[i],
            t,
        ]);
    }
    out
}

/// The mask of a clip from its inputs ([`inputs`]): the network, held over `hold_frames` before and after,
/// feathered by `feather` (a fraction of the width), cut.
pub fn mask(
    model: &LearnedMask,
    inputs: &[f32],
    (frames, width, height): (usize, usize, usize),
    hold_frames: usize,
    feather: f32,
) -> ResidualMask {
    let plane = width * height;
    let values = inputs
        .chunks_exact(INPUTS)
        .map(|x| model.probability(x))
        .collect();
    let mut mask = ResidualMask {
        frames,
        width,
        height,
        values,
    };
    if hold_frames > 0 && frames > 1 {
        for i in 0..plane {
            max_filter_line(&mut mask.values, i, plane, frames, hold_frames);
        }
    }
    filter_frames(&mut mask, pixels(feather, width), box_filter_line);
    let cut = model.cut.clamp(0.0, 0.99);
    for v in &mut mask.values {
        *v = ((*v - cut) / (1.0 - cut)).max(0.0);
    }
    mask
}
