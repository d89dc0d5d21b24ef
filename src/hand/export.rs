//! Writing a posed hand mesh: Wavefront OBJ and binary PLY, vertices in the model's order.

use glam::Vec3;
use std::fmt::Write as _;

/// OBJ text (`v` then `f`, 1-based indices).
pub fn to_obj(vertices: &[Vec3], faces: &[[u32; 3]], comment: &str) -> String {
    let mut out = String::with_capacity(vertices.len() * 40 + faces.len() * 20);
    for line in comment.lines() {
        writeln!(out, "# {line}").ok();
    }
    for v in vertices {
        writeln!(out, "v {:.8} {:.8} {:.8}", v.x, v.y, v.z).ok();
    }
    for [a, b, c] in faces {
        writeln!(out, "f {} {} {}", a + 1, b + 1, c + 1).ok();
    }
    out
}

/// Binary little-endian PLY (float vertices, uint32 triangle lists).
pub fn to_ply(vertices: &[Vec3], faces: &[[u32; 3]], comment: &str) -> Vec<u8> {
    let mut header = String::from("ply\nformat binary_little_endian 1.0\n");
    for line in comment.lines() {
        writeln!(header, "comment {line}").ok();
    }
    writeln!(header, "element vertex {}", vertices.len()).ok();
    header.push_str("property float x\nproperty float y\nproperty float z\n");
    writeln!(header, "element face {}", faces.len()).ok();
    header.push_str("property list uchar uint vertex_indices\nend_header\n");
    let mut out = header.into_bytes();
    for v in vertices {
        for c in v.to_array() {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }
    for face in faces {
        out.push(3);
        for i in face {
            out.extend_from_slice(&i.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_both_formats() {
        let v = [Vec3::ZERO, Vec3::X, Vec3::Y];
        let obj = to_obj(&v, &[[0, 1, 2]], "hand");
        assert!(obj.starts_with("# hand\nv 0.00000000 0.00000000 0.00000000\n"));
        assert!(obj.ends_with("f 1 2 3\n"));
        let ply = to_ply(&v, &[[0, 1, 2]], "hand");
        let text = String::from_utf8_lossy(&ply);
        assert!(text.contains("element vertex 3") && text.contains("element face 1"));
        let header_end = text.find("end_header\n").unwrap() + "end_header\n".len();
        assert_eq!(ply.len() - header_end, 3 * 12 + 13);
    }
}
