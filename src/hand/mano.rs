//! The MANO hand model (Romero et al. 2017): shape blend shapes, pose correctives, joint regression, kinematic
//! chain and linear blend skinning, exactly as MANO defines them (and as the `smplx` package evaluates them).
//!
//! One [`ManoModel`] is one hand: the licensed MANO model loaded from a `.npz` (`tools/convert_mano.py` makes it
//! from the official pickles), or the bundled licence-free hand, which is stored in the same arrays.

use super::npz::{NpyArray, NpyData, Npz, NpzError, read_npz};
use super::pose::ManoPose;
use super::rotation::{axis_angle_from_mat3, mat3_from_axis_angle};
use super::{HandMesh, Side};
use glam::{Affine3A, Mat3, Mat3A, Vec3, Vec3A};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const JOINT_COUNT: usize = 16;
pub const FINGER_JOINT_COUNT: usize = 15;
/// 15 joints × a 3×3 matrix: the length of MANO's pose-corrective feature.
pub const POSE_FEATURE_COUNT: usize = 135;
/// MANO's fingertip vertices (thumb, index, middle, ring, pinky), the ones `smplx` appends as keypoints.
pub const MANO_TIP_VERTICES: [u32; 5] = [744, 320, 443, 554, 672];
/// MANO's kinematic tree (parent of each joint; the wrist has none).
pub const MANO_PARENTS: [usize; JOINT_COUNT] = [0, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14];
/// The 21-keypoint order most tools use (wrist, then thumb, index, middle, ring, pinky from base to tip): indices
/// into MANO's 16 joints followed by the 5 tips (16 = thumb tip … 20 = pinky tip).
pub const KEYPOINT_21_FROM_MANO: [usize; 21] = [
    0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20,
];

#[derive(Debug, Error)]
pub enum HandModelError {
    #[error(transparent)]
    Npz(#[from] NpzError),
    #[error(
        "{path}: array `{name}` is missing; a MANO .npz needs v_template, f, shapedirs, posedirs, J_regressor, \
         weights, kintree_table, hands_components and hands_mean (make one with tools/convert_mano.py)"
    )]
    MissingArray { path: PathBuf, name: String },
    #[error("{path}: array `{name}` has shape {found:?}, expected {expected}")]
    WrongShape {
        path: PathBuf,
        name: String,
        expected: String,
        found: Vec<usize>,
    },
    #[error("{path}: array `{name}` {reason}")]
    BadValue {
        path: PathBuf,
        name: String,
        reason: String,
    },
}

/// How the 15 finger joints are given.
#[derive(Clone, Debug, PartialEq)]
pub enum FingerPose {
    /// Axis-angle per joint, absolute: zero is the flat hand (MANO's `flat_hand_mean=True`).
    AxisAngle([[f32; 3]; FINGER_JOINT_COUNT]),
    /// Axis-angle per joint relative to the model's mean hand (`flat_hand_mean=False`): `hands_mean` is added.
    AxisAngleFromMean([[f32; 3]; FINGER_JOINT_COUNT]),
    /// PCA coefficients (up to 45) over `hands_components`; `flat_hand_mean=false` adds `hands_mean`.
    Pca {
        coefficients: Vec<f32>,
        flat_hand_mean: bool,
    },
    /// One rotation matrix per joint (what HaMeR predicts). Boxed: 540 bytes inline would make every
    /// `FingerPose` (and every `ManoInput`) that large.
    Matrices(Box<[Mat3; FINGER_JOINT_COUNT]>),
}

/// Everything MANO takes: the root rotation, the finger pose, the shape and a translation (metres).
#[derive(Clone, Debug, PartialEq)]
pub struct ManoInput {
    pub global_orient: Mat3,
    pub fingers: FingerPose,
    /// Shape coefficients; fewer than the model has are padded with zeros, more are an error.
    pub betas: Vec<f32>,
    pub transl: Vec3,
}

impl ManoInput {
    /// An absolute axis-angle pose with no translation.
    pub fn from_pose(pose: &ManoPose, betas: &[f32]) -> Self {
        Self {
            global_orient: mat3_from_axis_angle(Vec3::from_array(pose.global_orient)),
            fingers: FingerPose::AxisAngle(pose.hand_pose),
            betas: betas.to_vec(),
            transl: Vec3::ZERO,
        }
    }
}

