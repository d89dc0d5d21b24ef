//! PLY files: the header (shared by every PLY flavour), the INRIA 3DGS vertex layout (shared by the binary and
//! the ASCII reader), and the binary little-endian reader, which streams the body record by record.

use super::{MAX_SPLATS, RawSplat, SplatCloud, SplatLoadError};
use glam::Vec3;
use std::io::{BufRead, Read as _};
use std::path::Path;

/// The header may not be longer than this (INRIA's degree-3 header is about 1.5 KiB).
const MAX_HEADER_BYTES: usize = 64 * 1024;

const FORMAT: &str = "PLY";
pub(super) const BINARY: &str = "binary PLY";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scalar {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
}

impl Scalar {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "char" | "int8" => Scalar::I8,
            "uchar" | "uint8" => Scalar::U8,
            "short" | "int16" => Scalar::I16,
            "ushort" | "uint16" => Scalar::U16,
            "int" | "int32" => Scalar::I32,
            "uint" | "uint32" => Scalar::U32,
            "float" | "float32" => Scalar::F32,
            "double" | "float64" => Scalar::F64,
            _ => return None,
        })
    }

    pub(super) fn size(self) -> usize {
        match self {
            Scalar::I8 | Scalar::U8 => 1,
            Scalar::I16 | Scalar::U16 => 2,
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 4,
            Scalar::F64 => 8,
        }
    }

    /// The little-endian value at the start of `bytes` as f32; zero where `bytes` is too short (callers slice
    /// records whose length the header fixed, so that cannot happen).
    pub(super) fn read(self, bytes: &[u8]) -> f32 {
        fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
            bytes
                .get(..N)
                .and_then(|b| b.try_into().ok())
                .unwrap_or([0; N])
        }
        match self {
            Scalar::I8 => i8::from_le_bytes(array(bytes)) as f32,
            Scalar::U8 => u8::from_le_bytes(array(bytes)) as f32,
            Scalar::I16 => i16::from_le_bytes(array(bytes)) as f32,
            Scalar::U16 => u16::from_le_bytes(array(bytes)) as f32,
            Scalar::I32 => i32::from_le_bytes(array(bytes)) as f32,
            Scalar::U32 => u32::from_le_bytes(array(bytes)) as f32,
            Scalar::F32 => f32::from_le_bytes(array(bytes)),
            Scalar::F64 => f64::from_le_bytes(array(bytes)) as f32,
        }
    }

    /// The integer type's bits as u32 (packed fields); zero where `bytes` is too short, as in [`Scalar::read`].
    pub(super) fn read_bits(self, bytes: &[u8]) -> u32 {
        let byte = |i: usize| bytes.get(i).copied().unwrap_or(0) as u32;
        match self.size() {
            1 => byte(0),
            2 => byte(0) | byte(1) << 8,
            _ => byte(0) | byte(1) << 8 | byte(2) << 16 | byte(3) << 24,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scalar::I8 => "char",
            Scalar::U8 => "uchar",
            Scalar::I16 => "short",
            Scalar::U16 => "ushort",
            Scalar::I32 => "int",
            Scalar::U32 => "uint",
            Scalar::F32 => "float",
            Scalar::F64 => "double",
        }
    }
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Encoding {
    Ascii,
    BinaryLittleEndian,
}

#[derive(Debug)]
pub(super) struct Property {
    pub name: String,
    /// `None` for a list property.
    pub scalar: Option<Scalar>,
}

#[derive(Debug)]
pub(super) struct Element {
    pub name: String,
    pub count: u64,
    pub properties: Vec<Property>,
}

impl Element {
    /// Bytes per binary record; `None` when a list property makes records variable-sized.
    pub(super) fn stride(&self) -> Option<usize> {
        self.properties
            .iter()
            .map(|p| p.scalar.map(Scalar::size))
            .sum()
    }

    pub(super) fn column(&self, name: &str) -> Option<usize> {
        self.properties.iter().position(|p| p.name == name)
    }

    /// Bytes the element takes in a binary body (saturating: the result is only compared with file sizes).
    pub(super) fn binary_bytes(&self) -> Option<u64> {
        Some(self.count.saturating_mul(self.stride()? as u64))
    }

    /// Byte offset of each column inside a binary record (list properties count as zero bytes; callers reject
    /// them before reading).
    pub(super) fn offsets(&self) -> Vec<usize> {
        let mut offset = 0;
        self.properties
            .iter()
            .map(|p| {
                let here = offset;
                offset += p.scalar.map_or(0, Scalar::size);
                here
            })
            .collect()
    }
}

