//! Ranking candidate actions against a goal: DWM's second use of the world model, "a visual world model for
//! evaluating candidate actions". Each candidate is simulated (by the caller: `handtwin rank` and the viewer's
//! Candidates panel run the worker), its final frame scored against the goal image by `−LPIPS` (DWM's
//! `s_img = −LPIPS(I_F, I_goal)`; PSNR and SSIM beside it), seeds averaged, and the best first.
//!
//! Also here: the goal region that leaves the hands out (a goal frame that shows the hands can be matched by hand
//! position alone), the tie-aware ranks and the tally of the benchmark with a known answer (`handtwin rank
//! --benchmark`), a contact sheet, and the cache that keys a generated clip by everything it depends on.

use super::lpips::{Lpips, LpipsError};
use super::metrics::{
    RegionMask, dilate, hand_pixels, mean_over, psnr_masked, same_shape, ssim_map_clip, union,
};
use super::{HAND_MARGIN, HAND_THRESHOLD};
use crate::video::Frames;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RankError {
    #[error(transparent)]
    Lpips(#[from] LpipsError),
    #[error("the goal is {goal} but {what} is {other}: they must be the same size")]
    Size {
        goal: String,
        what: String,
        other: String,
    },
    #[error("{0} is empty: a clip has no frames")]
    Empty(String),
    #[error("the objects region is empty: the candidates' hands cover the whole final frame")]
    EmptyRegion,
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Cache { path: PathBuf, message: String },
}

/// Where the final frame is compared with the goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GoalRegion {
    /// The whole frame (DWM's scoring).
    Frame,
    /// Only pixels away from every candidate's hands in the final frame: what the action did to the scene, not
    /// where the hands ended up.
    Objects,
}

impl GoalRegion {
    pub fn name(self) -> &'static str {
        match self {
            GoalRegion::Frame => "frame",
            GoalRegion::Objects => "objects",
        }
    }
}

fn describe(frames: &Frames) -> String {
    format!("{}×{}", frames.width(), frames.height())
}

/// Frame `index` of a clip as a one-frame clip (`None` past the end).
pub fn frame_of(frames: &Frames, index: usize) -> Option<Frames> {
    let bytes = frames.frame(index)?.to_vec();
    Frames::new(frames.width(), frames.height(), frames.fps(), bytes).ok()
}

/// The last frame of a clip as a one-frame clip (`None` when it has none).
pub fn last_frame(frames: &Frames) -> Option<Frames> {
    frame_of(frames, frames.frame_count().checked_sub(1)?)
}

/// How far (pixels) the objects region keeps from a hand: LPIPS's map is upsampled from features whose receptive
/// fields span many pixels, so a hand colours the map well beyond its silhouette; 4% of the width (29 px at 720,
/// 4 at 96), at least the eval's [`HAND_MARGIN`].
pub fn objects_margin(width: u32) -> usize {
    (width as usize / 25).max(HAND_MARGIN)
}

/// The objects region of a final frame: the pixels farther than [`objects_margin`] from a hand in the last frame
/// of every candidate's hand video (one frame).
pub fn objects_region(hand_videos: &[&Frames]) -> Result<RegionMask, RankError> {
    let first = hand_videos
        .first()
        .ok_or_else(|| RankError::Empty("the list of hand videos".into()))?;
    let (w, h) = (first.width() as usize, first.height() as usize);
    let mut near = RegionMask {
        frames: 1,
        width: w,
        height: h,
        values: vec![false; w * h],
    };
    for video in hand_videos {
        let last = last_frame(video).ok_or_else(|| RankError::Empty("a hand video".into()))?;
        if (last.width(), last.height()) != (first.width(), first.height()) {
            return Err(RankError::Size {
                goal: describe(first),
                what: "another candidate's hand video".into(),
                other: describe(&last),
            });
        }
        near = union(
            &near,
            &dilate(
                &hand_pixels(&last, HAND_THRESHOLD),
                objects_margin(first.width()),
            ),
        );
    }
    let region = RegionMask {
        values: near.values.iter().map(|&v| !v).collect(),
        ..near
    };
    if region.count() == 0 {
        return Err(RankError::EmptyRegion);
    }
    Ok(region)
}