/// A posed hand: vertices in the model's order, MANO's 16 joints and the 5 fingertips.
#[derive(Clone, Debug, PartialEq)]
pub struct ManoOutput {
    pub vertices: Vec<Vec3>,
    /// MANO's joint order (wrist, index ×3, middle ×3, pinky ×3, ring ×3, thumb ×3).
    pub joints: [Vec3; JOINT_COUNT],
    /// Thumb, index, middle, ring, pinky.
    pub tips: [Vec3; 5],
}

impl ManoOutput {
    /// The 21 keypoints in the common order (wrist; thumb, index, middle, ring, pinky, each base to tip).
    pub fn keypoints21(&self) -> [Vec3; 21] {
        KEYPOINT_21_FROM_MANO.map(|i| {
            if i < JOINT_COUNT {
                self.joints[i]
            } else {
                self.tips[i - JOINT_COUNT]
            }
        })
    }
}

/// Bad input to [`ManoModel::forward`].
#[derive(Debug, Error, PartialEq)]
pub enum ManoInputError {
    #[error("{given} shape coefficients (betas) given, the model has {available}")]
    TooManyBetas { given: usize, available: usize },
    #[error("{given} PCA coefficients given, the model has {available} components")]
    TooManyPcaComponents { given: usize, available: usize },
    #[error("the pose or shape holds a value that is not finite")]
    NotFinite,
}

/// One hand model in MANO's form.
#[derive(Clone, Debug)]
pub struct ManoModel {
    side: Side,
    /// Where it came from, for the UI ("MANO_RIGHT.npz", "bundled hand").
    source: String,
    v_template: Vec<Vec3>,
    faces: Vec<[u32; 3]>,
    /// `faces` and the faces closing the wrist.
    closed_faces: Vec<[u32; 3]>,
    /// `shapedirs[v * beta_count + k]`: vertex v's offset per unit of beta k.
    shapedirs: Vec<Vec3>,
    beta_count: usize,
    /// Row `v * 3 + c` holds the 135 pose-corrective coefficients of vertex v's coordinate c; empty when they
    /// are all zero (the bundled hand), which skips the work.
    posedirs: Vec<f32>,
    /// Sparse rows of the joint regressor: (vertex, weight).
    j_regressor: Vec<Vec<(u32, f32)>>,
    /// Sparse skinning weights per vertex: (joint, weight).
    weights: Vec<Vec<(u8, f32)>>,
    parents: [usize; JOINT_COUNT],
    /// Rows of 45 numbers (at most 45 rows).
    hands_components: Vec<[f32; 45]>,
    hands_mean: [f32; 45],
    tip_vertices: [u32; 5],
}

impl ManoModel {
    /// Loads a MANO-layout `.npz` (MANO's own array names and shapes), every array's shape checked.
    pub fn load_npz(path: &Path, side: Side) -> Result<Self, HandModelError> {
        let npz = read_npz(path)?;
        Self::from_npz(&npz, side)
    }

    pub fn from_npz(npz: &Npz, side: Side) -> Result<Self, HandModelError> {
        let path = npz.path.clone();
        let get = |name: &str| -> Result<&NpyArray, HandModelError> {
            npz.arrays
                .get(name)
                .ok_or_else(|| HandModelError::MissingArray {
                    path: path.clone(),
                    name: name.to_owned(),
                })
        };
        let wrong_shape =
            |name: &str, expected: &str, array: &NpyArray| HandModelError::WrongShape {
                path: path.clone(),
                name: name.to_owned(),
                expected: expected.to_owned(),
                found: array.shape.clone(),
            };
        let bad = |name: &str, reason: String| HandModelError::BadValue {
            path: path.clone(),
            name: name.to_owned(),
            reason,
        };
        let floats = |name: &str, array: &NpyArray| -> Result<Vec<f32>, HandModelError> {
            match &array.data {
                NpyData::Float(values) => {
                    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                        return Err(bad(
                            name,
                            format!("holds a value that is not finite at flat index {i}"),
                        ));
                    }
                    Ok(values.iter().map(|&v| v as f32).collect())
                }
                NpyData::Int(values) => Ok(values.iter().map(|&v| v as f32).collect()),
            }
        };
        let ints = |name: &str, array: &NpyArray| -> Result<Vec<i64>, HandModelError> {
            match &array.data {
                NpyData::Int(values) => Ok(values.clone()),
                NpyData::Float(_) => Err(bad(
                    name,
                    format!("has dtype {}, expected integers", array.dtype),
                )),
            }
        };

        let template = get("v_template")?;
        let vertex_count = match template.shape.as_slice() {
            [v, 3] if *v > 0 => *v,
            _ => return Err(wrong_shape("v_template", "(V, 3)", template)),
        };
        let v_template: Vec<Vec3> = floats("v_template", template)?
            .chunks_exact(3)
            .map(Vec3::from_slice)
            .collect();

