//! Hand parameters from other tools, turned into handtwin's convention: an absolute axis-angle [`ManoPose`]
//! (zero = flat hand) and the wrist joint's position, for a given side. Each tool's convention is spelled out
//! where it differs.
//!
//! | source | finger pose | mean hand | root / translation | handedness |
//! |---|---|---|---|---|
//! | HaMeR | 15 rotation matrices | none (absolute) | `global_orient` matrix; camera translation | right-hand model; left hands predicted on a mirrored crop |
//! | HOT3D | 15 PCA coefficients | added (`flat_hand_mean=False`) | `wrist_xform` (rotation + wrist position, world, metres) | per-side MANO models |
//! | ARCTIC | 45 axis-angle (`pose`) | added (`flat_hand_mean=False`) | `rot` axis-angle, `trans` = MANO `transl` (metres) | per-side models |
//! | HO-3D | 48 axis-angle (`handPose`: root then fingers) | added (`flat_hand_mean=False`) | `handTrans` = MANO `transl` (metres, OpenCV camera) | right hand |

use super::mano::{ManoInputError, ManoModel};
use super::pose::ManoPose;
use super::rotation::axis_angle_from_mat3;
use glam::{Mat3, Vec3};

/// How a tool's axis-angle finger pose is meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeanHand {
    /// Zero is the flat hand (`flat_hand_mean=True`).
    Flat,
    /// Zero is MANO's mean hand (`flat_hand_mean=False`): the model's `hands_mean` is added.
    Added,
}

/// A hand in handtwin's terms.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvertedHand {
    pub pose: ManoPose,
    /// The wrist joint (MANO's joint 0) after posing, in the source's frame and metres.
    pub wrist: Vec3,
}

/// The wrist joint for MANO's `transl`: LBS rotates the root about the rest wrist joint j0(betas), so the
/// posed wrist is `j0(betas) + transl` whatever the rotation.
pub fn wrist_from_transl(
    model: &ManoModel,
    betas: &[f32],
    transl: Vec3,
) -> Result<Vec3, ManoInputError> {
    let (_, joints) = model.shaped(betas)?;
    Ok(joints[0] + transl)
}

/// MANO's `transl` for a wrist position (the inverse of [`wrist_from_transl`]).
pub fn transl_from_wrist(
    model: &ManoModel,
    betas: &[f32],
    wrist: Vec3,
) -> Result<Vec3, ManoInputError> {
    let (_, joints) = model.shaped(betas)?;
    Ok(wrist - joints[0])
}

/// An axis-angle finger pose in either convention to an absolute one.
pub fn absolute_hand_pose(model: &ManoModel, hand_pose: &[f32; 45], mean: MeanHand) -> [f32; 45] {
    let mut out = *hand_pose;
    if mean == MeanHand::Added {
        for (o, m) in out.iter_mut().zip(model.hands_mean()) {
            *o += m;
        }
    }
    out
}

/// HaMeR's output (rotation matrices, absolute) for one hand. HaMeR runs a right-hand model; for a left hand
/// (`is_right == false`) it predicted on a mirrored crop, so the rotations are mirrored back
/// (axis-angle (x, y, z) → (x, −y, −z)); its vertices' x is negated the same way by the caller's camera code.
pub fn from_hamer(global_orient: Mat3, hand_pose: &[Mat3; 15], is_right: bool) -> ManoPose {
    let pose = ManoPose {
        global_orient: axis_angle_from_mat3(global_orient).to_array(),
        hand_pose: hand_pose.map(|m| axis_angle_from_mat3(m).to_array()),
    };
    if is_right { pose } else { pose.mirrored() }
}

/// HOT3D: 15 PCA coefficients (MANO's mean hand added), the wrist transform's rotation and position.
pub fn from_hot3d(
    model: &ManoModel,
    pca: &[f32],
    wrist_rotation: Mat3,
    wrist_position: Vec3,
) -> Result<ConvertedHand, ManoInputError> {
    let flat = model.pca_to_axis_angle(pca, false)?;
    Ok(ConvertedHand {
        pose: ManoPose::from_flat(axis_angle_from_mat3(wrist_rotation).to_array(), &flat),
        wrist: wrist_position,
    })
}