/// One frame's distance to the goal.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GoalScore {
    /// LPIPS over the region (the mean of its spatial map; over the whole frame, LPIPS itself).
    pub lpips: f64,
    /// PSNR (dB) over the region; `None` for identical frames (infinite).
    pub psnr: Option<f64>,
    /// SSIM (scikit-image's window) over the region.
    pub ssim: Option<f64>,
}

/// Scores final frames against one goal image over one region.
///
/// With a region and a `fill` frame, the pixels outside the region are replaced by `fill`'s (the static scene) in
/// the goal and in every scored frame before anything is measured. Averaging LPIPS's spatial map over the region
/// alone is not enough to take the hands out: the map is upsampled from deep features whose receptive fields
/// span most of a small frame, so a hand moves the map far from its silhouette (on held-out alternatives at
/// 96×64 the hands-pasted baseline still ranked 75% right that way). Filled, the region's pixels are all that
/// differ between two frames.
pub struct GoalScorer {
    lpips: Lpips,
    goal: Frames,
    region: RegionMask,
    fill: Option<Frames>,
}

/// `frame` with the pixels outside `region` (one frame) taken from `fill`.
fn filled(frame: &Frames, region: &RegionMask, fill: &Frames) -> Frames {
    let mut bytes = frame.as_bytes().to_vec();
    for ((pixel, source), &keep) in bytes
        .chunks_exact_mut(3)
        .zip(fill.as_bytes().chunks_exact(3))
        .zip(&region.values)
    {
        if !keep {
            pixel.copy_from_slice(source);
        }
    }
    Frames::new(frame.width(), frame.height(), frame.fps(), bytes).unwrap_or_else(|_| frame.clone())
}

impl GoalScorer {
    /// `goal`: a one-frame clip (the first frame is taken); `region`: one frame of the goal's size, or `None` for
    /// the whole frame; `fill`: what the pixels outside the region become in both frames (see the type).
    pub fn new(
        lpips: Lpips,
        goal: &Frames,
        region: Option<RegionMask>,
        fill: Option<&Frames>,
    ) -> Result<Self, RankError> {
        let goal = frame_of(goal, 0).ok_or_else(|| RankError::Empty("the goal".into()))?;
        let (w, h) = (goal.width() as usize, goal.height() as usize);
        let region = region.unwrap_or_else(|| RegionMask::full(1, w, h));
        if (region.width, region.height, region.frames) != (w, h, 1) {
            return Err(RankError::Size {
                goal: describe(&goal),
                what: "the region".into(),
                other: format!("{}×{}", region.width, region.height),
            });
        }
        let fill = match fill {
            Some(fill) if region.count() < region.values.len() => {
                let fill = frame_of(fill, 0).ok_or_else(|| RankError::Empty("the fill".into()))?;
                if !same_shape(&fill, &goal) {
                    return Err(RankError::Size {
                        goal: describe(&goal),
                        what: "the static frame".into(),
                        other: describe(&fill),
                    });
                }
                Some(fill)
            }
            _ => None,
        };
        let goal = match &fill {
            Some(fill) => filled(&goal, &region, fill),
            None => goal,
        };
        Ok(Self {
            lpips,
            goal,
            region,
            fill,
        })
    }

    pub fn goal(&self) -> &Frames {
        &self.goal
    }

    pub fn region(&self) -> &RegionMask {
        &self.region
    }

    /// The distance of `frame` (its first frame) to the goal.
    pub fn score(&self, frame: &Frames) -> Result<GoalScore, RankError> {
        let frame = frame_of(frame, 0).ok_or_else(|| RankError::Empty("a final frame".into()))?;
        if !same_shape(&frame, &self.goal) {
            return Err(RankError::Size {
                goal: describe(&self.goal),
                what: "a candidate's frame".into(),
                other: describe(&frame),
            });
        }
        let frame = match &self.fill {
            Some(fill) => filled(&frame, &self.region, fill),
            None => frame,
        };
        let full = self.region.count() == self.region.values.len();
        let lpips = if full {
            self.lpips
                .frames(&frame, &self.goal)?
                .first()
                .copied()
                .unwrap_or(0.0)
        } else {
            let map = self.lpips.frames_spatial(&frame, &self.goal)?;
            mean_over(&map, &self.region).ok_or(RankError::EmptyRegion)?
        };
        let psnr = psnr_masked(&frame, &self.goal, &self.region).filter(|p| p.is_finite());
        let ssim = ssim_map_clip(&frame, &self.goal).and_then(|map| mean_over(&map, &self.region));
        Ok(GoalScore { lpips, psnr, ssim })
    }
}

