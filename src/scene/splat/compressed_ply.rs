//! PlayCanvas/SuperSplat `.compressed.ply` (binary little-endian), as written by PlayCanvas splat-transform
//! (`write-compressed-ply.ts`, `compressed-chunk.ts`) and gsplat (`splat2ply_bytes_compressed`), decoded as
//! splat-transform's `decompress-ply.ts` does:
//!
//! - `element chunk` (one per 256 splats, float): `min_x..max_z`, `min_scale_x..max_scale_z` (log scales),
//!   optionally `min_r..max_b` (display colour range; older files have none).
//! - `element vertex` (uint32 each): `packed_position` 11/10/11 bits lerped in the chunk's box;
//!   `packed_rotation` 2 bits naming the largest of (rot_0..rot_3) = (w, x, y, z) and the other three in file
//!   order, 10 bits each over ±1/√2 ("smallest three"); `packed_scale` 11/10/11 bits lerped between the chunk's
//!   log-scale bounds; `packed_color` 8/8/8/8 RGBA: rgb lerped in the chunk's colour range (or taken as is),
//!   DC = (rgb − 0.5)/SH_C0, a = opacity after the sigmoid.
//! - optional `element sh` (uchar `f_rest_*`, 0/9/24/45 of them, INRIA order): v ↦ n = 0, 1 or (v + 0.5)/256 for
//!   v = 0, 255 or else, coefficient = (n − 0.5)·8.

use super::ply::{
    Element, Header, Scalar, binary_bytes_of, for_each_record, sh_degree_of_rest, skip, splat_count,
};
use super::{RawSplat, SH_C0, SplatCloud, SplatLoadError};
use glam::Vec3;
use std::io::BufRead;
use std::path::Path;

pub(super) const COMPRESSED: &str = "compressed PLY";
const CHUNK_SIZE: usize = 256;

const CHUNK_BOUNDS: [&str; 12] = [
    "min_x",
    "min_y",
    "min_z",
    "max_x",
    "max_y",
    "max_z",
    "min_scale_x",
    "min_scale_y",
    "min_scale_z",
    "max_scale_x",
    "max_scale_y",
    "max_scale_z",
];
const CHUNK_COLORS: [&str; 6] = ["min_r", "min_g", "min_b", "max_r", "max_g", "max_b"];
const PACKED: [&str; 4] = [
    "packed_position",
    "packed_rotation",
    "packed_scale",
    "packed_color",
];

/// One chunk's bounds.
struct Chunk {
    min: Vec3,
    max: Vec3,
    min_log_scale: Vec3,
    max_log_scale: Vec3,
    /// Display-colour range, if the file has one.
    colors: Option<(Vec3, Vec3)>,
}

