//! A posed hand as a triangle mesh: what the hand stream renders.

use glam::Vec3;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Which hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

impl Side {
    /// DWM's hand-stream albedo (spec §5.2): left green, right red, linear RGB.
    pub fn dwm_albedo(self) -> [f32; 3] {
        match self {
            Side::Left => [0.5, 0.8, 0.5],
            Side::Right => [0.8, 0.4, 0.4],
        }
    }
}

/// A triangle mesh of one hand. Every face index is in range (checked by [`HandMesh::new`]).
#[derive(Clone, Debug, PartialEq)]
pub struct HandMesh {
    pub side: Side,
    vertices: Vec<Vec3>,
    faces: Vec<[u32; 3]>,
}

#[derive(Debug, Error, PartialEq)]
pub enum HandMeshError {
    #[error("face {face} uses vertex {index}, but the mesh has only {vertex_count} vertices")]
    IndexOutOfRange {
        face: usize,
        index: u32,
        vertex_count: usize,
    },
    #[error("vertex {0} is not finite")]
    NonFiniteVertex(usize),
}

impl HandMesh {
    pub fn new(
        side: Side,
        vertices: Vec<Vec3>,
        faces: Vec<[u32; 3]>,
    ) -> Result<Self, HandMeshError> {
        if let Some(index) = vertices.iter().position(|v| !v.is_finite()) {
            return Err(HandMeshError::NonFiniteVertex(index));
        }
        for (face, triangle) in faces.iter().enumerate() {
            for &index in triangle {
                if index as usize >= vertices.len() {
                    return Err(HandMeshError::IndexOutOfRange {
                        face,
                        index,
                        vertex_count: vertices.len(),
                    });
                }
            }
        }
        Ok(Self {
            side,
            vertices,
            faces,
        })
    }

    pub fn vertices(&self) -> &[Vec3] {
        &self.vertices
    }

    pub fn faces(&self) -> &[[u32; 3]] {
        &self.faces
    }

    /// Smooth (area-weighted) vertex normals, the normals DWM's renderer interpolates.
    pub fn vertex_normals(&self) -> Vec<Vec3> {
        let mut normals = vec![Vec3::ZERO; self.vertices.len()];
        for &[a, b, c] in &self.faces {
            let (a, b, c) = (a as usize, b as usize, c as usize);
            // The cross product's length is twice the triangle area: area weighting for free.
            let n =
                (self.vertices[b] - self.vertices[a]).cross(self.vertices[c] - self.vertices[a]);
            normals[a] += n;
            normals[b] += n;
            normals[c] += n;
        }
        normals.iter().map(|n| n.normalize_or_zero()).collect()
    }

    /// The same mesh with every vertex mapped by `f` (for example camera_from_hand).
    pub fn transformed(&self, f: impl Fn(Vec3) -> Vec3) -> Self {
        Self {
            side: self.side,
            vertices: self.vertices.iter().map(|&v| f(v)).collect(),
            faces: self.faces.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_indices_and_nan() {
        let v = vec![Vec3::ZERO, Vec3::X, Vec3::Y];
        assert!(HandMesh::new(Side::Left, v.clone(), vec![[0, 1, 3]]).is_err());
        assert!(HandMesh::new(Side::Left, vec![Vec3::NAN], vec![]).is_err());
        let mesh = HandMesh::new(Side::Right, v, vec![[0, 1, 2]]).unwrap();
        assert_eq!(mesh.vertex_normals()[0], Vec3::Z);
    }
}