/// Mean and spread (population standard deviation) of a candidate's values over seeds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub mean: f64,
    pub spread: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        Some(Self {
            mean,
            spread: variance.sqrt(),
        })
    }
}

/// The order of `distances` (lower is better), best first; ties keep the input order.
pub fn order(distances: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..distances.len()).collect();
    order.sort_by(|&a, &b| distances[a].total_cmp(&distances[b]));
    order
}

/// The rank (1 = best) of each distance, ties sharing the mean of the ranks they span (so candidates that all
/// score the same each get the middle rank, and a tally counts them at chance). Values within `tolerance` tie.
pub fn ranks_with_ties(distances: &[f64], tolerance: f64) -> Vec<f64> {
    distances
        .iter()
        .map(|&d| {
            let better = distances.iter().filter(|&&o| o < d - tolerance).count();
            let tied = distances
                .iter()
                .filter(|&&o| (o - d).abs() <= tolerance)
                .count();
            better as f64 + (tied as f64 + 1.0) / 2.0
        })
        .collect()
}

/// Distances within this tie (the static baseline's candidates are the same frame: exactly equal).
pub const TIE_TOLERANCE: f64 = 1e-12;

/// The benchmark's tally for one method and one goal region: how often the candidate that produced the goal is
/// ranked first (ties share the credit: `1/t` for a first place shared by `t`), its mean rank, and chance.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Tally {
    pub method: String,
    pub top1: f64,
    pub goals: usize,
    pub rank_sum: f64,
    pub chance_sum: f64,
}

impl Tally {
    pub fn new(method: &str) -> Self {
        Self {
            method: method.to_string(),
            ..Self::default()
        }
    }

    /// One goal: every candidate's distance to it, and which candidate produced it.
    pub fn add(&mut self, distances: &[f64], truth: usize) {
        if truth >= distances.len() {
            return;
        }
        let ranks = ranks_with_ties(distances, TIE_TOLERANCE);
        let best = distances.iter().copied().fold(f64::INFINITY, f64::min);
        if (distances[truth] - best).abs() <= TIE_TOLERANCE {
            let tied = distances
                .iter()
                .filter(|&&d| (d - best).abs() <= TIE_TOLERANCE)
                .count();
            self.top1 += 1.0 / tied as f64;
        }
        self.rank_sum += ranks[truth];
        self.chance_sum += 1.0 / distances.len() as f64;
        self.goals += 1;
    }

    pub fn accuracy(&self) -> f64 {
        self.top1 / self.goals.max(1) as f64
    }

    pub fn mean_rank(&self) -> f64 {
        self.rank_sum / self.goals.max(1) as f64
    }

    pub fn chance(&self) -> f64 {
        self.chance_sum / self.goals.max(1) as f64
    }

    /// `METHOD: top-1 X/Y (P%), mean rank R, chance C%`.
    pub fn line(&self) -> String {
        let hits = if (self.top1 - self.top1.round()).abs() < 1e-9 {
            format!("{}", self.top1.round() as i64)
        } else {
            format!("{:.1}", self.top1)
        };
        format!(
            "{}: top-1 {hits}/{} ({:.0}%), mean rank {:.2}, chance {:.0}%",
            self.method,
            self.goals,
            100.0 * self.accuracy(),
            self.mean_rank(),
            100.0 * self.chance()
        )
    }
}

/// A 5×7 bitmap font for the digits and a few signs, enough to write ranks and distances on a contact sheet
/// without a font file. Each glyph is 7 rows of 5 bits, the high bit leftmost.
fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        ' ' => [0; 7],
        _ => return None,
    })
}

/// Writes `text` (digits, `.`, `-`, `#`, space; other characters are skipped) at (x, y), each font pixel
/// `scale` pixels.
pub fn draw_text(
    image: &mut image::RgbImage,
    x: u32,
    y: u32,
    text: &str,
    scale: u32,
    color: [u8; 3],
) {
    let mut pen = x;
    for c in text.chars() {
        let Some(rows) = glyph(c) else { continue };
        for (row, bits) in rows.iter().enumerate() {
            for column in 0..5u32 {
                if bits & (0x10 >> column) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (px, py) = (pen + column * scale + dx, y + row as u32 * scale + dy);
                        if px < image.width() && py < image.height() {
                            image.put_pixel(px, py, image::Rgb(color));
                        }
                    }
                }
            }
        }
        pen += 6 * scale;
    }
}

