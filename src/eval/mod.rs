//! `eval`: metrics over DWM sample folders. For each held-out clip, the generated video and two baselines that
//! model no dynamics — the static video copied, and the static video with the hand-mesh pixels pasted in — are
//! scored against the ground truth over the whole frame, over the interaction region (where the truth differs
//! from the static video) and over the object region (the interaction region minus the pixels near a hand,
//! where only modelled dynamics — a drawer that moved, a cup that was lifted — can help).

pub mod dataset;
pub mod lpips;
pub mod metrics;
pub mod rank;
pub mod search;

use crate::video::Frames;
use metrics::{
    RegionMask, SsimKind, dilate, hand_pixels, interaction_region, mean_over, paste_hands,
    psnr_masked, same_shape, ssim_map_clip, subtract, union,
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

/// PSNR and SSIM of one method on one clip, per region (`None` where the region is empty), and with the metrics
/// of [`score_with`] LPIPS per region and DWM's protocol.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scores {
    pub frame: (Option<f64>, Option<f64>),
    pub interaction: (Option<f64>, Option<f64>),
    pub object: (Option<f64>, Option<f64>),
    /// LPIPS over the frame (per-frame LPIPS, averaged over frames), the interaction and the object region (its
    /// spatial map averaged over the region's pixels).
    pub lpips: [Option<f64>; 3],
    /// DWM's evaluation (`tests/compute_metrics.py`): PSNR with one MSE over the whole clip, torchmetrics SSIM
    /// averaged over frames, LPIPS-VGG averaged over frames.
    pub dwm: [Option<f64>; 3],
}

/// The optional metrics of [`score_with`].
#[derive(Clone, Copy, Default)]
pub struct ExtraMetrics<'a> {
    /// LPIPS per region with this network.
    pub lpips: Option<&'a lpips::Lpips>,
    /// DWM's protocol with this network (VGG, as DWM reports).
    pub dwm: Option<&'a lpips::Lpips>,
}

pub fn score(candidate: &Frames, truth: &Frames, regions: &Regions) -> Scores {
    score_with(candidate, truth, regions, ExtraMetrics::default())
}

