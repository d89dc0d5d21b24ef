//! Mesh topology checks and the faces that close a hand's open wrist.

use glam::Vec3;
use std::collections::{HashMap, HashSet};

/// What a triangle mesh looks like topologically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyReport {
    /// The length (in vertices) of each boundary loop; a closed mesh has none.
    pub boundary_loops: Vec<usize>,
    /// Directed edges used by more than one face (inconsistent winding or non-manifold).
    pub repeated_directed_edges: usize,
    /// Faces with a repeated index or (near) zero area.
    pub degenerate_faces: usize,
}

/// The boundary loops of a mesh, each as its vertices in the order the mesh's own faces run along it.
pub fn boundary_loops(faces: &[[u32; 3]]) -> Vec<Vec<u32>> {
    let directed: HashSet<(u32, u32)> = faces
        .iter()
        .flat_map(|&[a, b, c]| [(a, b), (b, c), (c, a)])
        .collect();
    // A boundary edge is a directed edge whose reverse no face uses.
    let mut next: HashMap<u32, u32> = HashMap::new();
    let mut starts: Vec<u32> = Vec::new();
    for &[a, b, c] in faces {
        for (from, to) in [(a, b), (b, c), (c, a)] {
            if !directed.contains(&(to, from)) {
                next.insert(from, to);
                starts.push(from);
            }
        }
    }
    starts.sort_unstable();
    let mut visited = HashSet::new();
    let mut loops = Vec::new();
    for start in starts {
        if visited.contains(&start) {
            continue;
        }
        let mut ring = vec![start];
        visited.insert(start);
        let mut current = start;
        while let Some(&to) = next.get(&current) {
            if to == start || !visited.insert(to) {
                break;
            }
            ring.push(to);
            current = to;
        }
        loops.push(ring);
    }
    loops
}

/// Faces that close every boundary loop with a fan from the loop's first vertex, wound to match the mesh (for
/// MANO's open wrist this gives the usual 14 extra faces over its 16-vertex rim). No vertex is added, so the
/// vertex order stays the model's.
pub fn closing_faces(faces: &[[u32; 3]]) -> Vec<[u32; 3]> {
    let mut out = Vec::new();
    for ring in boundary_loops(faces) {
        for pair in 1..ring.len().saturating_sub(1) {
            // The mesh runs ring[i] → ring[i + 1]; a closing face must run the other way.
            out.push([ring[0], ring[pair + 1], ring[pair]]);
        }
    }
    out
}

pub fn topology_report(vertices: &[Vec3], faces: &[[u32; 3]]) -> TopologyReport {
    let mut seen = HashSet::new();
    let mut repeated = 0;
    let mut degenerate = 0;
    for &[a, b, c] in faces {
        for edge in [(a, b), (b, c), (c, a)] {
            if !seen.insert(edge) {
                repeated += 1;
            }
        }
        let position = |i: u32| vertices.get(i as usize).copied().unwrap_or(Vec3::NAN);
        let area = 0.5
            * (position(b) - position(a))
                .cross(position(c) - position(a))
                .length();
        if a == b || b == c || a == c || area.is_nan() || area < 1e-12 {
            degenerate += 1;
        }
    }
    TopologyReport {
        boundary_loops: boundary_loops(faces).iter().map(Vec::len).collect(),
        repeated_directed_edges: repeated,
        degenerate_faces: degenerate,
    }
}

/// Signed volume enclosed by a closed, consistently wound mesh (positive when normals point outward).
pub fn signed_volume(vertices: &[Vec3], faces: &[[u32; 3]]) -> f32 {
    faces
        .iter()
        .map(|&[a, b, c]| {
            let p = |i: u32| vertices[i as usize];
            p(a).dot(p(b).cross(p(c))) / 6.0
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_box_gets_its_lid() {
        // A unit cube without its top (z = 1) face: 8 vertices, 10 triangles, outward winding.
        let v: Vec<Vec3> = (0..8)
            .map(|i| Vec3::new((i & 1) as f32, ((i >> 1) & 1) as f32, ((i >> 2) & 1) as f32))
            .collect();
        let faces = vec![
            [0, 2, 1],
            [1, 2, 3], // bottom z = 0, normal −z
            [0, 1, 5],
            [0, 5, 4], // y = 0
            [2, 6, 7],
            [2, 7, 3], // y = 1
            [0, 4, 6],
            [0, 6, 2], // x = 0
            [1, 3, 7],
            [1, 7, 5], // x = 1
        ];
        let report = topology_report(&v, &faces);
        assert_eq!(report.boundary_loops, vec![4]);
        assert_eq!(report.repeated_directed_edges, 0);
        assert_eq!(report.degenerate_faces, 0);
        let lid = closing_faces(&faces);
        assert_eq!(lid.len(), 2);
        let closed: Vec<[u32; 3]> = faces.iter().chain(&lid).copied().collect();
        let report = topology_report(&v, &closed);
        assert!(report.boundary_loops.is_empty());
        assert_eq!(report.repeated_directed_edges, 0);
        assert!((signed_volume(&v, &closed) - 1.0).abs() < 1e-6);
    }
}
