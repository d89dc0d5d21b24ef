//! The residual composite: DWM's `V = Π(S₀; C) + ΔV` put back into the exact static rendering.
//!
//! A model's output passes everything through its VAE, so even where nothing moved it is blurred and colour
//! shifted. The model's own no-action output — the static video through its VAE and back (its
//! *reconstruction*) — is what it would give if nothing changed, so `generated − reconstruction` is what the model
//! changed: the residual. The mask keeps the pixels where that residual rises above the VAE's own noise, plus the
//! hands (which the hand video says are there), and only where some hand comes near during the clip; it is grown a
//! little in space, held over neighbouring frames (so an object that moves does not flicker in and out) and
//! feathered. Everywhere the mask is zero the composite is the static video, byte for byte.
//!
//! Inside the mask the composite is one of two forms ([`CompositeForm`]): the model's pixels blended over the
//! static ones, or the static pixels plus the residual (which keeps the static scene's detail, but is wrong where
//! an object moved away: the residual there is the model's blurred guess of what was behind it, minus the blurred
//! object). `docs/residual-composite.md` and README record how the defaults were chosen, by measurement.

mod distance;
pub mod learned;

use super::error::input_error;
use super::{Result, WorldModelError};
use crate::video::Frames;

/// How the generated pixels enter the composite where the mask is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompositeForm {
    /// `static + mask · (generated − static)`: the model's pixels over the static ones.
    Blend,
    /// `static + mask · (generated − reconstruction)`: the static pixels plus what the model changed.
    Additive,
}

/// The mask's parameters. Distances are fractions of the frame width, so one setting serves 96×64 and 720×480.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompositeSettings {
    /// Residual magnitude (largest channel of |generated − reconstruction|, 0–1) where the mask starts to rise,
    /// and where it is full: the VAE's own noise stays below `low`.
    pub low: f32,
    pub high: f32,
    /// Pixels farther than this from every hand pixel of the whole clip are never changed (an interaction
    /// happens where a hand reaches); `None` trusts the residual everywhere.
    pub hand_reach: Option<f32>,
    /// Beyond `hand_reach`, up to this distance from the hands, a change connected (in space and time) to one
    /// inside the reach is kept too, through pixels whose residual exceeds `connected_low`: a drawer's far edge or
    /// an object set down a little away from the hand moves as one patch with what the hand touches, while the
    /// sampler's noise far away is not connected to it. `None`: the reach is a hard limit.
    pub connected_reach: Option<f32>,
    pub connected_low: f32,
    /// Hand-video pixels (any channel above this level), grown by `hand_grow`, are always in the mask: the hands
    /// are there. (They are added after the residual is grown, so the static scene around a hand stays sharp.)
    pub hand_threshold: u8,
    pub hand_grow: f32,
    /// The ramp starts this many times the VAE's own error on the static video (|static − reconstruction|, largest
    /// channel) above `low`: where the VAE cannot reproduce the scene (fine texture, edges), the model's output
    /// differs from the reconstruction without anything having changed.
    pub noise_scale: f32,
    /// The signed residual is averaged over a box of this radius before its magnitude is taken: a moved object
    /// changes a patch coherently, while the sampler's pixel noise changes sign from pixel to pixel and cancels.
    pub smooth: f32,
    /// The mask is grown by this much in space…
    pub grow: f32,
    /// …and held for this many frames before and after…
    pub hold_frames: usize,
    /// …and feathered with a box blur of this radius.
    pub feather: f32,
    /// A floor under the mask where the hands are (`None`: no floor): within `floor_reach` of every pixel a hand
    /// covers up to this frame (and `hold_frames` ahead), at least this much of the model's output is blended in,
    /// whatever the residual says. Where the scene did not change, a blend of α costs α² of the model's error;
    /// where it did, the static and the generated errors partly cancel, so a partial blend can beat both.
    pub floor: Option<f32>,
    pub floor_reach: f32,
    /// A fitted mask ([`learned::LearnedMask`]) in place of the ramp: when set, only `hand_threshold`,
    /// `hand_reach` (applied last, to the feathered mask), `hold_frames`, `feather` and `form` still apply.
    pub learned: Option<learned::LearnedMask>,
    pub form: CompositeForm,
}