/// One candidate's tile on the contact sheet.
pub struct SheetTile<'a> {
    /// The hand stream's last frame.
    pub hands: &'a Frames,
    /// The generated (or composited) last frame.
    pub generated: &'a Frames,
    /// Written under the tile (digits and signs only: "#1 0.123").
    pub label: String,
}

/// The contact sheet of a ranking: the goal at the top, then one tile per candidate in rank order, each the hand
/// stream over the generated final frame with its rank and distance under it, `per_row` tiles a row.
pub fn contact_sheet(
    goal: &Frames,
    tiles: &[SheetTile],
    cell_width: u32,
    per_row: usize,
) -> Option<image::RgbImage> {
    let goal_image = goal.frame_image(0)?;
    let w = cell_width.max(16);
    let h = ((goal.height() as u64 * w as u64) / goal.width().max(1) as u64).max(1) as u32;
    let scale = (w / 80).clamp(1, 3);
    let text_h = 7 * scale + 6;
    let gap = 8;
    let per_row = per_row.max(1);
    let rows = tiles.len().div_ceil(per_row) as u32;
    let columns = per_row.min(tiles.len()).max(1) as u32;
    let tile_h = 2 * h + text_h;
    let width = columns * w + (columns + 1) * gap;
    let height = gap + h + text_h + gap + rows * (tile_h + gap);
    let mut sheet = image::RgbImage::from_pixel(width, height, image::Rgb([245, 245, 245]));
    let resize = |image: &image::RgbImage| {
        let filter = if w >= image.width() {
            image::imageops::FilterType::Nearest
        } else {
            image::imageops::FilterType::Triangle
        };
        image::imageops::resize(image, w, h, filter)
    };
    // The goal, framed in green.
    let goal_x = (width - w) / 2;
    for y in gap.saturating_sub(3)..gap + h + 3 {
        for x in goal_x.saturating_sub(3)..goal_x + w + 3 {
            if x < width && y < height {
                sheet.put_pixel(x, y, image::Rgb([40, 160, 70]));
            }
        }
    }
    image::imageops::overlay(&mut sheet, &resize(&goal_image), goal_x as i64, gap as i64);
    let top = gap + h + text_h + gap;
    for (i, tile) in tiles.iter().enumerate() {
        let (row, column) = ((i / per_row) as u32, (i % per_row) as u32);
        let x = gap + column * (w + gap);
        let y = top + row * (tile_h + gap);
        let hands = tile.hands.frame_image(0)?;
        let generated = tile.generated.frame_image(0)?;
        image::imageops::overlay(&mut sheet, &resize(&hands), x as i64, y as i64);
        image::imageops::overlay(&mut sheet, &resize(&generated), x as i64, (y + h) as i64);
        draw_text(
            &mut sheet,
            x + 2,
            y + 2 * h + 3,
            &tile.label,
            scale,
            [20, 20, 20],
        );
    }
    Some(sheet)
}

/// What a generated clip depends on: the cache key of `handtwin rank`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationKey {
    /// The model folder, canonical, and a fingerprint of its files (names, sizes, modification times).
    pub model: String,
    pub model_fingerprint: String,
    pub lora: Option<String>,
    pub device: String,
    pub dtype: String,
    pub steps: usize,
    pub guidance: f64,
    pub seed: u64,
    pub prompt: String,
    /// BLAKE3 of the static and hand videos' decoded frames (size and rate included).
    pub static_video: String,
    pub hand_video: String,
}

/// BLAKE3 of a clip's size, rate and pixels, hex.
pub fn frames_digest(frames: &Frames) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&frames.width().to_le_bytes());
    hasher.update(&frames.height().to_le_bytes());
    hasher.update(&(frames.frame_count() as u64).to_le_bytes());
    hasher.update(&frames.fps().to_le_bytes());
    hasher.update(frames.as_bytes());
    hasher.finalize().to_hex().to_string()
}

/// A model folder's fingerprint: the relative name, size and modification time of every file under it (sorted),
/// hashed; retraining or replacing a weight file changes it, without reading gigabytes of weights.
pub fn folder_fingerprint(dir: &Path) -> Result<String, RankError> {
    let mut entries = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let read = std::fs::read_dir(&folder).map_err(|source| RankError::Io {
            path: folder.clone(),
            source,
        })?;
        for entry in read.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if entries.len() + stack.len() < 100_000 {
                    stack.push(path);
                }
            } else {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                let name = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                entries.push(format!("{name}\t{}\t{modified}", meta.len()));
            }
        }
    }
    entries.sort();
    Ok(blake3::hash(entries.join("\n").as_bytes())
        .to_hex()
        .to_string())
}

