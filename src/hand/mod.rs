//! `hand`: MANO hand models (LBS), hand-model sources (MANO .npz, the bundled hand), poses, presets,
//! format conversions.

pub mod convert;
pub mod export;
mod mano;
mod mesh;
mod mesh_sequence;
mod models;
pub mod npz;
pub mod placement;
mod pose;
mod pose_file;
pub mod rotation;
pub mod topology;

pub use mano::{
    FINGER_JOINT_COUNT, FingerPose, HandModelError, JOINT_COUNT, KEYPOINT_21_FROM_MANO,
    MANO_PARENTS, MANO_TIP_VERTICES, ManoInput, ManoInputError, ManoModel, ManoOutput,
};
pub use mesh::{HandMesh, HandMeshError, Side};
pub use mesh_sequence::{HAND_MESHES_FORMAT, MeshSequenceError, load_hand_meshes};
pub use models::{
    HandModelSource, HandModels, MANO_DIR_VARIABLE, MANO_LEFT_FILE, MANO_RIGHT_FILE,
    default_mano_dir,
};
pub use pose::{Finger, FingerControl, HandControls, MANO_RIGHT_REST_JOINTS, ManoPose, Preset};
pub(crate) use pose_file::json_numbers;
pub use pose_file::{PoseFileError, load_pose_file, parse_pose_file, pose_file_json};