pub(super) fn read_compressed(
    reader: &mut impl BufRead,
    header: &Header,
    size: u64,
    path: &Path,
) -> Result<SplatCloud, SplatLoadError> {
    let header_error = |reason: String| SplatLoadError::Header {
        path: path.to_path_buf(),
        format: COMPRESSED,
        reason,
    };
    let missing = |element: &Element, property: &str| SplatLoadError::MissingProperty {
        path: path.to_path_buf(),
        format: COMPRESSED,
        element: element.name.clone(),
        property: property.into(),
    };
    let position_of = |name: &str| header.elements.iter().position(|e| e.name == name);
    let chunk_at = position_of("chunk")
        .ok_or_else(|| header_error("packed vertex properties but no `chunk` element".into()))?;
    let vertex_at =
        position_of("vertex").ok_or_else(|| header_error("no vertex element".into()))?;
    let sh_at = position_of("sh");
    if chunk_at > vertex_at || sh_at.is_some_and(|sh| sh < vertex_at) {
        return Err(header_error(
            "elements must come in the order chunk, vertex, sh (as PlayCanvas writes them)".into(),
        ));
    }
    let (chunk, vertex) = (&header.elements[chunk_at], &header.elements[vertex_at]);
    let count = splat_count(vertex.count, path)?;
    let chunks = count.div_ceil(CHUNK_SIZE);
    if chunk.count != chunks as u64 {
        return Err(header_error(format!(
            "{} chunks for {count} splats; the format has one per 256 splats ({chunks})",
            chunk.count
        )));
    }

    // Columns, checked before any data is read.
    let scalar_column =
        |element: &Element, name: &str| -> Result<(usize, Scalar), SplatLoadError> {
            let column = element.column(name).ok_or_else(|| missing(element, name))?;
            let scalar = element.properties[column]
                .scalar
                .ok_or_else(|| header_error(format!("`{name}` is a list")))?;
            Ok((column, scalar))
        };
    let bounds: Vec<(usize, Scalar)> = CHUNK_BOUNDS
        .iter()
        .map(|name| scalar_column(chunk, name))
        .collect::<Result<_, _>>()?;
    let colors: Option<Vec<(usize, Scalar)>> = if chunk.column("min_r").is_some() {
        Some(
            CHUNK_COLORS
                .iter()
                .map(|name| scalar_column(chunk, name))
                .collect::<Result<_, _>>()?,
        )
    } else {
        None
    };
    let packed: Vec<(usize, Scalar)> = PACKED
        .iter()
        .map(|name| {
            let (column, scalar) = scalar_column(vertex, name)?;
            if scalar.size() != 4 || matches!(scalar, Scalar::F32) {
                return Err(header_error(format!(
                    "`{name}` is {scalar}; the format packs it in a uint"
                )));
            }
            Ok((column, scalar))
        })
        .collect::<Result<_, _>>()?;
    let sh = match sh_at {
        Some(at) => {
            let sh = &header.elements[at];
            if sh.count != vertex.count {
                return Err(header_error(format!(
                    "{} sh rows for {count} splats",
                    sh.count
                )));
            }
            let rest = sh.properties.len();
            sh_degree_of_rest(rest).ok_or_else(|| {
                header_error(format!(
                    "{rest} sh properties; compressed PLY has 0, 9, 24 or 45 (SH degree 0 to 3)"
                ))
            })?;
            let columns: Vec<usize> = (0..rest)
                .map(|i| {
                    let name = format!("f_rest_{i}");
                    let (column, scalar) = scalar_column(sh, &name)?;
                    if scalar != Scalar::U8 {
                        return Err(header_error(format!("`{name}` is {scalar}, not uchar")));
                    }
                    Ok(column)
                })
                .collect::<Result<_, _>>()?;
            Some((sh, columns))
        }
        None => None,
    };
    let sh_degree = sh
        .as_ref()
        .and_then(|(_, columns)| sh_degree_of_rest(columns.len()))
        .unwrap_or(0);

    // Sizes, before anything is allocated.
    let last = sh_at.unwrap_or(vertex_at);
    let needed = binary_bytes_of(&header.elements[..=last], COMPRESSED, path)?;
    let available = size.saturating_sub(header.length);
    if needed > available {
        return Err(SplatLoadError::Truncated {
            path: path.to_path_buf(),
            format: COMPRESSED,
            what: format!(
                "the header promises {count} splats in {chunks} chunks ({needed} bytes after the header), the \
                 file has {available}"
            ),
        });
    }

    skip(
        reader,
        binary_bytes_of(&header.elements[..chunk_at], COMPRESSED, path)?,
        COMPRESSED,
        path,
    )?;
    let mut chunk_bounds = Vec::with_capacity(chunks);
    let offsets = chunk.offsets();
    let stride = chunk.stride().unwrap_or(0);
    for_each_record(reader, chunks, stride, COMPRESSED, path, |index, record| {
        let value = |&(column, scalar): &(usize, Scalar)| -> Result<f32, SplatLoadError> {
            let v = scalar.read(record.get(offsets[column]..).unwrap_or(&[]));
            if v.is_finite() {
                Ok(v)
            } else {
                Err(SplatLoadError::ChunkValue {
                    path: path.to_path_buf(),
                    chunk: index,
                    property: chunk.properties[column].name.clone(),
                    reason: format!("{v} is not finite"),
                })
            }
        };
        let vec3 = |columns: &[(usize, Scalar)]| -> Result<Vec3, SplatLoadError> {
            Ok(Vec3::new(
                value(&columns[0])?,
                value(&columns[1])?,
                value(&columns[2])?,
            ))
        };
        chunk_bounds.push(Chunk {
            min: vec3(&bounds[0..3])?,
            max: vec3(&bounds[3..6])?,
            min_log_scale: vec3(&bounds[6..9])?,
            max_log_scale: vec3(&bounds[9..12])?,
            colors: match &colors {
                Some(columns) => Some((vec3(&columns[0..3])?, vec3(&columns[3..6])?)),
                None => None,
            },
        });
        Ok(())
    })?;

    skip(
        reader,
        binary_bytes_of(&header.elements[chunk_at + 1..vertex_at], COMPRESSED, path)?,
        COMPRESSED,
        path,
    )?;
    let k = (sh_degree + 1) * (sh_degree + 1);
    let mut cloud = SplatCloud::with_capacity(count, sh_degree);
    let offsets = vertex.offsets();
    let stride = vertex.stride().unwrap_or(0);
    for_each_record(reader, count, stride, COMPRESSED, path, |index, record| {
        let word = |i: usize| {
            let (column, scalar) = packed[i];
            scalar.read_bits(record.get(offsets[column]..).unwrap_or(&[]))
        };
        let Some(chunk) = chunk_bounds.get(index / CHUNK_SIZE) else {
            return Err(header_error(format!("no chunk for splat {index}")));
        };
        let position = unpack_111011(word(0));
        let scale = unpack_111011(word(2));
        let [r, g, b, a] = unpack_8888(word(3));
        let display = Vec3::new(r, g, b);
        let display = match chunk.colors {
            Some((low, high)) => lerp(low, high, display),
            None => display,
        };
        cloud.push_checked(
            RawSplat {
                mean: lerp(chunk.min, chunk.max, position),
                scale: lerp(chunk.min_log_scale, chunk.max_log_scale, scale).exp(),
                rotation_wxyz: unpack_rotation(word(1)),
                opacity: a,
            },
            index,
            path,
        )?;
        // Finite chunk ranges can still overflow in the lerp (found by the long fuzz campaign).
        let dc = (display - Vec3::splat(0.5)) / SH_C0;
        if !dc.is_finite() {
            return Err(SplatLoadError::Value {
                path: path.to_path_buf(),
                index,
                property: "packed_color".into(),
                reason: format!("the chunk's colour range gives {display}, not a finite colour"),
            });
        }
        cloud.sh.push(dc.to_array());
        cloud.sh.extend(std::iter::repeat_n([0.0; 3], k - 1));
        Ok(())
    })?;

    if let (Some((sh, columns)), Some(sh_at)) = (sh, sh_at) {
        skip(
            reader,
            binary_bytes_of(&header.elements[vertex_at + 1..sh_at], COMPRESSED, path)?,
            COMPRESSED,
            path,
        )?;
        let offsets = sh.offsets();
        let per_channel = columns.len() / 3;
        let stride = sh.stride().unwrap_or(0);
        let sh_values = &mut cloud.sh;
        for_each_record(reader, count, stride, COMPRESSED, path, |index, record| {
            for (i, column) in columns.iter().enumerate() {
                let byte = record.get(offsets[*column]).copied().unwrap_or(128);
                let (channel, coefficient) = (i / per_channel, i % per_channel);
                if let Some(slot) = sh_values.get_mut(index * k + 1 + coefficient) {
                    slot[channel] = sh_from_byte(byte);
                }
            }
            Ok(())
        })?;
    }
    Ok(cloud)
}

