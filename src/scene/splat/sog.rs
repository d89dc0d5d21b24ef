//! PlayCanvas SOG (what SuperSplat publishes), version 2: a `meta.json` and seven WebP images (lossless), bundled
//! in one zip (`.sog`) or side by side. Each splat is one texel of each image, row by row. Decoded as PlayCanvas
//! documents and its splat-transform reads it:
//!
//! - means: 16 bits per axis, low byte in `means_l`, high byte in `means_u`, a lerp between `mins` and `maxs`
//!   of `sign(x)·ln(|x| + 1)`, inverted;
//! - quats: "smallest three" — three bytes as `(v·√2 + 1)/2 · 255` and the alpha 252 + the largest component's
//!   index (w x y z);
//! - scales: three bytes indexing a 256-entry codebook of log scales;
//! - sh0: three bytes indexing a codebook of DC coefficients, the alpha the opacity after the sigmoid;
//! - shN (optional): a 16-bit label per splat (`shN_labels` red + green·256) into a palette (`shN_centroids`,
//!   64 entries per row, one texel per coefficient, RGB indexing a codebook).
//!
//! Version 1 (no `version` in meta.json) is refused by name.

use super::{RawSplat, SplatCloud, SplatLoadError};
use glam::Vec3;
use serde_json::Value;
use std::io::Read;
use std::path::Path;

const FORMAT: &str = "SOG";
/// SH coefficients per channel beyond DC, by band count.
const REST: [usize; 4] = [0, 3, 8, 15];
/// Entry size limits: a meta.json, and one image (a 16k × 16k RGBA WebP is far beyond any real SOG).
const MAX_META: u64 = 64 << 20;
const MAX_IMAGE: u64 = 512 << 20;

fn bad(path: &Path, reason: String) -> SplatLoadError {
    SplatLoadError::Header {
        path: path.to_path_buf(),
        format: FORMAT,
        reason,
    }
}

/// Where the files of a SOG come from.
enum Files<'a> {
    Zip(zip::ZipArchive<std::io::Cursor<&'a [u8]>>),
    Folder(&'a Path),
}

impl Files<'_> {
    fn read(&mut self, name: &str, limit: u64, path: &Path) -> Result<Vec<u8>, SplatLoadError> {
        if name.contains("..") || name.starts_with('/') || name.contains('\\') {
            return Err(bad(
                path,
                format!("the file name \"{name}\" leaves the SOG"),
            ));
        }
        let mut out = Vec::new();
        match self {
            Files::Zip(archive) => {
                let entry = archive
                    .by_name(name)
                    .map_err(|e| bad(path, format!("the bundle has no {name} ({e})")))?;
                if entry.size() > limit {
                    return Err(bad(
                        path,
                        format!("{name} is {} bytes, more than {limit}", entry.size()),
                    ));
                }
                entry
                    .take(limit)
                    .read_to_end(&mut out)
                    .map_err(|e| bad(path, format!("{name}: {e}")))?;
            }
            Files::Folder(dir) => {
                let file = dir.join(name);
                let f = std::fs::File::open(&file).map_err(|source| SplatLoadError::Io {
                    path: file.clone(),
                    source,
                })?;
                f.take(limit)
                    .read_to_end(&mut out)
                    .map_err(|source| SplatLoadError::Io { path: file, source })?;
            }
        }
        Ok(out)
    }
}

/// A decoded image: RGBA texels, row by row.
struct Texture {
    width: usize,
    rgba: Vec<u8>,
}

fn image(
    files: &mut Files,
    meta: &Value,
    key: &str,
    index: usize,
    count: usize,
    path: &Path,
) -> Result<Texture, SplatLoadError> {
    let name = meta[key]["files"][index]
        .as_str()
        .ok_or_else(|| bad(path, format!("meta.json: {key}.files[{index}] is missing")))?;
    let bytes = files.read(name, MAX_IMAGE, path)?;
    // The decoder allocates what the image's header claims: bound it by what `count` texels need (twice, for
    // rounding to a rectangle) before it does, plus room for small images.
    let mut reader =
        image::ImageReader::with_format(std::io::Cursor::new(&bytes), image::ImageFormat::WebP);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some((count as u64).saturating_mul(8).saturating_add(64 << 20));
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|e| {
            bad(
                path,
                format!("{name} is not a WebP image of at most {count} texels: {e}"),
            )
        })?
        .to_rgba8();
    let (width, height) = (decoded.width() as usize, decoded.height() as usize);
    if width * height < count {
        return Err(bad(
            path,
            format!("{name} is {width}×{height}, too small for {count} splats"),
        ));
    }
    Ok(Texture {
        width,
        rgba: decoded.into_raw(),
    })
}