impl GenerationKey {
    /// The key's name in the cache: BLAKE3 of its JSON, 32 hex digits.
    pub fn id(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        blake3::hash(json.as_bytes()).to_hex()[..32].to_string()
    }
}

/// The files of one cached generation: `DIR/<id>/` holds `key.json`, `generated_last.png`,
/// `composite_last.png`, `generated.mp4` and `composite.mp4`. An entry exists only once complete (written in a
/// temporary folder and renamed), so interrupting a run never leaves a half entry.
pub struct CacheEntry {
    pub dir: PathBuf,
}

pub const CACHE_KEY_FILE: &str = "key.json";
pub const CACHE_GENERATED_LAST: &str = "generated_last.png";
pub const CACHE_COMPOSITE_LAST: &str = "composite_last.png";
pub const CACHE_GENERATED_VIDEO: &str = "generated.mp4";
pub const CACHE_COMPOSITE_VIDEO: &str = "composite.mp4";

/// The cached final frames of one generation (lossless PNG) and how long it took.
pub struct CachedFinal {
    pub generated: Frames,
    pub composite: Frames,
    pub seconds: f64,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: String,
    key: GenerationKey,
    seconds: f64,
}

const CACHE_FORMAT: &str = "handtwin.rank_cache";

impl CacheEntry {
    pub fn new(cache_dir: &Path, key: &GenerationKey) -> Self {
        Self {
            dir: cache_dir.join(key.id()),
        }
    }

    /// The cached final frames, when the entry exists and holds this key (`Ok(None)`: not cached).
    pub fn load(&self, key: &GenerationKey) -> Result<Option<CachedFinal>, RankError> {
        let Some(seconds) = self.stored(key)? else {
            return Ok(None);
        };
        let read = |name: &str| -> Result<Frames, RankError> {
            let path = self.dir.join(name);
            let image = image::open(&path)
                .map_err(|e| RankError::Cache {
                    path: path.clone(),
                    message: format!(
                        "cannot read the cached frame ({e}); delete the folder to regenerate it"
                    ),
                })?
                .to_rgb8();
            Frames::from_images(vec![image], 8.0).map_err(|e| RankError::Cache {
                path,
                message: e.to_string(),
            })
        };
        Ok(Some(CachedFinal {
            generated: read(CACHE_GENERATED_LAST)?,
            composite: read(CACHE_COMPOSITE_LAST)?,
            seconds,
        }))
    }

    /// Whether the entry exists and holds this key (its key file alone is read).
    pub fn contains(&self, key: &GenerationKey) -> bool {
        matches!(self.stored(key), Ok(Some(_)))
    }

    /// The generation's seconds when the entry's key file holds this key (`Ok(None)`: not cached).
    fn stored(&self, key: &GenerationKey) -> Result<Option<f64>, RankError> {
        let key_path = self.dir.join(CACHE_KEY_FILE);
        let Ok(text) = std::fs::read_to_string(&key_path) else {
            return Ok(None);
        };
        let stored: KeyFile = serde_json::from_str(&text).map_err(|e| RankError::Cache {
            path: key_path.clone(),
            message: format!("not a cache key file ({e}); delete the folder to regenerate it"),
        })?;
        Ok((stored.format == CACHE_FORMAT && &stored.key == key).then_some(stored.seconds))
    }

