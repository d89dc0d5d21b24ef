//! Triangle-mesh primitives for procedurally built scenes (the bundled room, later the synthetic rooms).

use glam::{Quat, Vec3};
use std::f32::consts::{PI, TAU};

/// An indexed triangle mesh with per-vertex normals, counter-clockwise front faces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TriMesh {
    pub positions: Vec<Vec3>,
    pub normals: Vec<Vec3>,
    pub indices: Vec<u32>,
}

impl TriMesh {
    /// Appends `other`, mapped by rotation then translation.
    pub fn append(&mut self, other: &TriMesh, rotation: Quat, translation: Vec3) {
        let base = self.positions.len() as u32;
        self.positions
            .extend(other.positions.iter().map(|&p| rotation * p + translation));
        self.normals
            .extend(other.normals.iter().map(|&n| rotation * n));
        self.indices.extend(other.indices.iter().map(|&i| i + base));
    }

    pub fn bounds(&self) -> (Vec3, Vec3) {
        self.positions.iter().fold(
            (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
            |(lo, hi), &p| (lo.min(p), hi.max(p)),
        )
    }

    pub fn triangle_count(&self) -> usize {
        self.indices.len() / 3
    }

    fn quad(&mut self, corners: [Vec3; 4], normal: Vec3) {
        let base = self.positions.len() as u32;
        self.positions.extend(corners);
        self.normals.extend([normal; 4]);
        self.indices
            .extend([base, base + 1, base + 2, base, base + 2, base + 3]);
    }
}

/// An axis-aligned box of the given full size, centred on the origin, flat-shaded.
pub fn cuboid(size: Vec3) -> TriMesh {
    let h = size * 0.5;
    let mut mesh = TriMesh::default();
    // Each face: normal, then two in-plane axes u, v with u × v = normal, so corners go counter-clockwise.
    for (normal, u, v) in [
        (Vec3::X, Vec3::NEG_Z, Vec3::Y),
        (Vec3::NEG_X, Vec3::Z, Vec3::Y),
        (Vec3::Y, Vec3::X, Vec3::NEG_Z),
        (Vec3::NEG_Y, Vec3::X, Vec3::Z),
        (Vec3::Z, Vec3::X, Vec3::Y),
        (Vec3::NEG_Z, Vec3::NEG_X, Vec3::Y),
    ] {
        let c = normal * h;
        let (du, dv) = (u * h, v * h);
        mesh.quad([c - du - dv, c + du - dv, c + du + dv, c - du + dv], normal);
    }
    mesh
}

/// A closed frustum of a cone (a cylinder when the radii match) standing on the origin, axis +Y, smooth sides.
pub fn frustum(bottom_radius: f32, top_radius: f32, height: f32, segments: u32) -> TriMesh {
    let mut mesh = TriMesh::default();
    let slope = (bottom_radius - top_radius) / height;
    for i in 0..=segments {
        let angle = TAU * i as f32 / segments as f32;
        let (s, c) = angle.sin_cos();
        let normal = Vec3::new(c, slope, s).normalize();
        mesh.positions
            .push(Vec3::new(c * bottom_radius, 0.0, s * bottom_radius));
        mesh.positions
            .push(Vec3::new(c * top_radius, height, s * top_radius));
        mesh.normals.extend([normal, normal]);
    }
    for i in 0..segments {
        let (b0, t0, b1, t1) = (2 * i, 2 * i + 1, 2 * i + 2, 2 * i + 3);
        mesh.indices.extend([b0, t0, t1, b0, t1, b1]);
    }
    for (y, radius, normal) in [
        (0.0, bottom_radius, Vec3::NEG_Y),
        (height, top_radius, Vec3::Y),
    ] {
        if radius <= 0.0 {
            continue;
        }
        let centre = mesh.positions.len() as u32;
        mesh.positions.push(Vec3::new(0.0, y, 0.0));
        mesh.normals.push(normal);
        for i in 0..segments {
            let (s, c) = (TAU * i as f32 / segments as f32).sin_cos();
            mesh.positions.push(Vec3::new(c * radius, y, s * radius));
            mesh.normals.push(normal);
        }
        for i in 0..segments {
            let (a, b) = (centre + 1 + i, centre + 1 + (i + 1) % segments);
            if normal.y > 0.0 {
                mesh.indices.extend([centre, b, a]);
            } else {
                mesh.indices.extend([centre, a, b]);
            }
        }
    }
    mesh
}

/// A UV sphere centred on the origin, scaled per axis (an ellipsoid when `scale` is not uniform).
pub fn ellipsoid(scale: Vec3, stacks: u32, slices: u32) -> TriMesh {
    let mut mesh = TriMesh::default();
    for i in 0..=stacks {
        let polar = PI * i as f32 / stacks as f32;
        // Exact poles: sin(π) in f32 is not zero, which would leave slivers of random orientation there.
        let (ring, height) = if i == 0 || i == stacks {
            (0.0, polar.cos().signum())
        } else {
            (polar.sin(), polar.cos())
        };
        for j in 0..=slices {
            let azimuth = TAU * j as f32 / slices as f32;
            let unit = Vec3::new(ring * azimuth.cos(), height, ring * azimuth.sin());
            mesh.positions.push(unit * scale);
            mesh.normals.push((unit / scale).normalize());
        }
    }
    let row = slices + 1;
    for i in 0..stacks {
        for j in 0..slices {
            let (a, b, c, d) = (
                i * row + j,
                i * row + j + 1,
                (i + 1) * row + j,
                (i + 1) * row + j + 1,
            );
            mesh.indices.extend([a, b, d, a, d, c]);
        }
    }
    mesh
}

/// A torus in the XY plane (axis +Z) centred on the origin: ring radius `major`, tube radius `minor`.
pub fn torus(major: f32, minor: f32, ring_segments: u32, tube_segments: u32) -> TriMesh {
    let mut mesh = TriMesh::default();
    for i in 0..=ring_segments {
        let u = TAU * i as f32 / ring_segments as f32;
        let ring = Vec3::new(u.cos(), u.sin(), 0.0);
        for j in 0..=tube_segments {
            let v = TAU * j as f32 / tube_segments as f32;
            let normal = ring * v.cos() + Vec3::Z * v.sin();
            mesh.positions.push(ring * major + normal * minor);
            mesh.normals.push(normal);
        }
    }
    let row = tube_segments + 1;
    for i in 0..ring_segments {
        for j in 0..tube_segments {
            let (a, b, c, d) = (
                i * row + j,
                i * row + j + 1,
                (i + 1) * row + j,
                (i + 1) * row + j + 1,
            );
            mesh.indices.extend([a, c, d, a, d, b]);
        }
    }
    mesh
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every triangle's winding must agree with its vertex normals (outward-facing surfaces).
    fn assert_outward(mesh: &TriMesh) {
        for tri in mesh.indices.chunks_exact(3) {
            let [a, b, c] = [tri[0], tri[1], tri[2]].map(|i| mesh.positions[i as usize]);
            let face = (b - a).cross(c - a);
            if face.length() < 1e-9 {
                continue; // degenerate triangles at poles
            }
            let normal: Vec3 = tri.iter().map(|&i| mesh.normals[i as usize]).sum();
            assert!(face.dot(normal) > 0.0, "inward triangle {tri:?}");
        }
    }

    #[test]
    fn primitives_face_outward() {
        assert_outward(&cuboid(Vec3::new(1.0, 2.0, 3.0)));
        assert_outward(&frustum(0.5, 0.3, 1.0, 16));
        assert_outward(&ellipsoid(Vec3::new(1.0, 0.5, 1.0), 8, 12));
        assert_outward(&torus(1.0, 0.2, 12, 8));
    }

    #[test]
    fn cuboid_bounds_match_size() {
        let (lo, hi) = cuboid(Vec3::new(1.0, 2.0, 3.0)).bounds();
        assert_eq!(hi - lo, Vec3::new(1.0, 2.0, 3.0));
    }
}
