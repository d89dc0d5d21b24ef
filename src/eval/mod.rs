//! `eval`: metrics over DWM sample folders. For each held-out clip, the generated video and two baselines that
//! model no dynamics — the static video copied, and the static video with the hand-mesh pixels pasted in — are
//! scored against the ground truth over the whole frame, over the interaction region (where the truth differs
//! from the static video) and over the object region (the interaction region minus the pixels near a hand,
//! where only modelled dynamics — a drawer that moved, a cup that was lifted — can help). PSNR and SSIM say how
//! close the pixels are, not whether the object moves when the hand moves it, so each method also gets a motion
//! timing score: over the pixels where the object moves at some point of the clip (away from the hands), the
//! correlation across frames between how far the method's video and the truth have changed from the static video.

pub mod metrics;

use crate::video::Frames;
use metrics::{
    RegionMask, change_curve, correlation, dilate, hand_pixels, interaction_region, mean_over,
    paste_hands, psnr_masked, ssim_map_clip, subtract, union_over_frames,
};

/// A pixel belongs to the interaction region when some channel differs from the static video by more than this
/// (out of 255; above the codec noise of the near-lossless sample videos).
pub const INTERACTION_THRESHOLD: u8 = 12;
/// A hand-video pixel is a hand pixel when some channel is above this.
pub const HAND_THRESHOLD: u8 = 8;
/// The object region leaves out pixels within this many pixels of a hand.
pub const HAND_MARGIN: usize = 3;

/// The three regions of one clip, and what the motion timing score compares against.
pub struct Regions {
    pub frame: RegionMask,
    pub interaction: RegionMask,
    pub object: RegionMask,
    /// In every frame, the pixels that are in the object region in some frame, minus that frame's pixels near a
    /// hand: where the object is, was or will be, so that its curve rises when (and only when) it moves.
    pub motion: RegionMask,
    /// The static video, which the change curves are measured from.
    pub static_video: Frames,
    /// The truth's change curve over `motion`.
    pub truth_change: Vec<Option<f64>>,
}

pub fn regions(truth: &Frames, static_video: &Frames, hands: &Frames) -> Option<Regions> {
    let interaction = interaction_region(truth, static_video, INTERACTION_THRESHOLD)?;
    let near_hands = dilate(&hand_pixels(hands, HAND_THRESHOLD), HAND_MARGIN);
    if near_hands.values.len() != interaction.values.len() {
        return None;
    }
    let object = subtract(&interaction, &near_hands);
    let motion = subtract(&union_over_frames(&object), &near_hands);
    let truth_change = change_curve(truth, static_video, &motion)?;
    Some(Regions {
        frame: RegionMask::full(
            truth.frame_count(),
            truth.width() as usize,
            truth.height() as usize,
        ),
        interaction,
        object,
        motion,
        static_video: static_video.clone(),
        truth_change,
    })
}

/// PSNR and SSIM of one method on one clip, per region (`None` where the region is empty).
#[derive(Clone, Copy, Debug, Default)]
pub struct Scores {
    pub frame: (Option<f64>, Option<f64>),
    pub interaction: (Option<f64>, Option<f64>),
    pub object: (Option<f64>, Option<f64>),
    /// Correlation (−1 to 1) across frames of the candidate's and the truth's change from the static video over
    /// [`Regions::motion`]; `None` where either never changes there (the static copy, a clip where nothing moved).
    pub timing: Option<f64>,
}

pub fn score(candidate: &Frames, truth: &Frames, regions: &Regions) -> Scores {
    let ssim = ssim_map_clip(candidate, truth);
    let both = |mask: &RegionMask| {
        (
            psnr_masked(candidate, truth, mask),
            ssim.as_deref().and_then(|map| mean_over(map, mask)),
        )
    };
    Scores {
        frame: both(&regions.frame),
        interaction: both(&regions.interaction),
        object: both(&regions.object),
        timing: change_curve(candidate, &regions.static_video, &regions.motion)
            .and_then(|curve| correlation(&curve, &regions.truth_change)),
    }
}

/// The baselines of the table, by name.
pub fn baselines(static_video: &Frames, hands: &Frames) -> Vec<(&'static str, Frames)> {
    let mut out = vec![("static video copied", static_video.clone())];
    if let Some(pasted) = paste_hands(static_video, hands, HAND_THRESHOLD) {
        out.push(("static + hand-mesh pixels pasted", pasted));
    }
    out
}

/// Mean scores of one method over many clips (each region averaged over the clips where it is not empty).
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub method: String,
    values: [(f64, usize); 7],
}

impl Summary {
    pub fn new(method: &str) -> Self {
        Self {
            method: method.to_string(),
            values: [(0.0, 0); 7],
        }
    }

    pub fn add(&mut self, scores: &Scores) {
        let all = [
            scores.frame.0,
            scores.frame.1,
            scores.interaction.0,
            scores.interaction.1,
            scores.object.0,
            scores.object.1,
            scores.timing,
        ];
        for (slot, value) in self.values.iter_mut().zip(all) {
            // An exact match (infinite PSNR) is counted as 100 dB so one clip cannot make the mean infinite.
            if let Some(v) = value {
                slot.0 += v.min(100.0);
                slot.1 += 1;
            }
        }
    }

    /// [PSNR frame, SSIM frame, PSNR interaction, SSIM interaction, PSNR object, SSIM object, motion timing].
    pub fn means(&self) -> [Option<f64>; 7] {
        self.values.map(|(sum, n)| (n > 0).then(|| sum / n as f64))
    }
}