impl CompositeSettings {
    /// The hand-set ramp: the residual's magnitude ramped from `low` to `high` within `hand_reach` of the hands,
    /// plus the hands, held and feathered. Chosen with `examples/composite_study.rs` on 24 held-out synthetic
    /// clips (seed 3101) with the bundled model, as the knee of the trade-off between the whole frame and the
    /// object region; kept as the baseline the fitted mask is measured against (docs/residual-composite.md).
    pub fn ramp() -> Self {
        Self {
            low: 0.01,
            high: 0.04,
            hand_reach: Some(0.05),
            connected_reach: None,
            connected_low: 0.03,
            hand_threshold: 8,
            hand_grow: 0.02,
            noise_scale: 0.0,
            smooth: 0.04,
            grow: 0.0,
            hold_frames: 3,
            feather: 0.03,
            floor: None,
            floor_reach: 0.05,
            learned: None,
            form: CompositeForm::Blend,
        }
    }
}

/// The fitted mask ([`learned::FITTED`]), held over 3 frames, feathered over 3% of the width, blended: what
/// `generate`, `eval`, the worker and the viewer use. `docs/residual-composite.md` records how it was fitted,
/// how λ was chosen and what it scores on clips it never saw.
impl Default for CompositeSettings {
    fn default() -> Self {
        Self {
            learned: Some(learned::FITTED),
            hand_reach: Some(learned::REACH),
            ..Self::ramp()
        }
    }
}

/// A soft per-pixel mask over a clip (frame-major, row-major), 0–1; exactly 0 where nothing changed.
#[derive(Clone, Debug, PartialEq)]
pub struct ResidualMask {
    pub frames: usize,
    pub width: usize,
    pub height: usize,
    pub values: Vec<f32>,
}

impl ResidualMask {
    /// The share of pixels the mask touches at all.
    pub fn coverage(&self) -> f64 {
        self.values.iter().filter(|&&v| v > 0.0).count() as f64 / self.values.len().max(1) as f64
    }

    /// The mask as a grey video (white = generated), for comparison videos.
    pub fn to_frames(&self, fps: f64) -> Result<Frames> {
        let bytes = self
            .values
            .iter()
            .flat_map(|&v| {
                let level = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                [level; 3]
            })
            .collect();
        Frames::new(self.width as u32, self.height as u32, fps, bytes)
            .map_err(|e| input_error("mask video", e))
    }
}

/// The composite clip and the mask that made it.
#[derive(Clone, Debug)]
pub struct Composite {
    pub frames: Frames,
    pub mask: ResidualMask,
}

fn check_shapes(static_video: &Frames, others: &[(&str, &Frames)]) -> Result<()> {
    let shape = |f: &Frames| (f.frame_count(), f.width(), f.height());
    for (name, clip) in others {
        if shape(clip) != shape(static_video) {
            let (sf, sw, sh) = shape(static_video);
            let (f, w, h) = shape(clip);
            return Err(WorldModelError::Input {
                what: "residual composite".into(),
                reason: format!(
                    "the static video is {sw}x{sh} with {sf} frames but the {name} is {w}x{h} with {f} frames; they must match"
                ),
            });
        }
    }
    Ok(())
}

/// A distance given as a fraction of the width, in whole pixels.
fn pixels(fraction: f32, width: usize) -> usize {
    (fraction.max(0.0) * width as f32).round() as usize
}

/// Sliding maximum over `2·radius + 1` samples of a strided line (clamped at the ends), O(n) with a deque.
fn max_filter_line(values: &mut [f32], start: usize, stride: usize, len: usize, radius: usize) {
    if radius == 0 || len == 0 {
        return;
    }
    let input: Vec<f32> = (0..len).map(|i| values[start + i * stride]).collect();
    let mut window: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    let mut next = 0;
    for i in 0..len {
        let last = (i + radius).min(len - 1);
        while next <= last {
            while window.back().is_some_and(|&j| input[j] <= input[next]) {
                window.pop_back();
            }
            window.push_back(next);
            next += 1;
        }
        while window.front().is_some_and(|&j| j + radius < i) {
            window.pop_front();
        }
        if let Some(&j) = window.front() {
            values[start + i * stride] = input[j];
        }
    }
}