fn codebook(meta: &Value, key: &str, path: &Path) -> Result<Vec<f32>, SplatLoadError> {
    let values = meta[key]["codebook"]
        .as_array()
        .ok_or_else(|| bad(path, format!("meta.json: {key}.codebook is missing")))?;
    if values.len() != 256 {
        return Err(bad(
            path,
            format!(
                "meta.json: {key}.codebook has {} entries, not 256",
                values.len()
            ),
        ));
    }
    values
        .iter()
        .map(|v| {
            v.as_f64()
                .map(|v| v as f32)
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    bad(
                        path,
                        format!("meta.json: {key}.codebook holds {v}, not a finite number"),
                    )
                })
        })
        .collect()
}

fn inverse_log(v: f32) -> f32 {
    let e = v.abs().exp() - 1.0;
    if v < 0.0 { -e } else { e }
}

/// A SOG bundle (`.sog`, a zip).
pub(super) fn read_sog_bundle(bytes: &[u8], path: &Path) -> Result<SplatCloud, SplatLoadError> {
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(path, format!("not a zip bundle: {e}")))?;
    read_sog(Files::Zip(archive), path)
}

/// An unbundled SOG: `path` is its `meta.json`, the images beside it.
pub(super) fn read_sog_folder(path: &Path) -> Result<SplatCloud, SplatLoadError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    read_sog(Files::Folder(dir), path)
}

