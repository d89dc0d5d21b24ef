//! `hand`: MANO hand models (LBS), hand-model sources (MANO .npz, the bundled hand), poses, presets,
//! format conversions.

mod mesh;
mod mesh_sequence;

pub use mesh::{HandMesh, HandMeshError, Side};
pub use mesh_sequence::{HAND_MESHES_FORMAT, MeshSequenceError, load_hand_meshes};