/// Box mean over `2·radius + 1` samples of a strided line (the window shrinks at the ends), via prefix sums; for
/// the signed residual, where the sign matters.
fn signed_box_filter_line(
    values: &mut [f32],
    start: usize,
    stride: usize,
    len: usize,
    radius: usize,
) {
    if radius == 0 || len == 0 {
        return;
    }
    let mut prefix = Vec::with_capacity(len + 1);
    prefix.push(0f64);
    for i in 0..len {
        let last = prefix[i];
        prefix.push(last + f64::from(values[start + i * stride]));
    }
    for i in 0..len {
        let (a, b) = (i.saturating_sub(radius), (i + radius + 1).min(len));
        values[start + i * stride] = ((prefix[b] - prefix[a]) / (b - a) as f64) as f32;
    }
}

/// The box mean of a non-negative line (the mask's feathering).
fn box_filter_line(values: &mut [f32], start: usize, stride: usize, len: usize, radius: usize) {
    if radius == 0 {
        return;
    }
    signed_box_filter_line(values, start, stride, len, radius);
    for i in 0..len {
        let value = &mut values[start + i * stride];
        // Prefix differences leave rounding dust where the window holds only zeros: keep those exactly zero.
        if *value < 1e-6 {
            *value = 0.0;
        }
    }
}

/// Applies a line filter along x and then y of every frame.
fn filter_frames(
    mask: &mut ResidualMask,
    radius: usize,
    line: fn(&mut [f32], usize, usize, usize, usize),
) {
    let (w, h) = (mask.width, mask.height);
    for f in 0..mask.frames {
        let base = f * w * h;
        for y in 0..h {
            line(&mut mask.values, base + y * w, 1, w, radius);
        }
        for x in 0..w {
            line(&mut mask.values, base + x, w, h, radius);
        }
    }
}

