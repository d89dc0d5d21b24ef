//! Niantic SPZ (`.spz`), the versions its reference implementation writes: 2 and 3 (the whole file one gzip
//! stream: a 16-byte header, then every splat's positions, alphas, colours, scales, rotations and SH, attribute
//! by attribute) and 4 (a 32-byte plain header, optional extensions, a table of contents, then one ZSTD stream
//! per attribute). Quantisation, as the reference and PlayCanvas splat-transform decode it:
//!
//! - position: three signed 24-bit fixed-point numbers, `fractional_bits` after the point;
//! - alpha: the opacity after the sigmoid, × 255;
//! - colour: the SH DC coefficient c as `(c · 0.15 + 0.5) · 255` (0.15, not SH_C0);
//! - scale: the log scale as `(log s + 10) · 16`;
//! - rotation: version 2, x y z as `(v + 1) · 127.5` with w ≥ 0 recovered; versions 3 and 4, "smallest three"
//!   in 32 bits (the largest component's index in the top 2 bits, the other three as sign + 9-bit magnitude
//!   of v / √½);
//! - SH beyond DC: `v · 128 + 128` per coefficient, the three channels of a coefficient together.
//!
//! Coordinates are taken as stored (the format records none; splat-transform writes PLY's axes unchanged and
//! reads them back raw, and so does handtwin). SH degree 4 is refused by name: 3DGS renderers stop at 3.

use super::{RawSplat, SplatCloud, SplatLoadError};
use glam::Vec3;
use std::io::Read;
use std::path::Path;

const FORMAT: &str = "SPZ";
const MAGIC: u32 = 0x5053_474e; // "NGSP"
const COLOR_SCALE: f32 = 0.15;
/// SH coefficients per channel beyond DC, by degree.
const REST_PER_CHANNEL: [usize; 4] = [0, 3, 8, 15];

/// Whether `bytes` start like an SPZ file: a gzip stream (versions 2 and 3) or the plain "NGSP" header (4).
pub(super) fn looks_like_spz(bytes: &[u8], path: &Path) -> bool {
    let is_spz_name = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("spz"));
    bytes.starts_with(b"NGSP") || (is_spz_name && bytes.starts_with(&[0x1f, 0x8b]))
}

struct Header {
    version: u32,
    count: usize,
    sh_degree: usize,
    fractional_bits: u32,
}

fn header_error(path: &Path, reason: String) -> SplatLoadError {
    SplatLoadError::Header {
        path: path.to_path_buf(),
        format: FORMAT,
        reason,
    }
}

fn truncated(path: &Path, what: String) -> SplatLoadError {
    SplatLoadError::Truncated {
        path: path.to_path_buf(),
        format: FORMAT,
        what,
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Parses the first 16 bytes (common to every version).
fn parse_header(bytes: &[u8], path: &Path) -> Result<Header, SplatLoadError> {
    if bytes.len() < 16 {
        return Err(truncated(path, "the 16-byte header is incomplete".into()));
    }
    if u32_at(bytes, 0) != MAGIC {
        return Err(header_error(path, "no \"NGSP\" magic".into()));
    }
    let version = u32_at(bytes, 4);
    if !(2..=4).contains(&version) {
        return Err(header_error(
            path,
            format!("version {version} (handtwin reads versions 2, 3 and 4)"),
        ));
    }
    let count = u64::from(u32_at(bytes, 8));
    if count > super::MAX_SPLATS {
        return Err(SplatLoadError::TooManySplats {
            path: path.to_path_buf(),
            count,
            limit: super::MAX_SPLATS,
        });
    }
    let sh_degree = usize::from(bytes[12]);
    if sh_degree > 3 {
        return Err(header_error(
            path,
            format!(
                "SH degree {sh_degree} (3DGS stops at degree 3; re-export with --filter-harmonics 3)"
            ),
        ));
    }
    let fractional_bits = u32::from(bytes[13]);
    if fractional_bits > 23 {
        return Err(header_error(
            path,
            format!("{fractional_bits} fractional bits in a 24-bit position"),
        ));
    }
    Ok(Header {
        version,
        count: count as usize,
        sh_degree,
        fractional_bits,
    })
}

/// The byte size of each attribute block, in file order: positions, alphas, colours, scales, rotations, SH.
fn block_sizes(h: &Header) -> [usize; 6] {
    let n = h.count;
    let rotation = if h.version == 2 { 3 } else { 4 };
    [
        n * 9,
        n,
        n * 3,
        n * 3,
        n * rotation,
        n * 3 * REST_PER_CHANNEL[h.sh_degree],
    ]
}

/// Reads at most `limit` bytes from a decompressor into a vector, refusing more.
fn read_limited(
    reader: impl Read,
    limit: usize,
    path: &Path,
    what: &str,
) -> Result<Vec<u8>, SplatLoadError> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| header_error(path, format!("{what}: {e}")))?;
    if out.len() > limit {
        return Err(header_error(
            path,
            format!("{what} decompresses to more than the {limit} bytes its header allows"),
        ));
    }
    Ok(out)
}