#[derive(Debug)]
pub(super) struct Header {
    pub encoding: Encoding,
    pub elements: Vec<Element>,
    /// Bytes up to and including the `end_header` line.
    pub length: u64,
    /// Lines up to and including `end_header` (ASCII errors count lines from the top of the file).
    pub lines: usize,
}

impl Header {
    pub(super) fn element(&self, name: &str) -> Option<&Element> {
        self.elements.iter().find(|e| e.name == name)
    }

    /// A PlayCanvas/SuperSplat compressed PLY: a `chunk` element or packed vertex properties.
    pub(super) fn is_compressed(&self) -> bool {
        self.element("chunk").is_some()
            || self.element("vertex").is_some_and(|vertex| {
                vertex
                    .properties
                    .iter()
                    .any(|p| p.name.starts_with("packed_"))
            })
    }
}

/// Reads the header up to `end_header`, leaving `reader` at the first body byte.
pub(super) fn read_header(
    reader: &mut impl BufRead,
    path: &Path,
) -> Result<Header, SplatLoadError> {
    let header_error = |reason: String| SplatLoadError::Header {
        path: path.to_path_buf(),
        format: FORMAT,
        reason,
    };
    let mut length = 0usize;
    let mut lines = 0usize;
    let mut encoding = None;
    let mut elements: Vec<Element> = Vec::new();
    let mut raw = Vec::new();
    loop {
        raw.clear();
        let remaining = (MAX_HEADER_BYTES - length) as u64;
        let read = reader
            .by_ref()
            .take(remaining)
            .read_until(b'\n', &mut raw)
            .map_err(|source| SplatLoadError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if read == 0 || raw.last() != Some(&b'\n') {
            return Err(header_error(if length + read >= MAX_HEADER_BYTES {
                format!("no end_header line in the first {MAX_HEADER_BYTES} bytes")
            } else {
                "the file ends inside the header (no end_header line)".into()
            }));
        }
        length += read;
        lines += 1;
        let line = std::str::from_utf8(&raw)
            .map_err(|_| header_error(format!("line {lines} is not text")))?
            .trim_end();
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        if lines == 1 {
            if line != "ply" {
                return Err(header_error("the first line is not \"ply\"".into()));
            }
            continue;
        }
        match words.as_slice() {
            ["end_header"] => break,
            ["comment", ..] | ["obj_info", ..] | [] => {}
            ["format", "ascii", _] => encoding = Some(Encoding::Ascii),
            ["format", "binary_little_endian", _] => encoding = Some(Encoding::BinaryLittleEndian),
            ["format", "binary_big_endian", _] => {
                return Err(SplatLoadError::Unsupported {
                    path: path.to_path_buf(),
                    format: "big-endian binary PLY".into(),
                    advice: "convert it to binary_little_endian (e.g. with plyfile or splat-transform)",
                });
            }
            ["format", other, ..] => {
                return Err(header_error(format!("unknown PLY format \"{other}\"")));
            }
            ["element", name, count] => {
                let count = count.parse().map_err(|_| {
                    header_error(format!("element {name} count \"{count}\" is not a number"))
                })?;
                elements.push(Element {
                    name: name.to_string(),
                    count,
                    properties: Vec::new(),
                });
            }
            ["property", rest @ ..] => {
                let element = elements.last_mut().ok_or_else(|| {
                    header_error(format!("line {lines}: a property before any element"))
                })?;
                let property = match rest {
                    ["list", count, item, name] => {
                        for kind in [count, item] {
                            Scalar::parse(kind).ok_or_else(|| {
                                header_error(format!("property {name} has unknown type {kind}"))
                            })?;
                        }
                        Property {
                            name: name.to_string(),
                            scalar: None,
                        }
                    }
                    [kind, name] => Property {
                        name: name.to_string(),
                        scalar: Some(Scalar::parse(kind).ok_or_else(|| {
                            header_error(format!("property {name} has unknown type {kind}"))
                        })?),
                    },
                    _ => {
                        return Err(header_error(format!(
                            "line {lines}: malformed property \"{line}\""
                        )));
                    }
                };
                element.properties.push(property);
            }
            _ => {
                return Err(header_error(format!(
                    "line {lines}: unknown header line \"{line}\""
                )));
            }
        }
    }
    let encoding = encoding.ok_or_else(|| header_error("no format line".into()))?;
    Ok(Header {
        encoding,
        elements,
        length: length as u64,
        lines,
    })
}

/// Where the colour comes from.
#[derive(Debug)]
enum Color {
    /// INRIA: `f_dc_0..2`, the SH DC coefficients.
    Dc([usize; 3]),
    /// nerfstudio's `ply_color_mode=rgb` export: `red green blue` (uchar) display colours, no SH.
    Rgb([usize; 3], f32),
}

/// The INRIA vertex properties resolved to columns of the vertex element; shared by the binary and ASCII readers.
#[derive(Debug)]
pub(super) struct VertexLayout {
    position: [usize; 3],
    color: Color,
    opacity: usize,
    scale: [usize; 3],
    rotation: [usize; 4],
    /// `f_rest_i` columns in file order (channel-major: red's coefficients, then green's, then blue's).
    rest: Vec<usize>,
    pub sh_degree: usize,
}

impl VertexLayout {
    /// Finds the INRIA properties in any order and of any scalar type; other properties (`nx ny nz`,
    /// `filter_3D`, …) are ignored.
    pub(super) fn resolve(
        vertex: &Element,
        format: &'static str,
        path: &Path,
    ) -> Result<Self, SplatLoadError> {
        if let Some(list) = vertex.properties.iter().find(|p| p.scalar.is_none()) {
            return Err(SplatLoadError::Header {
                path: path.to_path_buf(),
                format,
                reason: format!(
                    "vertex property `{}` is a list; lists are not part of the 3DGS layout",
                    list.name
                ),
            });
        }
        let required = |name: &str| {
            vertex
                .column(name)
                .ok_or_else(|| SplatLoadError::MissingProperty {
                    path: path.to_path_buf(),
                    format,
                    element: vertex.name.clone(),
                    property: name.into(),
                })
        };
        let position = [required("x")?, required("y")?, required("z")?];
        let color = match (vertex.column("f_dc_0"), vertex.column("red")) {
            (None, Some(red)) => {
                let divisor = match vertex.properties[red].scalar {
                    Some(Scalar::U8) => 255.0,
                    Some(Scalar::U16) => 65535.0,
                    _ => 1.0,
                };
                Color::Rgb([red, required("green")?, required("blue")?], divisor)
            }
            _ => Color::Dc([
                required("f_dc_0")?,
                required("f_dc_1")?,
                required("f_dc_2")?,
            ]),
        };
        let opacity = required("opacity")?;
        let scale = [
            required("scale_0")?,
            required("scale_1")?,
            required("scale_2")?,
        ];
        let rotation = [
            required("rot_0")?,
            required("rot_1")?,
            required("rot_2")?,
            required("rot_3")?,
        ];
        let rest_count = vertex
            .properties
            .iter()
            .filter(|p| p.name.starts_with("f_rest_"))
            .count();
        let sh_degree = sh_degree_of_rest(rest_count).ok_or_else(|| SplatLoadError::Header {
            path: path.to_path_buf(),
            format,
            reason: format!(
                "{rest_count} f_rest properties; 3DGS files have 0, 9, 24 or 45 (SH degree 0 to 3)"
            ),
        })?;
        let (rest, sh_degree) = if matches!(color, Color::Rgb(..)) {
            (Vec::new(), 0) // display colours carry no view dependence
        } else {
            let rest = (0..rest_count)
                .map(|i| required(&format!("f_rest_{i}")))
                .collect::<Result<_, _>>()?;
            (rest, sh_degree)
        };
        Ok(VertexLayout {
            position,
            color,
            opacity,
            scale,
            rotation,
            rest,
            sh_degree,
        })
    }

    /// Decodes splat `index` from its column values (`raw(column)`) and appends it to `cloud`.
    pub(super) fn decode(
        &self,
        vertex: &Element,
        index: usize,
        path: &Path,
        raw: impl Fn(usize) -> f32,
        cloud: &mut SplatCloud,
    ) -> Result<(), SplatLoadError> {
        let value = |column: usize| -> Result<f32, SplatLoadError> {
            let v = raw(column);
            if v.is_finite() {
                Ok(v)
            } else {
                Err(SplatLoadError::Value {
                    path: path.to_path_buf(),
                    index,
                    property: vertex
                        .properties
                        .get(column)
                        .map_or_else(String::new, |p| p.name.clone()),
                    reason: format!("{v} is not finite"),
                })
            }
        };
        let vec3 = |[a, b, c]: [usize; 3]| -> Result<Vec3, SplatLoadError> {
            Ok(Vec3::new(value(a)?, value(b)?, value(c)?))
        };
        let logit = value(self.opacity)?;
        let [w, x, y, z] = self.rotation;
        cloud.push_checked(
            RawSplat {
                mean: vec3(self.position)?,
                scale: vec3(self.scale)?.exp(),
                rotation_wxyz: [value(w)?, value(x)?, value(y)?, value(z)?],
                opacity: 1.0 / (1.0 + (-logit).exp()),
            },
            index,
            path,
        )?;
        let dc = match &self.color {
            Color::Dc(columns) => vec3(*columns)?,
            Color::Rgb(columns, divisor) => super::dc_from_display(vec3(*columns)? / *divisor),
        };
        cloud.sh.push(dc.to_array());
        let per_channel = self.rest.len() / 3;
        for coefficient in 0..per_channel {
            let mut rgb = [0.0; 3];
            for (channel, slot) in rgb.iter_mut().enumerate() {
                *slot = value(self.rest[channel * per_channel + coefficient])?;
            }
            cloud.sh.push(rgb);
        }
        Ok(())
    }
}

/// SH degree from the number of `f_rest_*` values (3 channels × ((d+1)² − 1)).
pub(super) fn sh_degree_of_rest(count: usize) -> Option<usize> {
    match count {
        0 => Some(0),
        9 => Some(1),
        24 => Some(2),
        45 => Some(3),
        _ => None,
    }
}

/// Checks a count from a header against the limit and returns it as usize.
pub(super) fn splat_count(count: u64, path: &Path) -> Result<usize, SplatLoadError> {
    if count > MAX_SPLATS {
        return Err(SplatLoadError::TooManySplats {
            path: path.to_path_buf(),
            count,
            limit: MAX_SPLATS,
        });
    }
    usize::try_from(count).map_err(|_| SplatLoadError::TooManySplats {
        path: path.to_path_buf(),
        count,
        limit: MAX_SPLATS,
    })
}

/// Skips `bytes` body bytes (elements before the one wanted).
pub(super) fn skip(
    reader: &mut impl BufRead,
    bytes: u64,
    format: &'static str,
    path: &Path,
) -> Result<(), SplatLoadError> {
    let skipped = std::io::copy(&mut reader.by_ref().take(bytes), &mut std::io::sink()).map_err(
        |source| SplatLoadError::Io {
            path: path.to_path_buf(),
            source,
        },
    )?;
    if skipped < bytes {
        return Err(SplatLoadError::Truncated {
            path: path.to_path_buf(),
            format,
            what: format!("the file ends {} bytes early", bytes - skipped),
        });
    }
    Ok(())
}

/// Reads `count` fixed-size records in blocks of about 1 MiB and hands each to `each(index, record)`.
pub(super) fn for_each_record(
    reader: &mut impl BufRead,
    count: usize,
    stride: usize,
    format: &'static str,
    path: &Path,
    mut each: impl FnMut(usize, &[u8]) -> Result<(), SplatLoadError>,
) -> Result<(), SplatLoadError> {
    if stride == 0 {
        return (0..count).try_for_each(|index| each(index, &[]));
    }
    let per_block = (1 << 20) / stride + 1;
    let mut block = vec![0u8; per_block.min(count.max(1)) * stride];
    let mut index = 0;
    while index < count {
        let n = per_block.min(count - index);
        let bytes = &mut block[..n * stride];
        reader.read_exact(bytes).map_err(|source| {
            if source.kind() == std::io::ErrorKind::UnexpectedEof {
                SplatLoadError::Truncated {
                    path: path.to_path_buf(),
                    format,
                    what: format!(
                        "the file ends inside the data of splats {index}..{}",
                        index + n
                    ),
                }
            } else {
                SplatLoadError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        for record in bytes.chunks_exact(stride) {
            each(index, record)?;
            index += 1;
        }
    }
    Ok(())
}

/// The vertex element and its position among the elements.
pub(super) fn vertex_element<'a>(
    header: &'a Header,
    format: &'static str,
    path: &Path,
) -> Result<(&'a Element, usize), SplatLoadError> {
    header
        .elements
        .iter()
        .enumerate()
        .find(|(_, e)| e.name == "vertex")
        .map(|(position, e)| (e, position))
        .ok_or_else(|| SplatLoadError::Header {
            path: path.to_path_buf(),
            format,
            reason: "no vertex element".into(),
        })
}

/// Bytes of the binary elements in `elements` (those before the one wanted); an error for a list element, whose
/// size the header does not give.
pub(super) fn binary_bytes_of(
    elements: &[Element],
    format: &'static str,
    path: &Path,
) -> Result<u64, SplatLoadError> {
    elements.iter().try_fold(0u64, |sum, element| {
        let bytes = element
            .binary_bytes()
            .ok_or_else(|| SplatLoadError::Header {
                path: path.to_path_buf(),
                format,
                reason: format!(
                    "element `{}` has list properties; handtwin cannot skip it",
                    element.name
                ),
            })?;
        Ok(sum.saturating_add(bytes))
    })
}

/// The binary little-endian INRIA body, streamed from `reader` (positioned after the header).
pub(super) fn read_binary(
    reader: &mut impl BufRead,
    header: &Header,
    size: u64,
    path: &Path,
) -> Result<SplatCloud, SplatLoadError> {
    let (vertex, position) = vertex_element(header, BINARY, path)?;
    let before = binary_bytes_of(&header.elements[..position], BINARY, path)?;
    let layout = VertexLayout::resolve(vertex, BINARY, path)?;
    let count = splat_count(vertex.count, path)?;
    let stride = vertex.stride().unwrap_or(0); // resolve() rejected list properties
    let needed = before.saturating_add(vertex.count.saturating_mul(stride as u64));
    let available = size.saturating_sub(header.length);
    if needed > available {
        return Err(SplatLoadError::Truncated {
            path: path.to_path_buf(),
            format: BINARY,
            what: format!(
                "the header promises {count} splats of {stride} bytes ({needed} bytes after the header), \
                 the file has {available}"
            ),
        });
    }
    skip(reader, before, BINARY, path)?;
    let offsets = vertex.offsets();
    let scalars: Vec<Scalar> = vertex
        .properties
        .iter()
        .map(|p| p.scalar.unwrap_or(Scalar::U8))
        .collect();
    let mut cloud = SplatCloud::with_capacity(count, layout.sh_degree);
    for_each_record(reader, count, stride, BINARY, path, |index, record| {
        layout.decode(
            vertex,
            index,
            path,
            |column| scalars[column].read(record.get(offsets[column]..).unwrap_or(&[])),
            &mut cloud,
        )
    })?;
    Ok(cloud)
}

/// Property names in the order [`write_ply`] and the ASCII writer use (INRIA's, normals included).
pub(super) fn property_names(cloud: &SplatCloud) -> Vec<String> {
    let per_channel = cloud.coefficients_per_channel() - 1;
    let mut names: Vec<String> = [
        "x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.extend((0..per_channel * 3).map(|i| format!("f_rest_{i}")));
    names.extend(
        [
            "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    names
}

/// Splat `i` as the values of [`property_names`], in the file's conventions (log scales, logit opacity).
pub(super) fn record_values(cloud: &SplatCloud, i: usize, values: &mut Vec<f32>) {
    let k = cloud.coefficients_per_channel();
    let sh = &cloud.sh[i * k..(i + 1) * k];
    values.clear();
    values.extend([
        cloud.means[i].x,
        cloud.means[i].y,
        cloud.means[i].z,
        0.0,
        0.0,
        0.0,
    ]);
    values.extend(sh[0]);
    // Channel-major, as INRIA stores f_rest.
    values.extend((0..3).flat_map(|channel| sh[1..].iter().map(move |c| c[channel])));
    let p = cloud.opacities[i].clamp(1e-6, 1.0 - 1e-6);
    values.push((p / (1.0 - p)).ln());
    values.extend(cloud.scales[i].to_array().map(f32::ln));
    let q = cloud.rotations[i];
    values.extend([q.w, q.x, q.y, q.z]);
}

/// Writes a cloud in the INRIA layout (binary little-endian float32, normals zero).
pub fn write_ply(cloud: &SplatCloud) -> Vec<u8> {
    let mut header = String::from("ply\nformat binary_little_endian 1.0\n");
    header += &format!("element vertex {}\n", cloud.len());
    for name in &property_names(cloud) {
        header += &format!("property float {name}\n");
    }
    header += "end_header\n";
    let mut out = header.into_bytes();
    let mut values = Vec::new();
    for i in 0..cloud.len() {
        record_values(cloud, i, &mut values);
        for v in &values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}
