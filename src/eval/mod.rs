//! `eval`: metrics over DWM sample folders. For each held-out clip, the generated video and two baselines that
//! model no dynamics — the static video copied, and the static video with the hand-mesh pixels pasted in — are
//! scored against the ground truth over the whole frame, over the interaction region (where the truth differs
//! from the static video) and over the object region (the interaction region minus the pixels near a hand,
//! where only modelled dynamics — a drawer that moved, a cup that was lifted — can help).

pub mod metrics;

use crate::video::Frames;
use metrics::{
    RegionMask, dilate, hand_pixels, interaction_region, mean_over, paste_hands, psnr_masked,
    ssim_map_clip, subtract,
};

/// A pixel belongs to the interaction region when some channel differs from the static video by more than this
/// (out of 255; above the codec noise of the near-lossless sample videos).
pub const INTERACTION_THRESHOLD: u8 = 12;
/// A hand-video pixel is a hand pixel when some channel is above this.
pub const HAND_THRESHOLD: u8 = 8;
/// The object region leaves out pixels within this many pixels of a hand.
pub const HAND_MARGIN: usize = 3;

/// The three regions of one clip.
pub struct Regions {
    pub frame: RegionMask,
    pub interaction: RegionMask,
    pub object: RegionMask,
}

pub fn regions(truth: &Frames, static_video: &Frames, hands: &Frames) -> Option<Regions> {
    let interaction = interaction_region(truth, static_video, INTERACTION_THRESHOLD)?;
    let near_hands = dilate(&hand_pixels(hands, HAND_THRESHOLD), HAND_MARGIN);
    if near_hands.values.len() != interaction.values.len() {
        return None;
    }
    let object = subtract(&interaction, &near_hands);
    Some(Regions {
        frame: RegionMask::full(
            truth.frame_count(),
            truth.width() as usize,
            truth.height() as usize,
        ),
        interaction,
        object,
    })
}

/// PSNR and SSIM of one method on one clip, per region (`None` where the region is empty).
#[derive(Clone, Copy, Debug, Default)]
pub struct Scores {
    pub frame: (Option<f64>, Option<f64>),
    pub interaction: (Option<f64>, Option<f64>),
    pub object: (Option<f64>, Option<f64>),
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
    values: [(f64, usize); 6],
}

impl Summary {
    pub fn new(method: &str) -> Self {
        Self {
            method: method.to_string(),
            values: [(0.0, 0); 6],
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
        ];
        for (slot, value) in self.values.iter_mut().zip(all) {
            // An exact match (infinite PSNR) is counted as 100 dB so one clip cannot make the mean infinite.
            if let Some(v) = value {
                slot.0 += v.min(100.0);
                slot.1 += 1;
            }
        }
    }

    /// [PSNR frame, SSIM frame, PSNR interaction, SSIM interaction, PSNR object, SSIM object].
    pub fn means(&self) -> [Option<f64>; 6] {
        self.values.map(|(sum, n)| (n > 0).then(|| sum / n as f64))
    }
}

/// The table as Markdown.
pub fn markdown_table(summaries: &[Summary], clips: usize) -> String {
    let mut out = format!(
        "| method ({clips} clips) | PSNR frame | SSIM frame | PSNR interaction | SSIM interaction | PSNR object | SSIM object |\n|---|---|---|---|---|---|---|\n"
    );
    for summary in summaries {
        let cells: Vec<String> = summary
            .means()
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
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
    use crate::world_model::train::data;

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