/// [`score`] plus LPIPS per region and DWM's protocol, as `extra` asks (a metric that fails — a clip below
/// LPIPS's smallest size — is left out).
pub fn score_with(
    candidate: &Frames,
    truth: &Frames,
    regions: &Regions,
    extra: ExtraMetrics,
) -> Scores {
    let ssim = ssim_map_clip(candidate, truth);
    let both = |mask: &RegionMask| {
        (
            psnr_masked(candidate, truth, mask),
            ssim.as_deref().and_then(|map| mean_over(map, mask)),
        )
    };
    // scikit-image averages its SSIM map without the border pixels whose window reaches past the frame; the
    // smaller regions keep their border pixels (valued from the reflected frame), which a region may need.
    let frame_psnr = psnr_masked(candidate, truth, &regions.frame);
    let interior = regions.frame.without_border(SsimKind::ScikitImage.border());
    let frame_ssim = ssim.as_deref().and_then(|map| mean_over(map, &interior));
    let mut lpips = [None; 3];
    if let Some(model) = extra.lpips {
        lpips[0] = model
            .frames(candidate, truth)
            .ok()
            .and_then(|values| mean(&values));
        if let Ok(map) = model.frames_spatial(candidate, truth) {
            lpips[1] = mean_over(&map, &regions.interaction);
            lpips[2] = mean_over(&map, &regions.object);
        }
    }
    let mut dwm = [None; 3];
    if let Some(model) = extra.dwm {
        dwm = [
            frame_psnr,
            metrics::ssim_torchmetrics(candidate, truth),
            model
                .frames(candidate, truth)
                .ok()
                .and_then(|values| mean(&values)),
        ];
    }
    Scores {
        frame: (frame_psnr, frame_ssim),
        interaction: both(&regions.interaction),
        object: both(&regions.object),
        lpips,
        dwm,
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// For `eval --swap-hands`: the pixels where either of two clips of one room (same static video, hands on
/// different clocks) changed the scene away from either clip's hands — where a sibling's hands should change a
/// model's output only through the objects. `None` when the videos differ in size.
pub fn swap_region(
    static_video: &Frames,
    truth: &Frames,
    hands: &Frames,
    sibling_truth: &Frames,
    sibling_hands: &Frames,
) -> Option<RegionMask> {
    let changed = union(
        &interaction_region(truth, static_video, INTERACTION_THRESHOLD)?,
        &interaction_region(sibling_truth, static_video, INTERACTION_THRESHOLD)?,
    );
    let near_hands = dilate(
        &union(
            &hand_pixels(hands, HAND_THRESHOLD),
            &hand_pixels(sibling_hands, HAND_THRESHOLD),
        ),
        HAND_MARGIN,
    );
    (same_shape(hands, truth) && same_shape(sibling_hands, truth))
        .then(|| subtract(&changed, &near_hands))
}

/// How far a model's output moves when only the hand video changes, against how far the truth moves: the direct
/// test of whether the objects follow the hands. Per clip (`add`): the model's outputs with its own hands and
/// with a sibling clip's, and the two clips' ground truths through the model's VAE (the same blur on both sides),
/// over `swap_region`. With d_model = own − sibling output and d_truth = own − sibling truth, pooled over every
/// masked pixel and channel of every clip:
/// - `ratio` = |d_model| / |d_truth|: 0 when the output ignores the hands, 1 when it moves as much as the truth;
/// - `cosine` of d_model and d_truth: whether it moves the right way (1) or just differently (0);
/// - `explained` = 1 − |d_model − d_truth|² / |d_truth|²: the share of the truth's change the model reproduces; 0
///   for a model that ignores the hands, 1 for one that follows them as far as its VAE allows, negative for one
///   that moves the wrong way.
#[derive(Clone, Debug, Default)]
pub struct HandResponse {
    model_sq: f64,
    truth_sq: f64,
    miss_sq: f64,
    dot: f64,
    pub clips: usize,
}

impl HandResponse {
    /// Adds one clip; `false` (and nothing added) when the videos and mask differ in size.
    pub fn add(
        &mut self,
        own: &Frames,
        sibling: &Frames,
        truth: &Frames,
        sibling_truth: &Frames,
        mask: &RegionMask,
    ) -> bool {
        let mask_shape = (mask.frames, mask.width, mask.height);
        let own_shape = (
            own.frame_count(),
            own.width() as usize,
            own.height() as usize,
        );
        if ![sibling, truth, sibling_truth]
            .iter()
            .all(|f| same_shape(f, own))
            || mask_shape != own_shape
            || mask.values.len() * 3 != own.as_bytes().len()
        {
            return false;
        }
        let pixels = own
            .as_bytes()
            .chunks_exact(3)
            .zip(sibling.as_bytes().chunks_exact(3))
            .zip(truth.as_bytes().chunks_exact(3))
            .zip(sibling_truth.as_bytes().chunks_exact(3))
            .zip(&mask.values);
        for ((((a, b), t), s), &on) in pixels {
            if !on {
                continue;
            }
            for c in 0..3 {
                let dm = f64::from(a[c]) - f64::from(b[c]);
                let dt = f64::from(t[c]) - f64::from(s[c]);
                self.model_sq += dm * dm;
                self.truth_sq += dt * dt;
                self.miss_sq += (dm - dt) * (dm - dt);
                self.dot += dm * dt;
            }
        }
        self.clips += 1;
        true
    }

    /// Adds another set of clips (one clip's response into a whole table's).
    pub fn merge(&mut self, other: &HandResponse) {
        self.model_sq += other.model_sq;
        self.truth_sq += other.truth_sq;
        self.miss_sq += other.miss_sq;
        self.dot += other.dot;
        self.clips += other.clips;
    }

    /// `None` until the truths have differed somewhere.
    pub fn ratio(&self) -> Option<f64> {
        (self.truth_sq > 0.0).then(|| (self.model_sq / self.truth_sq).sqrt())
    }

    /// `None` until both the outputs and the truths have differed somewhere.
    pub fn cosine(&self) -> Option<f64> {
        (self.truth_sq > 0.0 && self.model_sq > 0.0)
            .then(|| self.dot / (self.model_sq * self.truth_sq).sqrt())
    }

    pub fn explained(&self) -> Option<f64> {
        (self.truth_sq > 0.0).then(|| 1.0 - self.miss_sq / self.truth_sq)
    }

    /// One line for the table file.
    pub fn describe(&self) -> String {
        let cell = |v: Option<f64>, digits: usize| {
            v.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
        };
        format!(
            "hand response ({} clips; a sibling's hands instead of the clip's own, where either clip's objects \
             changed away from both clips' hands; truths through the model's VAE): the output moves {}× as far \
             as the truth (0 ignores the hands, 1 moves as much), cosine {} with the truth's change, explains {} \
             of it (0 ignores the hands, 1 follows them as far as the VAE allows)",
            self.clips,
            cell(self.ratio(), 3),
            cell(self.cosine(), 3),
            cell(self.explained(), 3),
        )
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
    values: [(f64, usize); 12],
}

impl Summary {
    pub fn new(method: &str) -> Self {
        Self {
            method: method.to_string(),
            values: [(0.0, 0); 12],
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
            scores.lpips[0],
            scores.lpips[1],
            scores.lpips[2],
            scores.dwm[0],
            scores.dwm[1],
            scores.dwm[2],
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
        let all = self.all_means();
        std::array::from_fn(|i| all[i])
    }

    /// [LPIPS frame, LPIPS interaction, LPIPS object].
    pub fn lpips_means(&self) -> [Option<f64>; 3] {
        let all = self.all_means();
        std::array::from_fn(|i| all[6 + i])
    }

    /// DWM's protocol: [PSNR, SSIM (torchmetrics), LPIPS-VGG].
    pub fn dwm_means(&self) -> [Option<f64>; 3] {
        let all = self.all_means();
        std::array::from_fn(|i| all[9 + i])
    }

    fn all_means(&self) -> [Option<f64>; 12] {
        self.values.map(|(sum, n)| (n > 0).then(|| sum / n as f64))
    }
}

/// The table as Markdown; with LPIPS columns (`lpips`: the backbone's name) when the scores have them.
pub fn markdown_table(summaries: &[Summary], clips: usize) -> String {
    markdown_table_with(summaries, clips, None)
}

/// [`markdown_table`], naming the LPIPS network in the LPIPS columns' heads (shown when any row has LPIPS).
pub fn markdown_table_with(summaries: &[Summary], clips: usize, lpips: Option<&str>) -> String {
    let with_lpips = summaries
        .iter()
        .any(|s| s.lpips_means().iter().any(Option::is_some));
    let net = lpips.map_or(String::new(), |n| format!("-{n}"));
    let mut out = format!(
        "| method ({clips} clips) | PSNR frame | SSIM frame | PSNR interaction | SSIM interaction | PSNR object | SSIM object |"
    );
    if with_lpips {
        out.push_str(&format!(
            " LPIPS{net} frame | LPIPS{net} interaction | LPIPS{net} object |"
        ));
    }
    out.push_str(if with_lpips {
        "\n|---|---|---|---|---|---|---|---|---|---|\n"
    } else {
        "\n|---|---|---|---|---|---|---|\n"
    });
    for summary in summaries {
        let mut cells: Vec<String> = summary
            .means()
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Some(v) if i % 2 == 0 => format!("{v:.2}"),
                Some(v) => format!("{v:.4}"),
                None => "–".to_string(),
            })
            .collect();
        if with_lpips {
            cells.extend(
                summary
                    .lpips_means()
                    .iter()
                    .map(|v| v.map_or_else(|| "–".to_string(), |v| format!("{v:.4}"))),
            );
        }
        out.push_str(&format!("| {} | {} |\n", summary.method, cells.join(" | ")));
    }
    out
}

/// The table of DWM's evaluation protocol (`tests/compute_metrics.py`): PSNR (one MSE over each whole clip), SSIM
/// (torchmetrics: 11×11 Gaussian, σ 1.5) and LPIPS-VGG (per frame), each averaged over frames and then over
/// clips, so the numbers stand beside the paper's tables. Rows without them are left out.
pub fn dwm_table(summaries: &[Summary], clips: usize) -> String {
    let mut out = format!(
        "| method ({clips} clips), DWM's protocol | PSNR ↑ | SSIM ↑ | LPIPS-VGG ↓ |\n|---|---|---|---|\n"
    );
    for summary in summaries {
        let [psnr, ssim, lpips] = summary.dwm_means();
        if psnr.is_none() && ssim.is_none() && lpips.is_none() {
            continue;
        }
        let cell = |v: Option<f64>, digits: usize| {
            v.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            summary.method,
            cell(psnr, 2),
            cell(ssim, 4),
            cell(lpips, 4)
        ));
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

/// The `count` frames (in order) where the videos of each pair differ most, summed over the pairs (the mean absolute
/// difference of a frame's bytes): for a sheet of clips beside their siblings, the moments the two clocks disagree.
/// Pairs of unequal sizes are skipped; fewer frames come back when the videos are shorter than `count`.
pub fn frames_differing_most(pairs: &[(&Frames, &Frames)], count: usize) -> Vec<usize> {
    let frames = pairs
        .iter()
        .map(|(a, _)| a.frame_count())
        .min()
        .unwrap_or(0);
    let mut totals = vec![0.0f64; frames];
    for (a, b) in pairs {
        if !same_shape(a, b) {
            continue;
        }
        for (index, total) in totals.iter_mut().enumerate() {
            if let (Some(x), Some(y)) = (a.frame(index), b.frame(index)) {
                let sum: u64 = x.iter().zip(y).map(|(p, q)| p.abs_diff(*q) as u64).sum();
                *total += sum as f64 / x.len().max(1) as f64;
            }
        }
    }
    let mut order: Vec<usize> = (0..frames).collect();
    // Largest difference first; ties to the earlier frame.
    order.sort_by(|&i, &j| totals[j].total_cmp(&totals[i]).then(i.cmp(&j)));
    order.truncate(count);
    order.sort_unstable();
    order
}

#[cfg(test)]
mod tests {
    use crate::world_model::train::data;

    use super::*;

    #[test]
    fn frames_differing_most_picks_where_the_pairs_disagree() {
        let video = |values: &[u8]| {
            let bytes: Vec<u8> = values.iter().flat_map(|&v| [v, v, v]).collect();
            Frames::new(1, 1, 8.0, bytes).unwrap()
        };
        let a = video(&[0, 0, 90, 0, 30, 0]);
        let b = video(&[0, 0, 0, 0, 0, 0]);
        let c = video(&[0, 60, 0, 0, 0, 0]);
        assert_eq!(frames_differing_most(&[(&a, &b)], 2), vec![2, 4]);
        // Summed over pairs: frame 1 (60) beats frame 4 (30).
        assert_eq!(frames_differing_most(&[(&a, &b), (&c, &b)], 2), vec![1, 2]);
        // No difference anywhere: the first frames; more asked than there are: all of them.
        assert_eq!(frames_differing_most(&[(&b, &b)], 2), vec![0, 1]);
        assert_eq!(frames_differing_most(&[(&a, &b)], 9).len(), 6);
        assert!(frames_differing_most(&[], 3).is_empty());
    }

    fn flat(values: &[u8]) -> Frames {
        let bytes: Vec<u8> = values.iter().flat_map(|&v| [v, v, v]).collect();
        Frames::new(values.len() as u32, 1, 8.0, bytes).unwrap()
    }

    #[test]
    fn hand_response_tells_ignoring_from_following_and_from_the_wrong_way() {
        let truth = flat(&[10, 200, 10, 50]);
        let sibling_truth = flat(&[10, 10, 200, 50]);
        let mask = RegionMask::full(1, 4, 1);
        // The same output whatever the hands: ratio 0, explains nothing, no cosine.
        let mut ignoring = HandResponse::default();
        assert!(ignoring.add(&truth, &truth, &truth, &sibling_truth, &mask));
        assert_eq!(ignoring.ratio(), Some(0.0));
        assert_eq!(ignoring.explained(), Some(0.0));
        assert_eq!(ignoring.cosine(), None);
        // Outputs that are the truths: all 1.
        let mut following = HandResponse::default();
        assert!(following.add(&truth, &sibling_truth, &truth, &sibling_truth, &mask));
        assert_eq!(following.ratio(), Some(1.0));
        assert_eq!(following.explained(), Some(1.0));
        assert!((following.cosine().unwrap() - 1.0).abs() < 1e-12);
        // Half the change, the right way: ratio 0.5, cosine 1, explains 1 − 0.25 = 0.75.
        let half_way = flat(&[10, 105, 105, 50]);
        let mut half = HandResponse::default();
        assert!(half.add(&truth, &half_way, &truth, &sibling_truth, &mask));
        assert!((half.ratio().unwrap() - 0.5).abs() < 1e-12);
        assert!((half.explained().unwrap() - 0.75).abs() < 1e-12);
        // The change swapped (the object moves at the other clip's time): cosine −1, explains 1 − 4 = −3.
        let mut wrong = HandResponse::default();
        assert!(wrong.add(&sibling_truth, &truth, &truth, &sibling_truth, &mask));
        assert!((wrong.cosine().unwrap() + 1.0).abs() < 1e-12);
        assert!((wrong.explained().unwrap() + 3.0).abs() < 1e-12);
        // Outside the mask nothing counts; a clip of another size is refused.
        let mut none = HandResponse::default();
        assert!(none.add(
            &truth,
            &truth,
            &truth,
            &sibling_truth,
            &RegionMask {
                values: vec![false; 4],
                ..mask.clone()
            }
        ));
        assert_eq!(none.ratio(), None);
        assert!(!none.add(&flat(&[1, 2]), &truth, &truth, &sibling_truth, &mask));
        let transposed = Frames::new(1, 4, 8.0, truth.as_bytes().to_vec()).unwrap();
        assert!(!none.add(&transposed, &truth, &truth, &sibling_truth, &mask));
        assert_eq!(none.clips, 1);
    }

    #[test]
    fn swap_region_is_either_clips_change_away_from_either_clips_hands() {
        let still = flat(&[0; 12]);
        // Clip A: its object changed at pixel 2, its hand at pixel 10; clip B: object at pixel 6, hand at 0.
        let mut a = [0u8; 12];
        a[2] = 100;
        a[10] = 100;
        let mut b = [0u8; 12];
        b[6] = 100;
        b[0] = 100;
        let mut hands_a = [0u8; 12];
        hands_a[10] = 200;
        let mut hands_b = [0u8; 12];
        hands_b[0] = 200;
        let region = swap_region(
            &still,
            &flat(&a),
            &flat(&hands_a),
            &flat(&b),
            &flat(&hands_b),
        )
        .unwrap();
        let on: Vec<usize> = (0..12).filter(|&i| region.values[i]).collect();
        // Pixel 2 is within 3 of B's hand at 0, pixel 10 is A's hand: only B's object at 6 is left.
        assert_eq!(on, vec![6]);
        assert!(
            swap_region(
                &still,
                &flat(&a),
                &flat(&hands_a),
                &flat(&[0; 4]),
                &flat(&hands_b)
            )
            .is_none()
        );
        // Hands of the same byte length but another shape are refused too.
        let tall = Frames::new(1, 12, 8.0, flat(&hands_b).as_bytes().to_vec()).unwrap();
        assert!(swap_region(&still, &flat(&a), &flat(&hands_a), &flat(&b), &tall).is_none());
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

    #[test]
    fn tables_show_lpips_and_dwm_columns_only_when_measured() {
        let plain = Scores {
            frame: (Some(20.0), Some(0.5)),
            ..Scores::default()
        };
        let full = Scores {
            lpips: [Some(0.25), Some(0.5), None],
            dwm: [Some(21.0), Some(0.6), Some(0.3)],
            ..plain
        };
        let mut a = Summary::new("a");
        a.add(&plain);
        let table = markdown_table(&[a.clone()], 1);
        assert!(!table.contains("LPIPS"), "{table}");
        assert!(!dwm_table(&[a.clone()], 1).contains("| a |"));
        let mut b = Summary::new("b");
        b.add(&full);
        b.add(&full);
        let table = markdown_table_with(&[a.clone(), b.clone()], 2, Some("alex"));
        assert!(table.contains("LPIPS-alex object |"), "{table}");
        assert!(
            table.contains("| b | 20.00 | 0.5000 | – | – | – | – | 0.2500 | 0.5000 | – |"),
            "{table}"
        );
        assert!(
            table.contains("| a | 20.00 | 0.5000 | – | – | – | – | – | – | – |"),
            "{table}"
        );
        let dwm = dwm_table(&[a, b], 2);
        assert!(dwm.contains("| b | 21.00 | 0.6000 | 0.3000 |"), "{dwm}");
        assert!(!dwm.contains("| a |"), "{dwm}");
    }
}