/// Where the residual is above the VAE's noise, limited to where hands reach, grown, plus the hands, held over
/// neighbouring frames and feathered. `generated` and `reconstruction` are the model's output and its no-action
/// output (both at the clip's size), `static_video` the exact static stream, `hands` the hand-mesh video.
pub fn residual_mask(
    static_video: &Frames,
    generated: &Frames,
    reconstruction: &Frames,
    hands: &Frames,
    settings: &CompositeSettings,
) -> Result<ResidualMask> {
    check_shapes(
        static_video,
        &[
            ("generated video", generated),
            ("reconstruction", reconstruction),
            ("hand video", hands),
        ],
    )?;
    if !(settings.low.is_finite() && settings.high.is_finite() && settings.high > settings.low) {
        return Err(input_error(
            "residual composite",
            format!(
                "the mask's ramp must rise: low {} must be below high {}",
                settings.low, settings.high
            ),
        ));
    }
    let (frames, width, height) = (
        generated.frame_count(),
        generated.width() as usize,
        generated.height() as usize,
    );
    if let Some(model) = &settings.learned {
        let inputs = learned::Inputs::new(
            static_video,
            generated,
            reconstruction,
            hands,
            settings.hand_threshold,
        )?;
        return Ok(learned::mask(
            model,
            &inputs,
            settings.hold_frames,
            settings.feather,
            settings.hand_reach,
        ));
    }
    let is_hand = |p: &[u8]| p.iter().any(|&v| v > settings.hand_threshold);
    let largest_difference = |a: &[u8], b: &[u8]| {
        f32::from(
            a.iter()
                .zip(b)
                .map(|(x, y)| x.abs_diff(*y))
                .max()
                .unwrap_or(0),
        ) / 255.0
    };
    let span = settings.high - settings.low;
    let plane = width * height;
    // The signed residual per channel, smoothed in space.
    let channels: Vec<ResidualMask> = (0..3)
        .map(|c| {
            let mut residual = ResidualMask {
                frames,
                width,
                height,
                values: generated
                    .as_bytes()
                    .iter()
                    .zip(reconstruction.as_bytes())
                    .skip(c)
                    .step_by(3)
                    .map(|(&g, &r)| (f32::from(g) - f32::from(r)) / 255.0)
                    .collect(),
            };
            filter_frames(
                &mut residual,
                pixels(settings.smooth, width),
                signed_box_filter_line,
            );
            residual
        })
        .collect();
    let magnitudes: Vec<f32> = (0..frames * plane)
        .map(|i| {
            channels
                .iter()
                .map(|channel| channel.values[i].abs())
                .fold(0.0, f32::max)
        })
        .collect();
    let values: Vec<f32> = static_video
        .as_bytes()
        .chunks_exact(3)
        .zip(reconstruction.as_bytes().chunks_exact(3))
        .zip(&magnitudes)
        .map(|((s, r), &magnitude)| {
            let floor = settings.low + settings.noise_scale * largest_difference(s, r);
            let t = ((magnitude - floor) / span).clamp(0.0, 1.0);
            // Smoothstep: no hard edge where the residual crosses the noise floor.
            t * t * (3.0 - 2.0 * t)
        })
        .collect();
    let mut mask = ResidualMask {
        frames,
        width,
        height,
        values,
    };
    // The hand video's pixels, classified once: the reach gate and the always-on hands both start from them.
    let mut hand_mask = ResidualMask {
        values: hands
            .as_bytes()
            .chunks_exact(3)
            .map(|p| if is_hand(p) { 1.0 } else { 0.0 })
            .collect(),
        frames,
        width,
        height,
    };
    if let Some(reach) = settings.hand_reach {
        // Every pixel some hand covers at some time, grown by a distance.
        let reached_within = |distance: f32| {
            let mut reached = ResidualMask {
                frames: 1,
                width,
                height,
                values: vec![0.0; plane],
            };
            for frame in hand_mask.values.chunks_exact(plane) {
                for (slot, &hand) in reached.values.iter_mut().zip(frame) {
                    *slot = slot.max(hand);
                }
            }
            filter_frames(&mut reached, pixels(distance, width), max_filter_line);
            reached.values
        };
        let near = reached_within(reach);
        let connected = match settings.connected_reach {
            Some(far) if far > reach => {
                let far_gate = reached_within(far);
                Some(connected_to_near(
                    &magnitudes,
                    &mask.values,
                    &near,
                    &far_gate,
                    settings.connected_low,
                    (frames, width, height),
                ))
            }
            _ => None,
        };
        for (f, frame) in mask.values.chunks_exact_mut(plane).enumerate() {
            for (i, (v, &gate)) in frame.iter_mut().zip(&near).enumerate() {
                let kept = gate != 0.0
                    || connected
                        .as_ref()
                        .is_some_and(|reached| reached[f * plane + i]);
                if !kept {
                    *v = 0.0;
                }
            }
        }
    }
    filter_frames(&mut mask, pixels(settings.grow, width), max_filter_line);
    if let Some(floor) = settings.floor.filter(|&f| f > 0.0) {
        // Where a hand has been up to each frame (plus the hold's look-ahead), grown by the floor's reach.
        let mut been = hand_mask.clone();
        for f in 1..frames {
            let (done, rest) = been.values.split_at_mut(f * plane);
            for (slot, &before) in rest[..plane].iter_mut().zip(&done[(f - 1) * plane..]) {
                *slot = slot.max(before);
            }
        }
        if settings.hold_frames > 0 && frames > 1 {
            let ahead = settings.hold_frames;
            let shifted: Vec<f32> = (0..frames)
                .flat_map(|f| {
                    let source = (f + ahead).min(frames - 1);
                    been.values[source * plane..(source + 1) * plane].to_vec()
                })
                .collect();
            been.values = shifted;
        }
        filter_frames(
            &mut been,
            pixels(settings.floor_reach, width),
            max_filter_line,
        );
        for (v, &gate) in mask.values.iter_mut().zip(&been.values) {
            if gate != 0.0 {
                *v = v.max(floor.min(1.0));
            }
        }
    }
    filter_frames(
        &mut hand_mask,
        pixels(settings.hand_grow, width),
        max_filter_line,
    );
    for (v, h) in mask.values.iter_mut().zip(&hand_mask.values) {
        *v = v.max(*h);
    }
    if settings.hold_frames > 0 && frames > 1 {
        for i in 0..plane {
            max_filter_line(&mut mask.values, i, plane, frames, settings.hold_frames);
        }
    }
    filter_frames(&mut mask, pixels(settings.feather, width), box_filter_line);
    Ok(mask)
}

