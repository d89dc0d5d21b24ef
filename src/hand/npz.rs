//! A reader for NumPy `.npz` archives (what `np.savez` / `np.savez_compressed` write): a zip of `.npy` files.
//!
//! Only what hand models need: little-endian (or byte-order-free) numeric arrays of any dimension, C or Fortran
//! order, read into `f64` (floats) or `i64` (integers and booleans). Object arrays (pickles) are refused.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Arrays larger than this are refused: no hand model comes near it, and a corrupt header must not make us
/// allocate gigabytes.
const MAX_ELEMENTS: usize = 64 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum NpzError {
    #[error("cannot read {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not a NumPy .npz archive (zip): {reason}")]
    NotZip { path: PathBuf, reason: String },
    #[error("{path}: array `{name}`: {reason}")]
    BadArray {
        path: PathBuf,
        name: String,
        reason: String,
    },
}

/// The numbers of one array, widened to one type per kind.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    Float(Vec<f64>),
    Int(Vec<i64>),
}

/// One array: its shape and its numbers in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
    /// NumPy's dtype string as stored (`<f4`, `<i8`, …), for messages.
    pub dtype: String,
}

impl NpyArray {
    pub fn len(&self) -> usize {
        match &self.data {
            NpyData::Float(v) => v.len(),
            NpyData::Int(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every array of an archive, by name (without the `.npy` suffix).
#[derive(Clone, Debug, Default)]
pub struct Npz {
    pub path: PathBuf,
    pub arrays: BTreeMap<String, NpyArray>,
}

pub fn read_npz(path: &Path) -> Result<Npz, NpzError> {
    let bytes = std::fs::read(path).map_err(|error| NpzError::Io {
        path: path.to_owned(),
        error,
    })?;
    parse_npz(path, &bytes)
}

/// Parses an archive held in memory; `path` only names it in errors.
pub fn parse_npz(path: &Path, bytes: &[u8]) -> Result<Npz, NpzError> {
    let not_zip = |reason: String| NpzError::NotZip {
        path: path.to_owned(),
        reason,
    };
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| not_zip(e.to_string()))?;
    let mut arrays = BTreeMap::new();
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| not_zip(format!("entry {index}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let file_name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let name = file_name
            .strip_suffix(".npy")
            .unwrap_or(&file_name)
            .to_owned();
        let bad = |reason: String| NpzError::BadArray {
            path: path.to_owned(),
            name: name.clone(),
            reason,
        };
        // The declared size bounds the read, so a lying header cannot make us allocate without limit.
        let declared = usize::try_from(entry.size()).unwrap_or(usize::MAX);
        if declared > MAX_ELEMENTS * 8 + 4096 {
            return Err(bad(format!(
                "is {declared} bytes, too large for a hand model"
            )));
        }
        let mut npy = Vec::with_capacity(declared);
        entry
            .read_to_end(&mut npy)
            .map_err(|e| bad(format!("cannot be decompressed: {e}")))?;
        let array = parse_npy(&npy).map_err(bad)?;
        arrays.insert(name, array);
    }
    Ok(Npz {
        path: path.to_owned(),
        arrays,
    })
}

#[derive(Clone, Copy)]
enum Kind {
    Float,
    Signed,
    Unsigned,
    Bool,
}

/// What a `.npy` header says: the dtype string (`<f4`, `|O`, …), the order, the shape, and where the data start.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyHeader {
    pub descr: String,
    pub fortran: bool,
    pub shape: Vec<usize>,
    pub data_start: usize,
}

/// Parses the header of a `.npy` file (format versions 1–3).
pub fn parse_npy_header(bytes: &[u8]) -> Result<NpyHeader, String> {
    let magic = b"\x93NUMPY";
    if bytes.len() < 10 || &bytes[..6] != magic {
        return Err("is not a .npy array (bad magic)".into());
    }
    let major = bytes[6];
    let (header_len, header_start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            let len_bytes = bytes.get(8..12).ok_or("truncated header")?;
            let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
            (len as usize, 12)
        }
        other => return Err(format!("uses .npy format version {other}, not 1, 2 or 3")),
    };
    let header_end = header_start
        .checked_add(header_len)
        .filter(|&end| end <= bytes.len())
        .ok_or("is truncated inside its header")?;
    let header = std::str::from_utf8(&bytes[header_start..header_end])
        .map_err(|_| "has a header that is not text")?;
    let descr = header_value(header, "descr").ok_or("has no `descr` in its header")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"').to_owned();
    let fortran = match header_value(header, "fortran_order").as_deref() {
        Some("True") => true,
        Some("False") => false,
        _ => return Err("has no valid `fortran_order` in its header".into()),
    };
    let shape_text = header_value(header, "shape").ok_or("has no `shape` in its header")?;
    let shape = parse_shape(&shape_text)?;
    Ok(NpyHeader {
        descr,
        fortran,
        shape,
        data_start: header_end,
    })
}

/// Decodes the little-endian numbers of an array of dtype `descr` and `shape` from `body` (C order as stored),
/// checking the element count and that `body` holds them all.
pub fn decode_numbers(descr: &str, shape: &[usize], body: &[u8]) -> Result<NpyData, String> {
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| format!("has shape {shape:?}, too many elements"))?;
    let mut chars = descr.chars();
    let order = chars.next().ok_or("has an empty dtype")?;
    let kind = match chars.next() {
        Some('f') => Kind::Float,
        Some('i') => Kind::Signed,
        Some('u') => Kind::Unsigned,
        Some('b') => Kind::Bool,
        _ => return Err(format!("has dtype `{descr}`, not a number array")),
    };
    let width: usize = chars
        .as_str()
        .parse()
        .map_err(|_| format!("has dtype `{descr}`, not a number array"))?;
    if order == '>' && width > 1 {
        return Err(format!(
            "has big-endian dtype `{descr}`; save it little-endian"
        ));
    }
    let needed = count * width;
    if body.len() < needed {
        return Err(format!(
            "is truncated: shape {shape:?} of `{descr}` needs {needed} bytes, the file holds {}",
            body.len()
        ));
    }
    let body = &body[..needed];
    Ok(match (kind, width) {
        (Kind::Float, 4) => NpyData::Float(
            body.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect(),
        ),
        (Kind::Float, 8) => NpyData::Float(
            body.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
        ),
        (Kind::Signed | Kind::Unsigned | Kind::Bool, 1 | 2 | 4 | 8) => {
            let signed = matches!(kind, Kind::Signed);
            NpyData::Int(
                body.chunks_exact(width)
                    .map(|c| int_from_le(c, signed))
                    .collect(),
            )
        }
        _ => return Err(format!("has dtype `{descr}`, which is not supported")),
    })
}

/// Parses one `.npy` file (format versions 1–3).
pub fn parse_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    let NpyHeader {
        descr,
        fortran,
        shape,
        data_start,
    } = parse_npy_header(bytes)?;
    let data = decode_numbers(&descr, &shape, &bytes[data_start..])?;
    let data = if fortran && shape.len() > 1 {
        match data {
            NpyData::Float(v) => NpyData::Float(fortran_to_c(&v, &shape)),
            NpyData::Int(v) => NpyData::Int(fortran_to_c(&v, &shape)),
        }
    } else {
        data
    };
    Ok(NpyArray {
        shape,
        data,
        dtype: descr,
    })
}