/// Reads an SPZ file's bytes (the whole file: SPZ is compressed, so it is small beside the cloud).
pub(super) fn read_spz(bytes: &[u8], path: &Path) -> Result<SplatCloud, SplatLoadError> {
    let blocks: Vec<Vec<u8>>;
    let header;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        // Versions 2 and 3: one gzip stream. Read the header first, so the rest is bounded by what it promises.
        let mut decoder = flate2::read::GzDecoder::new(bytes);
        let mut head = [0u8; 16];
        decoder.read_exact(&mut head).map_err(|e| {
            truncated(
                path,
                format!("the gzip stream ends before the header ({e})"),
            )
        })?;
        header = parse_header(&head, path)?;
        if header.version == 4 {
            return Err(header_error(
                path,
                "version 4 inside gzip (version 4 is not gzip-compressed)".into(),
            ));
        }
        let sizes = block_sizes(&header);
        let total: usize = sizes.iter().sum();
        let body = read_limited(decoder, total, path, "the gzip stream")?;
        if body.len() < total {
            return Err(truncated(
                path,
                format!(
                    "{} splats need {total} bytes after the header, the stream holds {}",
                    header.count,
                    body.len()
                ),
            ));
        }
        let mut at = 0;
        blocks = sizes
            .iter()
            .map(|&size| {
                let block = body[at..at + size].to_vec();
                at += size;
                block
            })
            .collect();
    } else {
        header = parse_header(bytes, path)?;
        if header.version < 4 {
            return Err(header_error(
                path,
                format!("version {} without gzip compression", header.version),
            ));
        }
        if bytes.len() < 32 {
            return Err(truncated(
                path,
                "the 32-byte version 4 header is incomplete".into(),
            ));
        }
        let sizes = block_sizes(&header);
        let expected_streams = if header.sh_degree == 0 { 5 } else { 6 };
        let streams = usize::from(bytes[15]);
        if streams != expected_streams {
            return Err(header_error(
                path,
                format!(
                    "{streams} streams; SH degree {} needs {expected_streams}",
                    header.sh_degree
                ),
            ));
        }
        let toc = u32_at(bytes, 16) as usize;
        let data_start = toc
            .checked_add(streams * 16)
            .filter(|&end| toc >= 32 && end <= bytes.len())
            .ok_or_else(|| {
                truncated(
                    path,
                    format!(
                        "the table of contents at byte {toc} lies outside the file ({} bytes)",
                        bytes.len()
                    ),
                )
            })?;
        let mut at = data_start;
        let mut decoded = Vec::with_capacity(6);
        for (i, &size) in sizes.iter().take(streams).enumerate() {
            let entry = toc + i * 16;
            let (compressed, uncompressed) = (u64_at(bytes, entry), u64_at(bytes, entry + 8));
            if uncompressed != size as u64 {
                return Err(header_error(
                    path,
                    format!(
                        "stream {i} holds {uncompressed} bytes, {} splats need {size}",
                        header.count
                    ),
                ));
            }
            let end = usize::try_from(compressed)
                .ok()
                .and_then(|c| at.checked_add(c))
                .filter(|&end| end <= bytes.len())
                .ok_or_else(|| {
                    truncated(
                        path,
                        format!("stream {i} ({compressed} bytes) runs past the file's end"),
                    )
                })?;
            let decoder = ruzstd::decoding::StreamingDecoder::new(&bytes[at..end])
                .map_err(|e| header_error(path, format!("stream {i} is not ZSTD: {e}")))?;
            let block = read_limited(decoder, size, path, &format!("stream {i}"))?;
            if block.len() != size {
                return Err(truncated(
                    path,
                    format!(
                        "stream {i} decompresses to {} of its {size} bytes",
                        block.len()
                    ),
                ));
            }
            decoded.push(block);
            at = end;
        }
        if decoded.len() == 5 {
            decoded.push(Vec::new());
        }
        blocks = decoded;
    }
    decode(&header, &blocks, path)
}