/// The table as Markdown.
pub fn markdown_table(summaries: &[Summary], clips: usize) -> String {
    let mut out = format!(
        "| method ({clips} clips) | PSNR frame | SSIM frame | PSNR interaction | SSIM interaction | PSNR object | SSIM object | motion timing r |\n|---|---|---|---|---|---|---|---|\n"
    );
    for summary in summaries {
        let cells: Vec<String> = summary
            .means()
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Some(v) if i == 6 => format!("{v:.3}"),
                Some(v) if i % 2 == 0 => format!("{v:.2}"),
                Some(v) => format!("{v:.4}"),
                None => "–".to_string(),
            })
            .collect();
        out.push_str(&format!("| {} | {} |\n", summary.method, cells.join(" | ")));
    }
    out
}

/// A comparison sheet: one row per (clip, frame), one column per video of the clip (`handtwin eval`: static |
/// hands | generated | truth | truth through the VAE), each cell
/// `cell_width` pixels wide (nearest-neighbour when enlarging, so pixels stay visible; triangle when shrinking).
pub fn comparison_sheet(
    rows: &[Vec<&Frames>],
    frames: &[usize],
    cell_width: u32,
) -> Option<image::RgbImage> {
    let first = *rows.first()?.first()?;
    let columns = rows.iter().map(Vec::len).max()? as u32;
    let w = cell_width.max(1);
    let h = ((first.height() as u64 * w as u64) / first.width().max(1) as u64).max(1) as u32;
    let filter = if w >= first.width() {
        image::imageops::FilterType::Nearest
    } else {
        image::imageops::FilterType::Triangle
    };
    let gap = 4;
    let row_count = (rows.len() * frames.len()) as u32;
    let mut sheet = image::RgbImage::from_pixel(
        columns * w + columns.saturating_sub(1) * gap,
        row_count * h + row_count.saturating_sub(1) * gap,
        image::Rgb([255, 255, 255]),
    );
    let mut row = 0u32;
    for clips in rows {
        for &frame in frames {
            for (column, clip) in clips.iter().enumerate() {
                let index = frame.min(clip.frame_count().saturating_sub(1));
                let image = clip.frame_image(index)?;
                let image = image::imageops::resize(&image, w, h, filter);
                image::imageops::overlay(
                    &mut sheet,
                    &image,
                    (column as u32 * (w + gap)) as i64,
                    (row * (h + gap)) as i64,
                );
            }
            row += 1;
        }
    }
    Some(sheet)
}

#[cfg(test)]
mod tests {
    use super::{regions, score};
    use crate::video::Frames;
    use crate::world_model::train::data;

    /// A grey 48×32 clip of 12 frames with a dark box that slides right by 2 px a frame from frame `onset` on
    /// (`None`: never), up to 12 px.
    fn sliding_box(onset: Option<usize>) -> Frames {
        let (w, h, f) = (48usize, 32usize, 12usize);
        let mut data = vec![0u8; f * h * w * 3];
        for i in 0..f {
            let shift = onset.map_or(0, |o| (2 * i.saturating_sub(o)).min(12));
            for y in 0..h {
                for x in 0..w {
                    let inside = (10..22).contains(&y) && (8 + shift..20 + shift).contains(&x);
                    let v = if inside { 40 } else { 170 };
                    data[((i * h + y) * w + x) * 3..][..3].copy_from_slice(&[v, v, v + 10]);
                }
            }
        }
        Frames::new(w as u32, h as u32, 8.0, data).unwrap()
    }

    /// The motion timing score: 1 for the truth (and for the truth with a constant colour offset, which it must
    /// not punish), lower for the same motion at the wrong time, undefined for a video that never changes.
    #[test]
    fn motion_timing_rewards_the_right_moment() {
        let static_video = sliding_box(None);
        let truth = sliding_box(Some(3));
        let hands = Frames::black(12, 48, 32, 8.0).unwrap();
        let regions = regions(&truth, &static_video, &hands).unwrap();
        assert!(regions.motion.count() > 0);
        let right = score(&truth, &truth, &regions).timing.unwrap();
        assert!((right - 1.0).abs() < 1e-9, "{right}");
        let brighter = Frames::new(
            48,
            32,
            8.0,
            truth
                .as_bytes()
                .iter()
                .map(|v| v.saturating_add(9))
                .collect(),
        )
        .unwrap();
        let offset = score(&brighter, &truth, &regions).timing.unwrap();
        assert!(offset > 0.99, "{offset}");
        let late = score(&sliding_box(Some(7)), &truth, &regions)
            .timing
            .unwrap();
        assert!(late < 0.9, "{late}");
        let later = score(&sliding_box(Some(9)), &truth, &regions)
            .timing
            .unwrap();
        assert!(later < late, "{later} vs {late}");
        assert_eq!(score(&static_video, &truth, &regions).timing, None);
    }

    /// The training loss weights (`--changed-weight`, `--object-weight`) use their own copies of the region
    /// definitions (world_model may not depend on eval); they must stay the evaluation's.
    #[test]
    fn training_regions_use_the_evaluation_thresholds() {
        assert_eq!(
            data::CHANGED_LEVELS,
            f32::from(super::INTERACTION_THRESHOLD)
        );
        assert_eq!(data::HAND_LEVELS, f32::from(super::HAND_THRESHOLD));
        assert_eq!(data::HAND_MARGIN, super::HAND_MARGIN);
    }
}