        let f = get("f")?;
        if !matches!(f.shape.as_slice(), [n, 3] if *n > 0) {
            return Err(wrong_shape("f", "(F, 3)", f));
        }
        let mut faces = Vec::with_capacity(f.shape[0]);
        for (face, chunk) in ints("f", f)?.chunks_exact(3).enumerate() {
            let mut triangle = [0u32; 3];
            for (slot, &index) in triangle.iter_mut().zip(chunk) {
                *slot = u32::try_from(index)
                    .ok()
                    .filter(|&i| (i as usize) < vertex_count)
                    .ok_or_else(|| {
                        bad(
                            "f",
                            format!(
                                "face {face} uses vertex {index}; the template has {vertex_count}"
                            ),
                        )
                    })?;
            }
            faces.push(triangle);
        }

        let shapedirs_array = get("shapedirs")?;
        let beta_count = match shapedirs_array.shape.as_slice() {
            [v, 3, b] if *v == vertex_count => *b,
            _ => {
                return Err(wrong_shape(
                    "shapedirs",
                    &format!("({vertex_count}, 3, B)"),
                    shapedirs_array,
                ));
            }
        };
        let raw = floats("shapedirs", shapedirs_array)?;
        // Stored [v][c][k]; kept as one Vec3 per (v, k).
        let mut shapedirs = vec![Vec3::ZERO; vertex_count * beta_count];
        for v in 0..vertex_count {
            for k in 0..beta_count {
                shapedirs[v * beta_count + k] = Vec3::new(
                    raw[(v * 3) * beta_count + k],
                    raw[(v * 3 + 1) * beta_count + k],
                    raw[(v * 3 + 2) * beta_count + k],
                );
            }
        }

        let posedirs_array = get("posedirs")?;
        if posedirs_array.shape != [vertex_count, 3, POSE_FEATURE_COUNT] {
            return Err(wrong_shape(
                "posedirs",
                &format!("({vertex_count}, 3, {POSE_FEATURE_COUNT})"),
                posedirs_array,
            ));
        }
        let mut posedirs = floats("posedirs", posedirs_array)?;
        if posedirs.iter().all(|&v| v == 0.0) {
            posedirs.clear();
        }

        let regressor = get("J_regressor")?;
        if regressor.shape != [JOINT_COUNT, vertex_count] {
            return Err(wrong_shape(
                "J_regressor",
                &format!("({JOINT_COUNT}, {vertex_count}), dense"),
                regressor,
            ));
        }
        let regressor_values = floats("J_regressor", regressor)?;
        let j_regressor: Vec<Vec<(u32, f32)>> = regressor_values
            .chunks_exact(vertex_count)
            .map(|row| {
                row.iter()
                    .enumerate()
                    .filter(|(_, w)| **w != 0.0)
                    .map(|(v, &w)| (v as u32, w))
                    .collect()
            })
            .collect();
        if let Some(joint) = j_regressor.iter().position(Vec::is_empty) {
            return Err(bad(
                "J_regressor",
                format!("row {joint} is all zeros, so joint {joint} would sit at the origin"),
            ));
        }

        let weights_array = get("weights")?;
        if weights_array.shape != [vertex_count, JOINT_COUNT] {
            return Err(wrong_shape(
                "weights",
                &format!("({vertex_count}, {JOINT_COUNT})"),
                weights_array,
            ));
        }
        let weight_values = floats("weights", weights_array)?;
        let mut weights = Vec::with_capacity(vertex_count);
        for (v, row) in weight_values.chunks_exact(JOINT_COUNT).enumerate() {
            let sum: f32 = row.iter().sum();
            if (sum - 1.0).abs() > 1e-3 {
                return Err(bad(
                    "weights",
                    format!("row {v} sums to {sum}, not 1 (skinning weights must be normalised)"),
                ));
            }
            weights.push(
                row.iter()
                    .enumerate()
                    .filter(|(_, w)| **w != 0.0)
                    .map(|(j, &w)| (j as u8, w))
                    .collect(),
            );
        }