/// Pixels (frame-major) reached from the residual inside the hands' reach (`near`, with a nonzero ramp) through
/// pixels whose residual magnitude exceeds `low` and that lie within `far` — 4-connected in space and linked to the
/// same pixel in the frames before and after.
fn connected_to_near(
    magnitudes: &[f32],
    ramp: &[f32],
    near: &[f32],
    far: &[f32],
    low: f32,
    (frames, width, height): (usize, usize, usize),
) -> Vec<bool> {
    let plane = width * height;
    let passable = |i: usize| far[i % plane] != 0.0 && magnitudes[i] > low;
    let mut reached = vec![false; frames * plane];
    let mut queue: Vec<usize> = (0..frames * plane)
        .filter(|&i| near[i % plane] != 0.0 && ramp[i] > 0.0)
        .collect();
    for &i in &queue {
        reached[i] = true;
    }
    while let Some(i) = queue.pop() {
        let (f, p) = (i / plane, i % plane);
        let (y, x) = (p / width, p % width);
        let mut visit = |j: usize| {
            if !reached[j] && passable(j) {
                reached[j] = true;
                queue.push(j);
            }
        };
        if x > 0 {
            visit(i - 1);
        }
        if x + 1 < width {
            visit(i + 1);
        }
        if y > 0 {
            visit(i - width);
        }
        if y + 1 < height {
            visit(i + width);
        }
        if f > 0 {
            visit(i - plane);
        }
        if f + 1 < frames {
            visit(i + plane);
        }
    }
    reached
}

/// Puts a mask's pixels of `generated` into `static_video` in the chosen form; where the mask is zero the result is
/// the static video's bytes.
pub fn apply_mask(
    static_video: &Frames,
    generated: &Frames,
    reconstruction: &Frames,
    mask: &ResidualMask,
    form: CompositeForm,
) -> Result<Frames> {
    check_shapes(
        static_video,
        &[
            ("generated video", generated),
            ("reconstruction", reconstruction),
        ],
    )?;
    if (mask.frames, mask.width, mask.height)
        != (
            static_video.frame_count(),
            static_video.width() as usize,
            static_video.height() as usize,
        )
        || mask.values.len() * 3 != static_video.as_bytes().len()
    {
        return Err(input_error(
            "residual composite",
            format!(
                "the mask is {}x{} with {} frames but the static video is {}x{} with {} frames",
                mask.width,
                mask.height,
                mask.frames,
                static_video.width(),
                static_video.height(),
                static_video.frame_count()
            ),
        ));
    }
    let mut bytes = static_video.as_bytes().to_vec();
    for (((out, g), r), &m) in bytes
        .chunks_exact_mut(3)
        .zip(generated.as_bytes().chunks_exact(3))
        .zip(reconstruction.as_bytes().chunks_exact(3))
        .zip(&mask.values)
    {
        if m <= 0.0 {
            continue;
        }
        for c in 0..3 {
            let s = f32::from(out[c]);
            let change = match form {
                CompositeForm::Blend => f32::from(g[c]) - s,
                CompositeForm::Additive => f32::from(g[c]) - f32::from(r[c]),
            };
            out[c] = (s + m * change).round().clamp(0.0, 255.0) as u8;
        }
    }
    Frames::new(
        static_video.width(),
        static_video.height(),
        static_video.fps(),
        bytes,
    )
    .map_err(|e| input_error("residual composite", e))
}