/// A little-endian integer of 1–8 bytes. Unsigned 64-bit values beyond `i64::MAX` become −1: NumPy files
/// use such values only as "none" markers (MANO's root parent is 2³²−1 or 2⁶⁴−1 depending on the writer).
fn int_from_le(bytes: &[u8], signed: bool) -> i64 {
    let mut buffer = [0u8; 8];
    buffer[..bytes.len()].copy_from_slice(bytes);
    let negative = signed && bytes.last().is_some_and(|b| b & 0x80 != 0);
    if negative {
        for b in &mut buffer[bytes.len()..] {
            *b = 0xff;
        }
        i64::from_le_bytes(buffer)
    } else {
        i64::try_from(u64::from_le_bytes(buffer)).unwrap_or(-1)
    }
}

fn fortran_to_c<T: Copy>(values: &[T], shape: &[usize]) -> Vec<T> {
    let count = values.len();
    let mut out = Vec::with_capacity(count);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..count {
        // Column-major offset of the current row-major index.
        let mut offset = 0;
        let mut stride = 1;
        for (i, &dim) in index.iter().zip(shape) {
            offset += i * stride;
            stride *= dim;
        }
        out.push(values[offset]);
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

/// The text of `'key': value` in a Python dict literal, up to the next top-level comma.
fn header_value(header: &str, key: &str) -> Option<String> {
    let start = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[start + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0i32;
    let mut end = rest.len();
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    Some(rest[..end].trim().to_owned())
}

fn parse_shape(text: &str) -> Result<Vec<usize>, String> {
    let inner = text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| format!("has shape `{text}`, not a tuple"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("has shape `{text}`, not a tuple of sizes"))
        })
        .collect()
}

/// Writes arrays as an uncompressed `.npz` (float32 for floats, int64 for integers), for tests and tools.
pub fn write_npz(path: &Path, arrays: &[(&str, &[usize], NpyData)]) -> std::io::Result<()> {
    use std::io::Write as _;
    let file = std::fs::File::create(path)?;
    let mut zip = zip::ZipWriter::new(file);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, shape, data) in arrays {
        zip.start_file(format!("{name}.npy"), options)
            .map_err(std::io::Error::other)?;
        let descr = match data {
            NpyData::Float(_) => "<f4",
            NpyData::Int(_) => "<i8",
        };
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let shape_text = if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        };
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        zip.write_all(b"\x93NUMPY\x01\x00")?;
        zip.write_all(&(header.len() as u16).to_le_bytes())?;
        zip.write_all(header.as_bytes())?;
        match data {
            NpyData::Float(values) => {
                for v in values {
                    zip.write_all(&(*v as f32).to_le_bytes())?;
                }
            }
            NpyData::Int(values) => {
                for v in values {
                    zip.write_all(&v.to_le_bytes())?;
                }
            }
        }
    }
    zip.finish().map_err(std::io::Error::other)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, fortran: bool, shape: &str, body: &[u8]) -> Vec<u8> {
        let header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}\n",
            if fortran { "True" } else { "False" }
        );
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn reads_dtypes_orders_and_markers() {
        let body: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let c = parse_npy(&npy("<f4", false, "(2, 3)", &body)).unwrap();
        assert_eq!(c.shape, vec![2, 3]);
        assert_eq!(c.data, NpyData::Float(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        // The same bytes in Fortran order are the transpose's storage.
        let f = parse_npy(&npy("<f4", true, "(2, 3)", &body)).unwrap();
        assert_eq!(f.data, NpyData::Float(vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]));
        let ints: Vec<u8> = [4294967295u32, 0, 1]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let u = parse_npy(&npy("<u4", false, "(3,)", &ints)).unwrap();
        assert_eq!(u.data, NpyData::Int(vec![4294967295, 0, 1]));
        let neg = parse_npy(&npy("<i2", false, "(1,)", &(-5i16).to_le_bytes())).unwrap();
        assert_eq!(neg.data, NpyData::Int(vec![-5]));
        let big = parse_npy(&npy("<u8", false, "(1,)", &u64::MAX.to_le_bytes())).unwrap();
        assert_eq!(big.data, NpyData::Int(vec![-1]));
    }

    #[test]
    fn refuses_bad_arrays_with_reasons() {
        let body = [0u8; 8];
        assert!(
            parse_npy(&npy("<f4", false, "(3,)", &body))
                .unwrap_err()
                .contains("truncated")
        );
        assert!(
            parse_npy(&npy("|O", false, "(1,)", &body))
                .unwrap_err()
                .contains("dtype")
        );
        assert!(
            parse_npy(&npy(">f8", false, "(1,)", &body))
                .unwrap_err()
                .contains("big-endian")
        );
        assert!(parse_npy(b"not numpy at all").is_err());
        assert!(
            parse_npy(&npy("<f4", false, "(100000000, 100000000)", &body))
                .unwrap_err()
                .contains("too many")
        );
    }

    #[test]
    fn npz_round_trip_and_not_a_zip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npz");
        write_npz(
            &path,
            &[
                ("x", &[2, 2], NpyData::Float(vec![1.0, 2.0, 3.0, 4.0])),
                ("k", &[3], NpyData::Int(vec![-1, 0, 7])),
            ],
        )
        .unwrap();
        let npz = read_npz(&path).unwrap();
        assert_eq!(npz.arrays["x"].shape, vec![2, 2]);
        assert_eq!(npz.arrays["k"].data, NpyData::Int(vec![-1, 0, 7]));
        std::fs::write(&path, b"garbage").unwrap();
        let err = read_npz(&path).unwrap_err().to_string();
        assert!(
            err.contains("a.npz") && err.contains("not a NumPy"),
            "{err}"
        );
    }
}