        let tree = get("kintree_table")?;
        if tree.shape != [2, JOINT_COUNT] {
            return Err(wrong_shape(
                "kintree_table",
                &format!("(2, {JOINT_COUNT})"),
                tree,
            ));
        }
        let tree_values = ints("kintree_table", tree)?;
        let (parent_row, id_row) = tree_values.split_at(JOINT_COUNT);
        // Joint ids map to positions; parents must come before their children (MANO's order does).
        let position_of = |id: i64| id_row.iter().position(|&x| x == id);
        let mut parents = [0usize; JOINT_COUNT];
        for joint in 1..JOINT_COUNT {
            let parent = position_of(parent_row[joint])
                .filter(|&p| p < joint)
                .ok_or_else(|| {
                    bad(
                        "kintree_table",
                        format!(
                            "gives joint {joint} the parent {}, which is not an earlier joint",
                            parent_row[joint]
                        ),
                    )
                })?;
            parents[joint] = parent;
        }

        let components = get("hands_components")?;
        if !matches!(components.shape.as_slice(), [k, 45] if *k <= 45) {
            return Err(wrong_shape("hands_components", "(K ≤ 45, 45)", components));
        }
        let hands_components = floats("hands_components", components)?
            .chunks_exact(45)
            .map(|row| {
                let mut out = [0.0; 45];
                out.copy_from_slice(row);
                out
            })
            .collect();

        let mean = get("hands_mean")?;
        if mean.shape != [45] {
            return Err(wrong_shape("hands_mean", "(45,)", mean));
        }
        let mut hands_mean = [0.0; 45];
        hands_mean.copy_from_slice(&floats("hands_mean", mean)?);

        let tip_vertices = match npz.arrays.get("tip_vertex_ids") {
            Some(tips) => {
                if tips.shape != [5] {
                    return Err(wrong_shape("tip_vertex_ids", "(5,)", tips));
                }
                let values = ints("tip_vertex_ids", tips)?;
                let mut out = [0u32; 5];
                for (slot, &v) in out.iter_mut().zip(&values) {
                    *slot = u32::try_from(v)
                        .ok()
                        .filter(|&i| (i as usize) < vertex_count)
                        .ok_or_else(|| {
                            bad("tip_vertex_ids", format!("names vertex {v}, out of range"))
                        })?;
                }
                out
            }
            None if vertex_count == 778 => MANO_TIP_VERTICES,
            None => {
                return Err(HandModelError::MissingArray {
                    path: path.clone(),
                    name: "tip_vertex_ids".into(),
                });
            }
        };

