//! `hand`: MANO hand models (LBS), hand-model sources (MANO .npz, the bundled hand), poses, presets,
//! format conversions.

mod mesh;

pub use mesh::{HandMesh, HandMeshError, Side};