    /// Stores a generation: the final frames as PNG, the key, and whatever `write_videos` puts in the folder it
    /// is given (the clips as MP4); the folder appears under its name only once everything is written.
    pub fn store(
        &self,
        key: &GenerationKey,
        generated: &Frames,
        composite: &Frames,
        seconds: f64,
        write_videos: impl FnOnce(&Path) -> Result<(), String>,
    ) -> Result<(), RankError> {
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|source| RankError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
        let temporary = parent.join(format!(
            ".{}.partial-{}",
            self.dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RankError::Io { path, source }
        };
        if temporary.exists() {
            std::fs::remove_dir_all(&temporary).map_err(io(&temporary))?;
        }
        std::fs::create_dir_all(&temporary).map_err(io(&temporary))?;
        let written = self.fill(&temporary, key, generated, composite, seconds, write_videos);
        if written.is_err() {
            let _ = std::fs::remove_dir_all(&temporary);
            return written;
        }
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).map_err(io(&self.dir))?;
        }
        std::fs::rename(&temporary, &self.dir).map_err(io(&self.dir))?;
        Ok(())
    }

    fn fill(
        &self,
        temporary: &Path,
        key: &GenerationKey,
        generated: &Frames,
        composite: &Frames,
        seconds: f64,
        write_videos: impl FnOnce(&Path) -> Result<(), String>,
    ) -> Result<(), RankError> {
        for (name, clip) in [
            (CACHE_GENERATED_LAST, generated),
            (CACHE_COMPOSITE_LAST, composite),
        ] {
            let path = temporary.join(name);
            let last = last_frame(clip)
                .and_then(|f| f.frame_image(0))
                .ok_or_else(|| RankError::Empty(name.into()))?;
            last.save(&path).map_err(|e| RankError::Cache {
                path: path.clone(),
                message: e.to_string(),
            })?;
        }
        write_videos(temporary).map_err(|message| RankError::Cache {
            path: temporary.to_path_buf(),
            message,
        })?;
        let key_file = KeyFile {
            format: CACHE_FORMAT.into(),
            key: key.clone(),
            seconds,
        };
        let json = serde_json::to_string_pretty(&key_file).unwrap_or_default();
        let key_path = temporary.join(CACHE_KEY_FILE);
        std::fs::write(&key_path, json).map_err(|source| RankError::Io {
            path: key_path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_share_ties_and_tallies_count_them_at_chance() {
        assert_eq!(ranks_with_ties(&[0.3, 0.1, 0.2], 0.0), vec![3.0, 1.0, 2.0]);
        assert_eq!(ranks_with_ties(&[0.5, 0.5, 0.5], 0.0), vec![2.0, 2.0, 2.0]);
        assert_eq!(ranks_with_ties(&[0.1, 0.5, 0.5], 0.0), vec![1.0, 2.5, 2.5]);
        assert_eq!(order(&[0.3, 0.1, 0.2]), vec![1, 2, 0]);

        let mut static_copy = Tally::new("static");
        let mut perfect = Tally::new("oracle");
        for truth in 0..3 {
            static_copy.add(&[0.4, 0.4, 0.4], truth);
            let mut d = [0.5, 0.6, 0.7];
            d[truth] = 0.0;
            perfect.add(&d, truth);
        }
        assert!((static_copy.accuracy() - 1.0 / 3.0).abs() < 1e-12);
        assert!((static_copy.mean_rank() - 2.0).abs() < 1e-12);
        assert!((static_copy.chance() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            perfect.line(),
            "oracle: top-1 3/3 (100%), mean rank 1.00, chance 33%"
        );
        assert_eq!(
            static_copy.line(),
            "static: top-1 1/3 (33%), mean rank 2.00, chance 33%"
        );
        let mut half = Tally::new("m");
        half.add(&[0.1, 0.1, 0.9], 0);
        assert_eq!(
            half.line(),
            "m: top-1 0.5/1 (50%), mean rank 1.50, chance 33%"
        );
    }

    #[test]
    fn spread_is_the_population_deviation() {
        let s = Spread::of(&[1.0, 3.0]).unwrap();
        assert_eq!((s.mean, s.spread), (2.0, 1.0));
        assert!(Spread::of(&[]).is_none());
    }

    fn clip(width: u32, height: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Frames {
        let mut bytes = Vec::new();
        for y in 0..height {
            for x in 0..width {
                bytes.extend(f(x, y));
            }
        }
        Frames::new(width, height, 8.0, bytes).unwrap()
    }

    #[test]
    fn objects_region_leaves_out_every_candidates_hands() {
        let a = clip(100, 50, |x, _| if x < 10 { [200; 3] } else { [0; 3] });
        let b = clip(100, 50, |x, _| if x >= 90 { [200; 3] } else { [0; 3] });
        let region = objects_region(&[&a, &b]).unwrap();
        let margin = objects_margin(100);
        assert_eq!(margin, 4);
        for x in 0..100 {
            let inside = region.values[x];
            assert_eq!(inside, (10 + margin..90 - margin).contains(&x), "x {x}");
        }
        let all = clip(100, 50, |_, _| [200; 3]);
        assert!(matches!(
            objects_region(&[&all]),
            Err(RankError::EmptyRegion)
        ));
        let small = clip(50, 50, |_, _| [0; 3]);
        assert!(matches!(
            objects_region(&[&a, &small]),
            Err(RankError::Size { .. })
        ));
    }

    #[test]
    fn the_objects_region_is_blind_to_the_hands() {
        use candle_core::{DType, Device};
        let varmap = candle_nn::VarMap::new();
        let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let lpips = Lpips::new(super::super::lpips::Backbone::Alex, vb).unwrap();
        let scene = clip(64, 48, |x, y| [(x * 3) as u8, (y * 5) as u8, 90]);
        let hand = clip(64, 48, |x, y| {
            if (10..20).contains(&x) && (10..30).contains(&y) {
                [220, 150, 120]
            } else {
                [0; 3]
            }
        });
        let with_hand = crate::eval::metrics::paste_hands(&scene, &hand, HAND_THRESHOLD).unwrap();
        // The goal shows the hand; a frame of the scene alone differs from it only at the hand.
        let region = objects_region(&[&hand]).unwrap();
        let blind = GoalScorer::new(
            lpips.clone(),
            &with_hand,
            Some(region.clone()),
            Some(&scene),
        )
        .unwrap();
        assert_eq!(blind.score(&scene).unwrap().lpips, 0.0);
        assert_eq!(blind.score(&scene).unwrap().psnr, None);
        // Over the whole frame the hand counts.
        let whole = GoalScorer::new(lpips, &with_hand, None, Some(&scene)).unwrap();
        // (Random weights: the distance may have either sign, but it is not zero.)
        assert!(whole.score(&scene).unwrap().lpips != 0.0);
        assert!(whole.score(&with_hand).unwrap().lpips == 0.0);
    }

    #[test]
    fn keys_name_everything_a_clip_depends_on() {
        let key = GenerationKey {
            model: "/m".into(),
            model_fingerprint: "f".into(),
            lora: None,
            device: "cpu".into(),
            dtype: "f32".into(),
            steps: 4,
            guidance: 1.0,
            seed: 1,
            prompt: "p".into(),
            static_video: frames_digest(&clip(4, 4, |_, _| [1; 3])),
            hand_video: frames_digest(&clip(4, 4, |_, _| [2; 3])),
        };
        let other_seed = GenerationKey {
            seed: 2,
            ..key.clone()
        };
        assert_ne!(key.id(), other_seed.id());
        assert_ne!(key.static_video, key.hand_video);
        assert_eq!(key.id(), key.clone().id());
        assert_eq!(key.id().len(), 32);

        let dir = tempfile::tempdir().unwrap();
        let entry = CacheEntry::new(dir.path(), &key);
        assert!(entry.load(&key).unwrap().is_none());
        let generated = clip(40, 30, |x, y| [x as u8, y as u8, 7]);
        let composite = clip(40, 30, |x, _| [x as u8, 0, 0]);
        entry
            .store(&key, &generated, &composite, 1.5, |folder| {
                std::fs::write(folder.join("extra.txt"), "ok").map_err(|e| e.to_string())
            })
            .unwrap();
        assert!(entry.contains(&key) && !entry.contains(&other_seed));
        let cached = entry.load(&key).unwrap().unwrap();
        assert_eq!(cached.generated.as_bytes(), generated.as_bytes());
        assert_eq!(cached.composite.as_bytes(), composite.as_bytes());
        assert_eq!(cached.seconds, 1.5);
        assert!(entry.dir.join("extra.txt").is_file());
        // Another key under the same folder name is not served.
        assert!(entry.load(&other_seed).unwrap().is_none());
        // A failed store leaves no entry.
        let failing = CacheEntry::new(dir.path(), &other_seed);
        assert!(
            failing
                .store(&other_seed, &generated, &composite, 1.0, |_| Err(
                    "disk full".into()
                ))
                .is_err()
        );
        assert!(!failing.dir.exists());
    }

    #[test]
    fn the_font_writes_digits() {
        let mut image = image::RgbImage::new(40, 10);
        draw_text(&mut image, 0, 0, "#1 0.5", 1, [255, 255, 255]);
        let lit = image.pixels().filter(|p| p.0[0] == 255).count();
        assert!(lit > 20, "{lit}");
        assert!(glyph('x').is_none());
    }
}