fn decode(h: &Header, blocks: &[Vec<u8>], path: &Path) -> Result<SplatCloud, SplatLoadError> {
    let [positions, alphas, colors, scales, rotations, sh] = [
        &blocks[0], &blocks[1], &blocks[2], &blocks[3], &blocks[4], &blocks[5],
    ];
    let rest = REST_PER_CHANNEL[h.sh_degree];
    let mut cloud = SplatCloud::with_capacity(h.count, h.sh_degree);
    let position_scale = 1.0 / (1u32 << h.fractional_bits) as f32;
    for i in 0..h.count {
        let fixed = |c: usize| {
            let o = i * 9 + c * 3;
            let v = i32::from(positions[o])
                | (i32::from(positions[o + 1]) << 8)
                | (i32::from(positions[o + 2]) << 16);
            // Sign-extend from 24 bits.
            ((v << 8) >> 8) as f32 * position_scale
        };
        let rotation_wxyz = if h.version == 2 {
            let c = |j: usize| f32::from(rotations[i * 3 + j]) / 127.5 - 1.0;
            let (x, y, z) = (c(0), c(1), c(2));
            [(1.0 - (x * x + y * y + z * z)).max(0.0).sqrt(), x, y, z]
        } else {
            let mut packed = u32::from_le_bytes([
                rotations[i * 4],
                rotations[i * 4 + 1],
                rotations[i * 4 + 2],
                rotations[i * 4 + 3],
            ]);
            let largest = (packed >> 30) as usize;
            let mask = (1u32 << 9) - 1;
            let mut q = [0.0f32; 4]; // x y z w
            let mut sum = 0.0;
            for j in (0..4).rev() {
                if j == largest {
                    continue;
                }
                let magnitude = (packed & mask) as f32;
                let negative = (packed >> 9) & 1 == 1;
                packed >>= 10;
                let v = std::f32::consts::FRAC_1_SQRT_2 * magnitude / mask as f32;
                q[j] = if negative { -v } else { v };
                sum += q[j] * q[j];
            }
            q[largest] = (1.0 - sum).max(0.0).sqrt();
            [q[3], q[0], q[1], q[2]]
        };
        let scale = |c: usize| (f32::from(scales[i * 3 + c]) / 16.0 - 10.0).exp();
        cloud.push_checked(
            RawSplat {
                mean: Vec3::new(fixed(0), fixed(1), fixed(2)),
                scale: Vec3::new(scale(0), scale(1), scale(2)),
                rotation_wxyz,
                opacity: f32::from(alphas[i]) / 255.0,
            },
            i,
            path,
        )?;
        let color = |c: usize| (f32::from(colors[i * 3 + c]) / 255.0 - 0.5) / COLOR_SCALE;
        cloud.sh.push([color(0), color(1), color(2)]);
        for coefficient in 0..rest {
            let at = i * rest * 3 + coefficient * 3;
            let v = |c: usize| (f32::from(sh[at + c]) - 128.0) / 128.0;
            cloud.sh.push([v(0), v(1), v(2)]);
        }
    }
    Ok(cloud)
}