        let source = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let closed_faces = close(&faces);
        Ok(Self {
            side,
            source,
            v_template,
            closed_faces,
            faces,
            shapedirs,
            beta_count,
            posedirs,
            j_regressor,
            weights,
            parents,
            hands_components,
            hands_mean,
            tip_vertices,
        })
    }

    pub fn side(&self) -> Side {
        self.side
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn set_source(&mut self, source: impl Into<String>) {
        self.source = source.into();
    }

    pub fn vertex_count(&self) -> usize {
        self.v_template.len()
    }

    pub fn faces(&self) -> &[[u32; 3]] {
        &self.faces
    }

    pub fn template(&self) -> &[Vec3] {
        &self.v_template
    }

    pub fn beta_count(&self) -> usize {
        self.beta_count
    }

    pub fn pca_component_count(&self) -> usize {
        self.hands_components.len()
    }

    pub fn parents(&self) -> &[usize; JOINT_COUNT] {
        &self.parents
    }

    pub fn hands_mean(&self) -> &[f32; 45] {
        &self.hands_mean
    }

    pub fn tip_vertices(&self) -> [u32; 5] {
        self.tip_vertices
    }

    /// MANO's `hand_pose` from PCA coefficients: Σ cᵢ · componentᵢ (+ `hands_mean` unless `flat_hand_mean`).
    pub fn pca_to_axis_angle(
        &self,
        coefficients: &[f32],
        flat_hand_mean: bool,
    ) -> Result<[f32; 45], ManoInputError> {
        if coefficients.len() > self.hands_components.len() {
            return Err(ManoInputError::TooManyPcaComponents {
                given: coefficients.len(),
                available: self.hands_components.len(),
            });
        }
        let mut out = if flat_hand_mean {
            [0.0; 45]
        } else {
            self.hands_mean
        };
        for (c, component) in coefficients.iter().zip(&self.hands_components) {
            for (o, x) in out.iter_mut().zip(component) {
                *o += c * x;
            }
        }
        Ok(out)
    }

    /// The absolute axis-angle pose an input describes (matrices are converted), e.g. for storing in a track.
    pub fn resolve_pose(&self, input: &ManoInput) -> Result<ManoPose, ManoInputError> {
        let rotations = self.joint_rotations(input)?;
        let mut pose = ManoPose {
            global_orient: axis_angle_from_mat3(rotations[0]).to_array(),
            hand_pose: [[0.0; 3]; FINGER_JOINT_COUNT],
        };
        for (out, r) in pose.hand_pose.iter_mut().zip(&rotations[1..]) {
            *out = axis_angle_from_mat3(*r).to_array();
        }
        Ok(pose)
    }

    fn joint_rotations(&self, input: &ManoInput) -> Result<[Mat3; JOINT_COUNT], ManoInputError> {
        let mut rotations = [Mat3::IDENTITY; JOINT_COUNT];
        rotations[0] = input.global_orient;
        let from_flat = |flat: &[f32; 45], rotations: &mut [Mat3; JOINT_COUNT]| {
            for (joint, chunk) in flat.chunks_exact(3).enumerate() {
                rotations[joint + 1] = mat3_from_axis_angle(Vec3::from_slice(chunk));
            }
        };
        match &input.fingers {
            FingerPose::AxisAngle(pose) => {
                for (joint, r) in pose.iter().enumerate() {
                    rotations[joint + 1] = mat3_from_axis_angle(Vec3::from_array(*r));
                }
            }
            FingerPose::AxisAngleFromMean(pose) => {
                let mut flat = self.hands_mean;
                for (o, x) in flat.iter_mut().zip(pose.iter().flatten()) {
                    *o += x;
                }
                from_flat(&flat, &mut rotations);
            }
            FingerPose::Pca {
                coefficients,
                flat_hand_mean,
            } => {
                let flat = self.pca_to_axis_angle(coefficients, *flat_hand_mean)?;
                from_flat(&flat, &mut rotations);
            }
            FingerPose::Matrices(matrices) => rotations[1..].copy_from_slice(&matrices[..]),
        }
        if !rotations.iter().all(|r| r.is_finite()) {
            return Err(ManoInputError::NotFinite);
        }
        Ok(rotations)
    }

    /// The shaped template (template + shape blend shapes) and its regressed joints.
    pub fn shaped(
        &self,
        betas: &[f32],
    ) -> Result<(Vec<Vec3>, [Vec3; JOINT_COUNT]), ManoInputError> {
        if betas.len() > self.beta_count {
            return Err(ManoInputError::TooManyBetas {
                given: betas.len(),
                available: self.beta_count,
            });
        }
        if !betas.iter().all(|b| b.is_finite()) {
            return Err(ManoInputError::NotFinite);
        }
        let mut shaped = self.v_template.clone();
        if betas.iter().any(|&b| b != 0.0) {
            for (v, out) in shaped.iter_mut().enumerate() {
                let dirs = &self.shapedirs[v * self.beta_count..][..betas.len()];
                for (beta, dir) in betas.iter().zip(dirs) {
                    *out += *dir * *beta;
                }
            }
        }
        let mut joints = [Vec3::ZERO; JOINT_COUNT];
        for (joint, row) in joints.iter_mut().zip(&self.j_regressor) {
            *joint = row
                .iter()
                .fold(Vec3::ZERO, |acc, &(v, w)| acc + shaped[v as usize] * w);
        }
        Ok((shaped, joints))
    }

    /// Poses the hand: MANO's forward pass.
    pub fn forward(&self, input: &ManoInput) -> Result<ManoOutput, ManoInputError> {
        if !input.transl.is_finite() {
            return Err(ManoInputError::NotFinite);
        }
        let rotations = self.joint_rotations(input)?;
        let (mut vertices, rest_joints) = self.shaped(&input.betas)?;

        // Pose correctives from the 15 finger rotations minus identity, row-major per joint.
        if !self.posedirs.is_empty() {
            let mut feature = [0.0f32; POSE_FEATURE_COUNT];
            for (joint, r) in rotations[1..].iter().enumerate() {
                for row in 0..3 {
                    let values = r.row(row) - Mat3::IDENTITY.row(row);
                    feature[joint * 9 + row * 3..][..3].copy_from_slice(&values.to_array());
                }
            }
            for (v, vertex) in vertices.iter_mut().enumerate() {
                let rows = &self.posedirs[v * 3 * POSE_FEATURE_COUNT..][..3 * POSE_FEATURE_COUNT];
                let mut offset = [0.0f32; 3];
                for (c, row) in rows.chunks_exact(POSE_FEATURE_COUNT).enumerate() {
                    offset[c] = row.iter().zip(&feature).map(|(a, b)| a * b).sum();
                }
                *vertex += Vec3::from_array(offset);
            }
        }

        // Kinematic chain: G_j = G_parent · [R_j | J_j − J_parent]; skinning uses G_j · (v − J_j).
        let mut world = [Affine3A::IDENTITY; JOINT_COUNT];
        for joint in 0..JOINT_COUNT {
            let local_translation = if joint == 0 {
                rest_joints[0]
            } else {
                rest_joints[joint] - rest_joints[self.parents[joint]]
            };
            let local = Affine3A::from_mat3_translation(rotations[joint], local_translation);
            world[joint] = if joint == 0 {
                local
            } else {
                world[self.parents[joint]] * local
            };
        }
        let mut joints = [Vec3::ZERO; JOINT_COUNT];
        let mut skinning = [Affine3A::IDENTITY; JOINT_COUNT];
        for joint in 0..JOINT_COUNT {
            joints[joint] = Vec3::from(world[joint].translation) + input.transl;
            skinning[joint] = Affine3A {
                matrix3: world[joint].matrix3,
                translation: world[joint].translation
                    - world[joint].matrix3 * Vec3A::from(rest_joints[joint]),
            };
        }
        for (vertex, weights) in vertices.iter_mut().zip(&self.weights) {
            let mut matrix = Mat3A::ZERO;
            let mut translation = Vec3A::ZERO;
            for &(joint, w) in weights {
                let s = &skinning[joint as usize];
                matrix += s.matrix3 * w;
                translation += s.translation * w;
            }
            *vertex = Vec3::from(matrix * Vec3A::from(*vertex) + translation) + input.transl;
        }
        let tips = self.tip_vertices.map(|v| vertices[v as usize]);
        Ok(ManoOutput {
            vertices,
            joints,
            tips,
        })
    }

    /// The model's faces plus the ones closing the open wrist (see [`super::topology::closing_faces`]).
    pub fn closed_faces(&self) -> &[[u32; 3]] {
        &self.closed_faces
    }

    /// The posed mesh of an absolute axis-angle pose in hand space: the wrist joint at the origin, MANO's
    /// axes (see `action::HandKeyframe`: hand space is `v − j0`, with the root rotation applied about j0). The
    /// open wrist is closed, as DWM's renderer does for MANO (HaMeR's 14 extra faces), so no view looks into
    /// the tube.
    pub fn pose_mesh(&self, pose: &ManoPose, betas: &[f32]) -> Result<HandMesh, ManoInputError> {
        let output = self.forward(&ManoInput::from_pose(pose, betas))?;
        let wrist = output.joints[0];
        let vertices = output.vertices.iter().map(|&v| v - wrist).collect();
        // Validated at load: every face index is in range and the LBS output is finite for finite input.
        HandMesh::new(self.side, vertices, self.closed_faces.clone())
            .map_err(|_| ManoInputError::NotFinite)
    }

    /// The model of the other hand by mirroring across the x = 0 plane: x of the template, of the shape and
    /// pose blend shapes negated as the mirror requires, faces rewound so normals still point outward, and the
    /// PCA basis mirrored. The bundled left hand is the mirrored bundled right hand.
    pub fn mirrored(&self) -> ManoModel {
        let m = |v: Vec3| Vec3::new(-v.x, v.y, v.z);
        // Pose feature entry (a, b) of M·R·M − I = M·(R − I)·M changes sign by m_a·m_b; the offset's x flips.
        let sign = |c: usize, a: usize, b: usize| {
            let s = |i: usize| if i == 0 { -1.0 } else { 1.0 };
            s(c) * s(a) * s(b)
        };
        let mut posedirs = self.posedirs.clone();
        if !posedirs.is_empty() {
            for v in 0..self.v_template.len() {
                for c in 0..3 {
                    let row =
                        &mut posedirs[(v * 3 + c) * POSE_FEATURE_COUNT..][..POSE_FEATURE_COUNT];
                    for (p, value) in row.iter_mut().enumerate() {
                        let within = p % 9;
                        *value *= sign(c, within / 3, within % 3);
                    }
                }
            }
        }
        let mirror_flat = |flat: &[f32; 45]| {
            let mut out = *flat;
            for chunk in out.chunks_exact_mut(3) {
                chunk[1] = -chunk[1];
                chunk[2] = -chunk[2];
            }
            out
        };
        let mirrored_faces: Vec<[u32; 3]> = self.faces.iter().map(|&[a, b, c]| [a, c, b]).collect();
        ManoModel {
            side: match self.side {
                Side::Left => Side::Right,
                Side::Right => Side::Left,
            },
            source: format!("{} (mirrored)", self.source),
            v_template: self.v_template.iter().map(|&v| m(v)).collect(),
            closed_faces: close(&mirrored_faces),
            faces: mirrored_faces,
            shapedirs: self.shapedirs.iter().map(|&v| m(v)).collect(),
            beta_count: self.beta_count,
            posedirs,
            j_regressor: self.j_regressor.clone(),
            weights: self.weights.clone(),
            parents: self.parents,
            hands_components: self.hands_components.iter().map(mirror_flat).collect(),
            hands_mean: mirror_flat(&self.hands_mean),
            tip_vertices: self.tip_vertices,
        }
    }

    /// The known fix of MANO's left model: its shape blend shapes were shipped unmirrored (the x component of
    /// every shape direction has the right hand's sign; smplx issue #48, applied by HaMeR, ARCTIC and others as
    /// `shapedirs[:, 0, :] *= -1`). Applied only when the left model's x components match the right model's,
    /// so a corrected file is left alone. Returns whether it changed anything.
    pub fn fix_left_shapedirs(&mut self, right: &ManoModel) -> bool {
        if self.side != Side::Left
            || right.side != Side::Right
            || self.shapedirs.len() != right.shapedirs.len()
        {
            return false;
        }
        let difference: f32 = self
            .shapedirs
            .iter()
            .zip(&right.shapedirs)
            .map(|(a, b)| (a.x - b.x).abs())
            .sum();
        if difference >= 1.0 {
            return false;
        }
        for dir in &mut self.shapedirs {
            dir.x = -dir.x;
        }
        true
    }
}

