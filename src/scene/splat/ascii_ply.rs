//! ASCII PLY with INRIA's property names: one vertex per line, decoded through the same [`VertexLayout`] as the
//! binary reader.

use super::ply::{
    Header, VertexLayout, property_names, record_values, splat_count, vertex_element,
};
use super::{SplatCloud, SplatLoadError};
use std::io::BufRead;
use std::path::Path;

pub(super) const ASCII: &str = "ASCII PLY";

/// The ASCII body, line by line from `reader` (positioned after the header).
pub(super) fn read_ascii(
    reader: &mut impl BufRead,
    header: &Header,
    size: u64,
    path: &Path,
) -> Result<SplatCloud, SplatLoadError> {
    let (vertex, position) = vertex_element(header, ASCII, path)?;
    let layout = VertexLayout::resolve(vertex, ASCII, path)?;
    let count = splat_count(vertex.count, path)?;
    let columns = vertex.properties.len();
    // Each value takes at least one character and a separator.
    let available = size.saturating_sub(header.length);
    let least = vertex.count.saturating_mul(2 * columns as u64);
    if least > available {
        return Err(SplatLoadError::Truncated {
            path: path.to_path_buf(),
            format: ASCII,
            what: format!(
                "the header promises {count} splats of {columns} values (at least {least} bytes after the \
                 header), the file has {available}"
            ),
        });
    }
    let mut line_number = header.lines;
    let mut raw = Vec::new();
    // The next non-blank line, or None at the end of the file.
    let mut next_line = |line_number: &mut usize| -> Result<Option<String>, SplatLoadError> {
        loop {
            raw.clear();
            let read = reader
                .read_until(b'\n', &mut raw)
                .map_err(|source| SplatLoadError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
            if read == 0 {
                return Ok(None);
            }
            *line_number += 1;
            let text = std::str::from_utf8(&raw).map_err(|_| SplatLoadError::Syntax {
                path: path.to_path_buf(),
                line: *line_number,
                reason: "not text".into(),
            })?;
            if !text.trim().is_empty() {
                return Ok(Some(text.to_owned()));
            }
        }
    };
    let ends_early = |what: String| SplatLoadError::Truncated {
        path: path.to_path_buf(),
        format: ASCII,
        what,
    };
    // Elements before the vertices: one line per instance.
    for element in &header.elements[..position] {
        for _ in 0..element.count {
            if next_line(&mut line_number)?.is_none() {
                return Err(ends_early(format!(
                    "the file ends inside element `{}`",
                    element.name
                )));
            }
        }
    }
    let mut cloud = SplatCloud::with_capacity(count, layout.sh_degree);
    let mut row: Vec<f32> = Vec::with_capacity(columns);
    for index in 0..count {
        let Some(line) = next_line(&mut line_number)? else {
            return Err(ends_early(format!(
                "the file ends after {index} of {count} splats"
            )));
        };
        row.clear();
        for token in line.split_ascii_whitespace() {
            let column = row.len();
            let Some(property) = vertex.properties.get(column) else {
                return Err(SplatLoadError::Syntax {
                    path: path.to_path_buf(),
                    line: line_number,
                    reason: format!("more than the {columns} values the header declares"),
                });
            };
            let value = token.parse::<f32>().map_err(|_| SplatLoadError::Syntax {
                path: path.to_path_buf(),
                line: line_number,
                reason: format!("`{token}` (property `{}`) is not a number", property.name),
            })?;
            row.push(value);
        }
        if row.len() < columns {
            return Err(SplatLoadError::Syntax {
                path: path.to_path_buf(),
                line: line_number,
                reason: format!("{} values, the header declares {columns}", row.len()),
            });
        }
        layout.decode(
            vertex,
            index,
            path,
            |column| row.get(column).copied().unwrap_or(f32::NAN),
            &mut cloud,
        )?;
    }
    Ok(cloud)
}

/// Writes a cloud as ASCII PLY in the INRIA layout (the property order of [`super::write_ply`]); values are
/// written in Rust's shortest round-trip form, so reading the file back gives the same f32 values.
pub fn write_ascii_ply(cloud: &SplatCloud) -> Vec<u8> {
    let mut out = String::from("ply\nformat ascii 1.0\n");
    out += &format!("element vertex {}\n", cloud.len());
    for name in &property_names(cloud) {
        out += &format!("property float {name}\n");
    }
    out += "end_header\n";
    let mut values = Vec::new();
    for i in 0..cloud.len() {
        record_values(cloud, i, &mut values);
        for (j, v) in values.iter().enumerate() {
            if j > 0 {
                out.push(' ');
            }
            out += &v.to_string();
        }
        out.push('\n');
    }
    out.into_bytes()
}