fn read_sog(mut files: Files, path: &Path) -> Result<SplatCloud, SplatLoadError> {
    let meta_bytes = match &mut files {
        Files::Zip(_) => files.read("meta.json", MAX_META, path)?,
        Files::Folder(_) => {
            let mut out = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(MAX_META).read_to_end(&mut out))
                .map_err(|source| SplatLoadError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
            out
        }
    };
    let meta: Value = serde_json::from_slice(&meta_bytes)
        .map_err(|e| bad(path, format!("meta.json does not parse: {e}")))?;
    match meta["version"].as_u64() {
        Some(2) => {}
        None => return Err(bad(
            path,
            "version 1 (no \"version\" in meta.json); re-save it with a current splat-transform"
                .into(),
        )),
        Some(v) => return Err(bad(path, format!("version {v} (handtwin reads version 2)"))),
    }
    let count = meta["count"]
        .as_u64()
        .ok_or_else(|| bad(path, "meta.json has no count".into()))?;
    if count > super::MAX_SPLATS {
        return Err(SplatLoadError::TooManySplats {
            path: path.to_path_buf(),
            count,
            limit: super::MAX_SPLATS,
        });
    }
    let count = count as usize;
    let range = |key: &str| -> Result<Vec3, SplatLoadError> {
        let v = meta["means"][key]
            .as_array()
            .filter(|a| a.len() == 3)
            .ok_or_else(|| bad(path, format!("meta.json: means.{key} is not three numbers")))?;
        let f = |i: usize| v[i].as_f64().map(|x| x as f32).filter(|x| x.is_finite());
        match (f(0), f(1), f(2)) {
            (Some(x), Some(y), Some(z)) => Ok(Vec3::new(x, y, z)),
            _ => Err(bad(
                path,
                format!("meta.json: means.{key} is not three finite numbers"),
            )),
        }
    };
    let (mins, maxs) = (range("mins")?, range("maxs")?);
    let span = (maxs - mins)
        .to_array()
        .map(|s| if s == 0.0 { 1.0 } else { s });
    let span = Vec3::from_array(span);
    let lo = image(&mut files, &meta, "means", 0, count, path)?;
    let hi = image(&mut files, &meta, "means", 1, count, path)?;
    let quats = image(&mut files, &meta, "quats", 0, count, path)?;
    let scales = image(&mut files, &meta, "scales", 0, count, path)?;
    let scale_code = codebook(&meta, "scales", path)?;
    let sh0 = image(&mut files, &meta, "sh0", 0, count, path)?;
    let dc_code = codebook(&meta, "sh0", path)?;
    let bands = match meta.get("shN") {
        None | Some(Value::Null) => 0,
        Some(shn) => {
            let bands = shn["bands"].as_u64().unwrap_or(0) as usize;
            if bands > 3 {
                return Err(bad(
                    path,
                    format!("meta.json: shN.bands is {bands} (at most 3)"),
                ));
            }
            bands
        }
    };
    let rest = REST[bands];
    let (mut labels, mut centroids, mut sh_code, mut palette) = (None, None, Vec::new(), 0);
    if rest > 0 {
        palette = meta["shN"]["count"].as_u64().unwrap_or(0).min(1 << 16) as usize;
        // The palette: 64 entries a row, one texel per coefficient.
        let c = image(
            &mut files,
            &meta,
            "shN",
            0,
            palette.div_ceil(64) * 64 * rest,
            path,
        )?;
        if c.width != 64 * rest {
            return Err(bad(
                path,
                format!(
                    "shN centroids are {} texels wide; {bands} bands need {}",
                    c.width,
                    64 * rest
                ),
            ));
        }
        centroids = Some(c);
        labels = Some(image(&mut files, &meta, "shN", 1, count, path)?);
        sh_code = codebook(&meta, "shN", path)?;
    }
    let mut cloud = SplatCloud::with_capacity(count, bands);
    const QUAT_INDEX: [[usize; 3]; 4] = [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]];
    for i in 0..count {
        let t = i * 4;
        let axis = |c: usize| {
            let v =
                f32::from(u16::from(lo.rgba[t + c]) | (u16::from(hi.rgba[t + c]) << 8)) / 65535.0;
            inverse_log(mins[c] + span[c] * v)
        };
        let tag = quats.rgba[t + 3];
        let rotation_wxyz = if (252..=255).contains(&tag) {
            let largest = usize::from(tag - 252);
            let mut q = [0.0f32; 4];
            let mut sum = 0.0;
            for (k, &slot) in QUAT_INDEX[largest].iter().enumerate() {
                let v =
                    (f32::from(quats.rgba[t + k]) / 255.0 * 2.0 - 1.0) / std::f32::consts::SQRT_2;
                q[slot] = v;
                sum += v * v;
            }
            q[largest] = (1.0 - sum).max(0.0).sqrt();
            q
        } else {
            return Err(SplatLoadError::Value {
                path: path.to_path_buf(),
                index: i,
                property: "rotation".into(),
                reason: format!("quats alpha {tag} is not 252..255"),
            });
        };
        let s = |c: usize| scale_code[usize::from(scales.rgba[t + c])].exp();
        cloud.push_checked(
            RawSplat {
                mean: Vec3::new(axis(0), axis(1), axis(2)),
                scale: Vec3::new(s(0), s(1), s(2)),
                rotation_wxyz,
                opacity: f32::from(sh0.rgba[t + 3]) / 255.0,
            },
            i,
            path,
        )?;
        let dc = |c: usize| dc_code[usize::from(sh0.rgba[t + c])];
        cloud.sh.push([dc(0), dc(1), dc(2)]);
        if let (Some(labels), Some(centroids)) = (&labels, &centroids) {
            let label = usize::from(labels.rgba[t]) | (usize::from(labels.rgba[t + 1]) << 8);
            let row = label / 64;
            let base = (label % 64) * rest;
            for j in 0..rest {
                let at = (row * centroids.width + base + j) * 4;
                let value = |c: usize| {
                    centroids
                        .rgba
                        .get(at + c)
                        .filter(|_| label < palette)
                        .map_or(0.0, |&b| sh_code[usize::from(b)])
                };
                cloud.sh.push([value(0), value(1), value(2)]);
            }
        }
    }
    Ok(cloud)
}