fn lerp(low: Vec3, high: Vec3, t: Vec3) -> Vec3 {
    low * (Vec3::ONE - t) + high * t
}

fn unorm(value: u32, bits: u32) -> f32 {
    let max = (1u32 << bits) - 1;
    (value & max) as f32 / max as f32
}

fn unpack_111011(word: u32) -> Vec3 {
    Vec3::new(
        unorm(word >> 21, 11),
        unorm(word >> 11, 10),
        unorm(word, 11),
    )
}

fn unpack_8888(word: u32) -> [f32; 4] {
    [
        unorm(word >> 24, 8),
        unorm(word >> 16, 8),
        unorm(word >> 8, 8),
        unorm(word, 8),
    ]
}

/// "Smallest three": the largest component (index in the top 2 bits) is rebuilt from the unit norm.
fn unpack_rotation(word: u32) -> [f32; 4] {
    let component = |shift: u32| (unorm(word >> shift, 10) - 0.5) * std::f32::consts::SQRT_2;
    let small = [component(20), component(10), component(0)];
    let largest = (word >> 30) as usize;
    let rebuilt = (1.0 - small.iter().map(|c| c * c).sum::<f32>())
        .max(0.0)
        .sqrt();
    let mut q = [0.0; 4];
    let mut next = small.into_iter();
    for (i, slot) in q.iter_mut().enumerate() {
        *slot = if i == largest {
            rebuilt
        } else {
            next.next().unwrap_or(0.0)
        };
    }
    q
}

fn sh_from_byte(byte: u8) -> f32 {
    let n = match byte {
        0 => 0.0,
        255 => 1.0,
        v => (v as f32 + 0.5) / 256.0,
    };
    (n - 0.5) * 8.0
}