fn close(faces: &[[u32; 3]]) -> Vec<[u32; 3]> {
    let mut closed = faces.to_vec();
    closed.extend(super::topology::closing_faces(faces));
    closed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hand::npz::write_npz;

    /// A small random MANO-shaped model (778 vertices so MANO's tip ids apply).
    pub(crate) fn random_model_npz(dir: &Path, seed: u64) -> PathBuf {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0
        };
        let v = 778;
        let template: Vec<f64> = (0..v * 3).map(|_| next() * 0.1).collect();
        let faces: Vec<i64> = (0..100)
            .flat_map(|i| [i as i64, i as i64 + 1, i as i64 + 2])
            .collect();
        let shapedirs: Vec<f64> = (0..v * 3 * 10).map(|_| next() * 0.01).collect();
        let posedirs: Vec<f64> = (0..v * 3 * 135).map(|_| next() * 0.01).collect();
        let mut regressor = vec![0.0; 16 * v];
        for j in 0..16 {
            for k in 0..4 {
                regressor[j * v + (j * 37 + k * 11) % v] = 0.25;
            }
        }
        let mut weights = vec![0.0; v * 16];
        for i in 0..v {
            weights[i * 16 + i % 16] = 0.7;
            weights[i * 16 + (i + 1) % 16] = 0.3;
        }
        let mut tree: Vec<i64> = vec![4294967295];
        tree.extend(MANO_PARENTS[1..].iter().map(|&p| p as i64));
        tree.extend(0..16);
        let components: Vec<f64> = (0..45 * 45).map(|_| next() * 0.3).collect();
        let mean: Vec<f64> = (0..45).map(|_| next() * 0.2).collect();
        let path = dir.join(format!("random_{seed}.npz"));
        write_npz(
            &path,
            &[
                ("v_template", &[v, 3], NpyData::Float(template)),
                ("f", &[100, 3], NpyData::Int(faces)),
                ("shapedirs", &[v, 3, 10], NpyData::Float(shapedirs)),
                ("posedirs", &[v, 3, 135], NpyData::Float(posedirs)),
                ("J_regressor", &[16, v], NpyData::Float(regressor)),
                ("weights", &[v, 16], NpyData::Float(weights)),
                ("kintree_table", &[2, 16], NpyData::Int(tree)),
                ("hands_components", &[45, 45], NpyData::Float(components)),
                ("hands_mean", &[45], NpyData::Float(mean)),
            ],
        )
        .unwrap();
        path
    }

    #[test]
    fn zero_pose_and_shape_give_the_template() {
        let dir = tempfile::tempdir().unwrap();
        let model = ManoModel::load_npz(&random_model_npz(dir.path(), 1), Side::Right).unwrap();
        let out = model
            .forward(&ManoInput::from_pose(&ManoPose::FLAT, &[0.0; 10]))
            .unwrap();
        for (a, b) in out.vertices.iter().zip(model.template()) {
            assert!((*a - *b).length() < 1e-7);
        }
        let (_, joints) = model.shaped(&[]).unwrap();
        for (a, b) in out.joints.iter().zip(&joints) {
            assert!((*a - *b).length() < 1e-7);
        }
    }

    #[test]
    fn mirrored_model_with_mirrored_pose_gives_the_mirrored_mesh() {
        let dir = tempfile::tempdir().unwrap();
        let right = ManoModel::load_npz(&random_model_npz(dir.path(), 2), Side::Right).unwrap();
        let left = right.mirrored();
        let mut pose = ManoPose::FLAT;
        for (j, r) in pose.hand_pose.iter_mut().enumerate() {
            *r = [0.1 * j as f32 - 0.5, 0.3, -0.2 + 0.05 * j as f32];
        }
        pose.global_orient = [0.4, -0.7, 0.2];
        let betas = [0.5, -1.0, 0.3, 0.0, 0.2, 0.1, -0.4, 0.9, 0.0, 1.0];
        let mut input = ManoInput::from_pose(&pose, &betas);
        input.transl = Vec3::new(0.1, 0.2, 0.3);
        let r = right.forward(&input).unwrap();
        let mut mirrored_input = ManoInput::from_pose(&pose.mirrored(), &betas);
        mirrored_input.transl = Vec3::new(-0.1, 0.2, 0.3);
        let l = left.forward(&mirrored_input).unwrap();
        for (a, b) in r.vertices.iter().zip(&l.vertices) {
            assert!(
                (Vec3::new(-a.x, a.y, a.z) - *b).length() < 1e-5,
                "{a} vs {b}"
            );
        }
        // PCA input mirrors too.
        let coefficients = vec![0.3, -0.2, 0.5];
        let pca = |model: &ManoModel| {
            model
                .forward(&ManoInput {
                    global_orient: Mat3::IDENTITY,
                    fingers: FingerPose::Pca {
                        coefficients: coefficients.clone(),
                        flat_hand_mean: false,
                    },
                    betas: vec![],
                    transl: Vec3::ZERO,
                })
                .unwrap()
        };
        let (r, l) = (pca(&right), pca(&left));
        for (a, b) in r.joints.iter().zip(&l.joints) {
            assert!((Vec3::new(-a.x, a.y, a.z) - *b).length() < 1e-5);
        }
    }

    #[test]
    fn left_shapedirs_fix_applies_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = random_model_npz(dir.path(), 3);
        let right = ManoModel::load_npz(&path, Side::Right).unwrap();
        let mut left = ManoModel::load_npz(&path, Side::Left).unwrap();
        assert!(left.fix_left_shapedirs(&right));
        assert!(!left.fix_left_shapedirs(&right));
        assert_eq!(left.shapedirs[5].x, -right.shapedirs[5].x);
        assert_eq!(left.shapedirs[5].y, right.shapedirs[5].y);
    }

    #[test]
    fn wrong_arrays_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("partial.npz");
        write_npz(
            &path,
            &[("v_template", &[4, 3], NpyData::Float(vec![0.0; 12]))],
        )
        .unwrap();
        let err = ManoModel::load_npz(&path, Side::Right)
            .unwrap_err()
            .to_string();
        assert!(err.contains("partial.npz") && err.contains("`f`"), "{err}");
        write_npz(
            &path,
            &[
                ("v_template", &[4, 3], NpyData::Float(vec![0.0; 12])),
                ("f", &[1, 3], NpyData::Int(vec![0, 1, 9])),
            ],
        )
        .unwrap();
        let err = ManoModel::load_npz(&path, Side::Right)
            .unwrap_err()
            .to_string();
        assert!(err.contains("face 0 uses vertex 9"), "{err}");
        write_npz(
            &path,
            &[
                ("v_template", &[4, 3], NpyData::Float(vec![0.0; 12])),
                ("f", &[1, 3], NpyData::Int(vec![0, 1, 2])),
                ("shapedirs", &[4, 10], NpyData::Float(vec![0.0; 40])),
            ],
        )
        .unwrap();
        let err = ManoModel::load_npz(&path, Side::Right)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`shapedirs` has shape [4, 10]"), "{err}");
    }

    #[test]
    fn input_errors() {
        let dir = tempfile::tempdir().unwrap();
        let model = ManoModel::load_npz(&random_model_npz(dir.path(), 4), Side::Right).unwrap();
        let mut input = ManoInput::from_pose(&ManoPose::FLAT, &[0.0; 11]);
        assert_eq!(
            model.forward(&input).unwrap_err(),
            ManoInputError::TooManyBetas {
                given: 11,
                available: 10
            }
        );
        input.betas = vec![f32::NAN];
        assert_eq!(
            model.forward(&input).unwrap_err(),
            ManoInputError::NotFinite
        );
    }
}