/// ARCTIC (`rot`, `pose` (45, relative to the mean hand), `trans` = MANO `transl`, `shape`).
pub fn from_arctic(
    model: &ManoModel,
    rot: [f32; 3],
    pose: &[f32; 45],
    trans: Vec3,
    betas: &[f32],
) -> Result<ConvertedHand, ManoInputError> {
    let flat = absolute_hand_pose(model, pose, MeanHand::Added);
    Ok(ConvertedHand {
        pose: ManoPose::from_flat(rot, &flat),
        wrist: wrist_from_transl(model, betas, trans)?,
    })
}

/// HO-3D (`handPose` 48 = root + 45 relative to the mean hand, `handTrans` = MANO `transl`, `handBeta`). The
/// result is in HO-3D's OpenCV camera frame (x right, y down, z forward); turn it to OpenGL at the import border.
pub fn from_ho3d(
    model: &ManoModel,
    hand_pose: &[f32; 48],
    hand_trans: Vec3,
    betas: &[f32],
) -> Result<ConvertedHand, ManoInputError> {
    let mut fingers = [0.0; 45];
    fingers.copy_from_slice(&hand_pose[3..]);
    from_arctic(
        model,
        [hand_pose[0], hand_pose[1], hand_pose[2]],
        &fingers,
        hand_trans,
        betas,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hand::{FingerPose, ManoInput, Side};

    fn model() -> ManoModel {
        ManoModel::load_npz(
            std::path::Path::new("tests/fixtures/mano/random_right.npz"),
            Side::Right,
        )
        .unwrap()
    }

    #[test]
    fn arctic_conversion_reproduces_mano_with_mean_and_transl() {
        let model = model();
        let betas = [0.3, -0.5, 0.2, 0.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0];
        let mut pose = [0.0f32; 45];
        for (i, p) in pose.iter_mut().enumerate() {
            *p = ((i * 7 % 11) as f32 - 5.0) * 0.05;
        }
        let rot = [0.3, -0.2, 0.9];
        let trans = Vec3::new(0.05, -0.02, 0.4);
        // The source's own evaluation: MANO with flat_hand_mean=False and transl.
        let mut matrices = [[0.0; 3]; 15];
        for (m, c) in matrices.iter_mut().zip(pose.chunks_exact(3)) {
            m.copy_from_slice(c);
        }
        let source = model
            .forward(&ManoInput {
                global_orient: crate::hand::rotation::mat3_from_axis_angle(Vec3::from_array(rot)),
                fingers: FingerPose::AxisAngleFromMean(matrices),
                betas: betas.to_vec(),
                transl: trans,
            })
            .unwrap();
        let converted = from_arctic(&model, rot, &pose, trans, &betas).unwrap();
        assert!((converted.wrist - source.joints[0]).length() < 1e-6);
        // handtwin's form: absolute pose, posed about the wrist, placed at the wrist.
        let ours = model
            .forward(&ManoInput::from_pose(&converted.pose, &betas))
            .unwrap();
        let offset = converted.wrist - ours.joints[0];
        for (a, b) in ours.vertices.iter().zip(&source.vertices) {
            assert!((*a + offset - *b).length() < 1e-5);
        }
        let back = transl_from_wrist(&model, &betas, converted.wrist).unwrap();
        assert!((back - trans).length() < 1e-6);
    }

    #[test]
    fn hamer_left_hands_are_mirrored_and_hot3d_adds_the_mean() {
        let r = Mat3::from_rotation_y(0.4) * Mat3::from_rotation_x(0.2);
        let right = from_hamer(r, &[r; 15], true);
        let left = from_hamer(r, &[r; 15], false);
        assert_eq!(left, right.mirrored());
        let model = model();
        let hot3d = from_hot3d(&model, &[0.0; 15], Mat3::IDENTITY, Vec3::ONE).unwrap();
        assert_eq!(hot3d.pose.hand_pose_flat(), *model.hands_mean());
        assert_eq!(hot3d.wrist, Vec3::ONE);
    }
}