/// The residual composite of a generated clip: [`residual_mask`], then [`apply_mask`].
pub fn composite(
    static_video: &Frames,
    hands: &Frames,
    generated: &Frames,
    reconstruction: &Frames,
    settings: &CompositeSettings,
) -> Result<Composite> {
    check_shapes(
        static_video,
        &[
            ("hand video", hands),
            ("generated video", generated),
            ("reconstruction", reconstruction),
        ],
    )?;
    let mask = residual_mask(static_video, generated, reconstruction, hands, settings)?;
    let frames = apply_mask(
        static_video,
        generated,
        reconstruction,
        &mask,
        settings.form,
    )?;
    Ok(Composite { frames, mask })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(frames: usize, w: u32, h: u32, f: impl Fn(usize, u32, u32) -> [u8; 3]) -> Frames {
        let mut bytes = Vec::new();
        for i in 0..frames {
            for y in 0..h {
                for x in 0..w {
                    bytes.extend(f(i, x, y));
                }
            }
        }
        Frames::new(w, h, 8.0, bytes).unwrap()
    }

    fn textured(frames: usize, w: u32, h: u32) -> Frames {
        clip(frames, w, h, |i, x, y| {
            [
                ((x * 7 + y * 3) % 256) as u8,
                ((y * 11 + i as u32) % 256) as u8,
                (((x ^ y) * 5) % 256) as u8,
            ]
        })
    }

    #[test]
    fn unchanged_output_composites_to_the_static_video_exactly() {
        let static_video = textured(5, 40, 24);
        // A blurred, colour-shifted "reconstruction" that the model reproduced exactly: nothing changed.
        let reconstruction = clip(5, 40, 24, |i, x, y| {
            let p = static_video.pixel(i, x, y).unwrap();
            [p[0] / 2 + 40, p[1] / 2 + 10, p[2] / 3 + 60]
        });
        let hands = Frames::black(5, 40, 24, 8.0).unwrap();
        for form in [CompositeForm::Blend, CompositeForm::Additive] {
            let settings = CompositeSettings {
                form,
                ..CompositeSettings::ramp()
            };
            let out = composite(
                &static_video,
                &hands,
                &reconstruction,
                &reconstruction,
                &settings,
            )
            .unwrap();
            assert_eq!(out.frames.as_bytes(), static_video.as_bytes());
            assert!(out.mask.values.iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn a_residual_in_a_box_changes_only_pixels_near_it() {
        let (w, h) = (64u32, 48u32);
        let static_video = textured(6, w, h);
        let reconstruction = textured(6, w, h);
        let in_box = |x: u32, y: u32| (20..30).contains(&x) && (10..20).contains(&y);
        let generated = clip(6, w, h, |i, x, y| {
            let p = reconstruction.pixel(i, x, y).unwrap();
            if i >= 2 && in_box(x, y) {
                [255, 0, 255]
            } else {
                p
            }
        });
        let hands = Frames::black(6, w, h, 8.0).unwrap();
        let settings = CompositeSettings {
            hand_reach: None,
            smooth: 0.0,
            grow: 3.0 / 64.0,
            feather: 2.0 / 64.0,
            hold_frames: 1,
            ..CompositeSettings::ramp()
        };
        let out = composite(
            &static_video,
            &hands,
            &generated,
            &reconstruction,
            &settings,
        )
        .unwrap();
        // Grow 3 px + feather 2 px at 64 px wide, held one frame: nothing beyond 5 px of the box or before frame 1.
        let margin = 5;
        for i in 0..6 {
            for y in 0..h {
                for x in 0..w {
                    let near =
                        x + margin >= 20 && x < 30 + margin && y + margin >= 10 && y < 20 + margin;
                    let changed = out.frames.pixel(i, x, y) != static_video.pixel(i, x, y);
                    if changed {
                        assert!(near && i >= 1, "pixel {x},{y} of frame {i} changed");
                    }
                    if i >= 2 && in_box(x, y) {
                        assert_eq!(out.frames.pixel(i, x, y), Some([255, 0, 255]));
                    }
                }
            }
        }
        assert_eq!(out.frames.frame(0), static_video.frame(0));
    }

    #[test]
    fn the_mask_is_zero_below_the_threshold_and_the_hands_are_in_it() {
        let (w, h) = (32u32, 32u32);
        let reconstruction = textured(3, w, h);
        // A change of 5 levels (0.02) everywhere: below `low`.
        let generated = clip(3, w, h, |i, x, y| {
            reconstruction
                .pixel(i, x, y)
                .unwrap()
                .map(|v| v.saturating_add(5))
        });
        let hands = clip(3, w, h, |_, x, y| {
            if x == 16 && y == 16 {
                [200, 100, 100]
            } else {
                [0, 0, 0]
            }
        });
        let settings = CompositeSettings {
            low: 0.03,
            high: 0.08,
            smooth: 0.0,
            hand_grow: 0.0,
            grow: 0.0,
            feather: 0.0,
            hold_frames: 0,
            ..CompositeSettings::ramp()
        };
        let mask = residual_mask(
            &reconstruction,
            &generated,
            &reconstruction,
            &hands,
            &settings,
        )
        .unwrap();
        for i in 0..3 {
            for y in 0..h as usize {
                for x in 0..w as usize {
                    let v = mask.values[i * 32 * 32 + y * 32 + x];
                    assert_eq!(v, if (x, y) == (16, 16) { 1.0 } else { 0.0 });
                }
            }
        }
    }

    #[test]
    fn the_hand_reach_keeps_far_changes_out() {
        let (w, h) = (40u32, 20u32);
        let generated = clip(
            2,
            w,
            h,
            |_, x, _| if x == 2 || x == 37 { [255; 3] } else { [0; 3] },
        );
        let reconstruction_flat = clip(2, w, h, |_, _, _| [0; 3]);
        let hands = clip(
            2,
            w,
            h,
            |_, x, y| if x == 36 && y == 10 { [255; 3] } else { [0; 3] },
        );
        let settings = CompositeSettings {
            grow: 0.0,
            hand_grow: 0.0,
            smooth: 0.0,
            feather: 0.0,
            hold_frames: 0,
            hand_reach: Some(0.25),
            ..CompositeSettings::ramp()
        };
        let mask = residual_mask(
            &reconstruction_flat,
            &generated,
            &reconstruction_flat,
            &hands,
            &settings,
        )
        .unwrap();
        assert_eq!(mask.values[10 * 40 + 2], 0.0);
        assert_eq!(mask.values[10 * 40 + 37], 1.0);
    }

    #[test]
    fn a_change_connected_to_the_hand_is_kept_beyond_the_reach() {
        // 80×20, one hand pixel at x = 70. A bar of change from x = 60 to x = 76 on rows 8–12 starts inside the
        // reach (10% = 8 px) and runs out of it; a separate blob at x = 30–34 is out of reach and unconnected.
        let (w, h) = (80u32, 20u32);
        let changed = |x: u32, y: u32| {
            ((60..=76).contains(&x) || (30..=34).contains(&x)) && (8..=12).contains(&y)
        };
        let generated = clip(
            2,
            w,
            h,
            |_, x, y| if changed(x, y) { [200; 3] } else { [0; 3] },
        );
        let flat = clip(2, w, h, |_, _, _| [0; 3]);
        let hands = clip(
            2,
            w,
            h,
            |_, x, y| if x == 70 && y == 10 { [255; 3] } else { [0; 3] },
        );
        let base = CompositeSettings {
            grow: 0.0,
            hand_grow: 0.0,
            smooth: 0.0,
            feather: 0.0,
            hold_frames: 0,
            hand_reach: Some(0.1),
            ..CompositeSettings::ramp()
        };
        let at = |mask: &ResidualMask, x: usize| mask.values[10 * 80 + x];
        let hard = residual_mask(&flat, &generated, &flat, &hands, &base).unwrap();
        assert_eq!(at(&hard, 64), 1.0);
        assert_eq!(
            at(&hard, 61),
            0.0,
            "beyond the reach without connected growth"
        );
        let connected = CompositeSettings {
            connected_reach: Some(0.3),
            ..base
        };
        let grown = residual_mask(&flat, &generated, &flat, &hands, &connected).unwrap();
        assert_eq!(at(&grown, 61), 1.0, "connected to the change at the hand");
        assert_eq!(at(&grown, 60), 1.0);
        assert_eq!(at(&grown, 59), 0.0, "nothing changed there");
        assert_eq!(
            at(&grown, 32),
            0.0,
            "a change not connected to the hand's stays out"
        );
        // The connected growth stops at its own distance (11% = 9 px from the hand: x = 61, not 60).
        let short = CompositeSettings {
            connected_reach: Some(0.11),
            ..base
        };
        let cut = residual_mask(&flat, &generated, &flat, &hands, &short).unwrap();
        assert_eq!(at(&cut, 61), 1.0);
        assert_eq!(at(&cut, 60), 0.0);
    }

    #[test]
    fn shapes_are_checked_with_clear_errors() {
        let a = textured(3, 16, 16);
        let fewer = textured(2, 16, 16);
        let smaller = textured(3, 8, 16);
        let settings = CompositeSettings::ramp();
        let error = composite(&a, &a, &fewer, &a, &settings)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("generated video is 16x16 with 2 frames"),
            "{error}"
        );
        let error = composite(&a, &smaller, &a, &a, &settings)
            .unwrap_err()
            .to_string();
        assert!(error.contains("hand video is 8x16"), "{error}");
        let bad = CompositeSettings {
            low: 0.1,
            high: 0.05,
            ..settings
        };
        assert!(residual_mask(&a, &a, &a, &a, &bad).is_err());
    }

    #[test]
    fn line_filters_match_brute_force() {
        let input: Vec<f32> = (0..23).map(|i| ((i * 37) % 11) as f32).collect();
        for radius in 1..5 {
            let mut max = input.clone();
            max_filter_line(&mut max, 0, 1, input.len(), radius);
            let mut mean = input.clone();
            box_filter_line(&mut mean, 0, 1, input.len(), radius);
            for i in 0..input.len() {
                let window = &input[i.saturating_sub(radius)..(i + radius + 1).min(input.len())];
                let expected_max = window.iter().cloned().fold(f32::MIN, f32::max);
                let expected_mean = window.iter().sum::<f32>() / window.len() as f32;
                assert_eq!(max[i], expected_max);
                assert!((mean[i] - expected_mean).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn the_floor_covers_where_a_hand_has_been_and_nothing_else() {
        // No residual at all; a hand at x 10..14 in frame 2 only. With a floor of 0.3, reach 2 px, no hold or
        // feather: frames 0–1 untouched, frames 2–4 at least 0.3 within 2 px of the hand (where it has been),
        // exactly zero elsewhere.
        let (w, h) = (32u32, 8u32);
        let static_video = textured(5, w, h);
        let hands = clip(5, w, h, |i, x, _| {
            if i == 2 && (10..14).contains(&x) {
                [200, 200, 200]
            } else {
                [0, 0, 0]
            }
        });
        let settings = CompositeSettings {
            floor: Some(0.3),
            floor_reach: 2.0 / 32.0,
            hand_grow: 0.0,
            hold_frames: 0,
            feather: 0.0,
            ..CompositeSettings::ramp()
        };
        let mask = residual_mask(
            &static_video,
            &static_video,
            &static_video,
            &hands,
            &settings,
        )
        .unwrap();
        let plane = (w * h) as usize;
        for f in 0..5 {
            for x in 0..w as usize {
                let v = mask.values[f * plane + x];
                let near = (8..16).contains(&x);
                match (f >= 2, near) {
                    (true, true) => assert!(v >= 0.3, "frame {f} x {x}: {v}"),
                    _ if f == 2 && (10..14).contains(&x) => {}
                    _ => assert_eq!(v, 0.0, "frame {f} x {x}"),
                }
            }
        }
    }
}
