//! MANO poses: the pose type, named presets, and per-finger curl/spread controls that produce poses.
//!
//! Presets and controls are defined on MANO's right-hand rest skeleton (fingers along −x, palm facing −y, thumb
//! towards +z; every joint's rest frame is the model frame), which the bundled hand shares, so one pose vector
//! means the same gesture on both models. A left hand takes the mirrored pose ([`ManoPose::mirrored`]).

use super::Side;
use super::rotation::{axis_angle_from_mat3, mirror_axis_angle, slerp_axis_angle};
use glam::{Mat3, Vec3};
use serde::{Deserialize, Serialize};

/// A MANO pose as MANO names it: 16 joint rotations as axis-angle (radians) — the root (`global_orient`) and the
/// 15 finger joints (`hand_pose`, MANO's joint order, full axis-angle, not PCA, not relative to the mean pose).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ManoPose {
    pub global_orient: [f32; 3],
    pub hand_pose: [[f32; 3]; 15],
}

impl Default for ManoPose {
    fn default() -> Self {
        Self::FLAT
    }
}

impl ManoPose {
    /// The flat hand (all joint rotations zero).
    pub const FLAT: ManoPose = ManoPose {
        global_orient: [0.0; 3],
        hand_pose: [[0.0; 3]; 15],
    };

    /// Per joint on SO(3) (quaternion slerp, short path).
    pub fn interpolate(&self, other: &ManoPose, u: f32) -> ManoPose {
        let mut hand_pose = [[0.0; 3]; 15];
        for ((out, a), b) in hand_pose
            .iter_mut()
            .zip(&self.hand_pose)
            .zip(&other.hand_pose)
        {
            *out = slerp_axis_angle(*a, *b, u);
        }
        ManoPose {
            global_orient: slerp_axis_angle(self.global_orient, other.global_orient, u),
            hand_pose,
        }
    }

    /// The same gesture for the other hand: every rotation mirrored across the x = 0 plane.
    pub fn mirrored(&self) -> ManoPose {
        ManoPose {
            global_orient: mirror_axis_angle(self.global_orient),
            hand_pose: self.hand_pose.map(mirror_axis_angle),
        }
    }

    /// The 45 finger numbers in MANO's flat order (joint-major).
    pub fn hand_pose_flat(&self) -> [f32; 45] {
        let mut out = [0.0; 45];
        for (chunk, joint) in out.chunks_exact_mut(3).zip(&self.hand_pose) {
            chunk.copy_from_slice(joint);
        }
        out
    }

    pub fn from_flat(global_orient: [f32; 3], hand_pose: &[f32; 45]) -> ManoPose {
        let mut pose = [[0.0; 3]; 15];
        for (joint, chunk) in pose.iter_mut().zip(hand_pose.chunks_exact(3)) {
            joint.copy_from_slice(chunk);
        }
        ManoPose {
            global_orient,
            hand_pose: pose,
        }
    }
}

/// MANO's right-hand rest joints (metres, MANO's joint order), the frame presets and controls are defined in.
/// Values of the public MANO right-hand model at zero shape; the bundled hand is fitted to the same layout.
pub const MANO_RIGHT_REST_JOINTS: [[f32; 3]; 16] = [
    [0.095_669_94, 0.006_383_43, 0.006_186_3],
    [0.007_572_68, 0.001_183_07, 0.026_872_3],
    [-0.025_106_22, 0.005_192_43, 0.029_089_36],
    [-0.047_262_13, 0.003_894, 0.028_975_24],
    [0.001_009_49, 0.004_904_47, 0.002_828_76],
    [-0.030_173_18, 0.006_765_79, -0.002_765_74],
    [-0.053_077_82, 0.005_513_69, -0.006_710_26],
    [0.026_882_96, -0.003_556_9, -0.037_023_03],
    [0.009_868_55, -0.003_495_07, -0.049_521_81],
    [-0.005_998_35, -0.004_186_23, -0.059_853_71],
    [0.013_934_37, 0.002_426_01, -0.020_486_89],
    [-0.014_379_9, 0.004_493_01, -0.025_585_42],
    [-0.037_900_42, 0.002_804_9, -0.033_219_24],
    [0.071_580_22, -0.009_138_91, 0.031_999_15],
    [0.051_946_98, -0.008_247_62, 0.055_698_7],
    [0.029_729_24, -0.013_680_59, 0.070_222_82],
];

/// The five fingers, in the order of the 21-keypoint convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Finger {
    Thumb,
    Index,
    Middle,
    Ring,
    Pinky,
}

impl Finger {
    pub const ALL: [Finger; 5] = [
        Finger::Thumb,
        Finger::Index,
        Finger::Middle,
        Finger::Ring,
        Finger::Pinky,
    ];

    /// The finger's three MANO joints (base to tip; 1-based joint indices, 0 is the wrist).
    pub fn mano_joints(self) -> [usize; 3] {
        match self {
            Finger::Index => [1, 2, 3],
            Finger::Middle => [4, 5, 6],
            Finger::Pinky => [7, 8, 9],
            Finger::Ring => [10, 11, 12],
            Finger::Thumb => [13, 14, 15],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Finger::Thumb => "thumb",
            Finger::Index => "index",
            Finger::Middle => "middle",
            Finger::Ring => "ring",
            Finger::Pinky => "pinky",
        }
    }
}

/// How one finger is held: `curl` 0 = straight, 1 = fully flexed (negative bends it back a little);
/// `spread` −1…1 moves it sideways away from (positive) or towards (negative) the middle finger. For the
/// thumb, `spread` is opposition: positive swings it in front of the palm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FingerControl {
    pub curl: f32,
    pub spread: f32,
}

/// Per-finger controls in [`Finger::ALL`] order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HandControls {
    pub fingers: [FingerControl; 5],
}

/// Full-flexion angles (radians) at the base, middle and end joint of a long finger, and of the thumb.
const FINGER_FULL_CURL: [f32; 3] = [1.45, 1.75, 1.15];
const THUMB_FULL_CURL: [f32; 3] = [0.5, 0.7, 1.0];
/// Sideways range at a finger's base joint, and the thumb's opposition swing (radians).
const FINGER_SPREAD: f32 = 0.3;
const THUMB_OPPOSITION: f32 = 0.9;

impl HandControls {
    pub fn finger(&self, finger: Finger) -> FingerControl {
        self.fingers[finger_index(finger)]
    }

    pub fn set(&mut self, finger: Finger, control: FingerControl) {
        self.fingers[finger_index(finger)] = control;
    }

    /// The right-hand MANO finger pose these controls describe (global orientation zero). Mirror it with
    /// [`ManoPose::mirrored`] for a left hand, or use [`HandControls::pose_for`].
    pub fn right_hand_pose(&self) -> ManoPose {
        let joints = MANO_RIGHT_REST_JOINTS.map(Vec3::from_array);
        // Out of the palm: index base × pinky base, seen from the wrist (−y for MANO's right hand).
        let palm_normal = (joints[1] - joints[0])
            .cross(joints[7] - joints[0])
            .normalize();
        let middle_base = joints[4];
        let mut pose = ManoPose::FLAT;
        for finger in Finger::ALL {
            let control = self.finger(finger);
            let [base, mid, end] = finger.mano_joints();
            let direction = (joints[mid] - joints[base]).normalize();
            // Rotating about direction × palm_normal by a positive angle turns a finger into the palm. The thumb
            // sits turned about its own axis, so it flexes mostly about the palm normal: across the palm, towards
            // the little finger, with some of the long fingers' component so the tip also comes down.
            let flex_axis = if finger == Finger::Thumb {
                (palm_normal + 0.5 * direction.cross(palm_normal)).normalize()
            } else {
                direction.cross(palm_normal).normalize()
            };
            let full = if finger == Finger::Thumb {
                THUMB_FULL_CURL
            } else {
                FINGER_FULL_CURL
            };
            let curl = control.curl.clamp(-0.3, 1.2);
            let spread = control.spread.clamp(-1.0, 1.0);
            let base_rotation = if finger == Finger::Thumb {
                // Opposition: swing the thumb about the index's base direction, in front of the palm.
                let swing_axis = (joints[2] - joints[1]).normalize();
                Mat3::from_axis_angle(swing_axis, -spread * THUMB_OPPOSITION)
                    * Mat3::from_axis_angle(flex_axis, curl * full[0])
            } else {
                // Sideways about the palm normal, signed so positive moves away from the middle finger.
                let sideways = palm_normal.cross(direction);
                let away = joints[base] - middle_base;
                let sign = if finger == Finger::Middle || sideways.dot(away) >= 0.0 {
                    1.0
                } else {
                    -1.0
                };
                Mat3::from_axis_angle(flex_axis, curl * full[0])
                    * Mat3::from_axis_angle(palm_normal, sign * spread * FINGER_SPREAD)
            };
            pose.hand_pose[base - 1] = axis_angle_from_mat3(base_rotation).to_array();
            pose.hand_pose[mid - 1] = (flex_axis * curl * full[1]).to_array();
            pose.hand_pose[end - 1] = (flex_axis * curl * full[2]).to_array();
        }
        pose
    }

    /// The finger pose for one hand (global orientation zero).
    pub fn pose_for(&self, side: Side) -> ManoPose {
        let right = self.right_hand_pose();
        match side {
            Side::Right => right,
            Side::Left => right.mirrored(),
        }
    }
}

fn finger_index(finger: Finger) -> usize {
    Finger::ALL.iter().position(|&f| f == finger).unwrap_or(0)
}

/// Named hand shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    Flat,
    Relaxed,
    Fist,
    Pinch,
    PowerGrasp,
    Point,
    OpenPalm,
}

impl Preset {
    pub const ALL: [Preset; 7] = [
        Preset::Flat,
        Preset::Relaxed,
        Preset::Fist,
        Preset::Pinch,
        Preset::PowerGrasp,
        Preset::Point,
        Preset::OpenPalm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Flat => "flat",
            Preset::Relaxed => "relaxed",
            Preset::Fist => "fist",
            Preset::Pinch => "pinch",
            Preset::PowerGrasp => "power grasp",
            Preset::Point => "point",
            Preset::OpenPalm => "open palm",
        }
    }

    /// Parses a preset name as [`Preset::name`] writes it, with `_` or `-` for the space.
    pub fn from_name(name: &str) -> Option<Preset> {
        let wanted = name.trim().to_lowercase().replace(['_', '-'], " ");
        Preset::ALL.into_iter().find(|p| p.name() == wanted)
    }

    /// The finger controls of this preset (thumb, index, middle, ring, pinky).
    pub fn controls(self) -> HandControls {
        let c = |curl: f32, spread: f32| FingerControl { curl, spread };
        let fingers = match self {
            Preset::Flat => [c(0.0, 0.0); 5],
            Preset::Relaxed => [
                c(0.15, 0.2),
                c(0.2, 0.1),
                c(0.25, 0.0),
                c(0.3, 0.1),
                c(0.35, 0.15),
            ],
            Preset::Fist => [
                c(0.9, 0.3),
                c(1.0, 0.0),
                c(1.0, 0.0),
                c(1.0, 0.0),
                c(1.0, 0.0),
            ],
            Preset::Pinch => [
                c(0.45, 0.85),
                c(0.55, 0.0),
                c(0.35, 0.0),
                c(0.4, 0.0),
                c(0.45, 0.1),
            ],
            Preset::PowerGrasp => [
                c(0.55, 0.8),
                c(0.6, 0.0),
                c(0.62, 0.0),
                c(0.64, 0.0),
                c(0.66, 0.0),
            ],
            Preset::Point => [
                c(0.8, 0.6),
                c(0.0, 0.0),
                c(1.0, 0.0),
                c(1.0, 0.0),
                c(1.0, 0.0),
            ],
            Preset::OpenPalm => [
                c(-0.1, -0.4),
                c(-0.1, 1.0),
                c(-0.1, 0.0),
                c(-0.1, 1.0),
                c(-0.1, 1.0),
            ],
        };
        HandControls { fingers }
    }

    /// This preset's right-hand pose (global orientation zero).
    pub fn right_hand_pose(self) -> ManoPose {
        self.controls().right_hand_pose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_controls_give_the_flat_pose_and_curl_turns_into_the_palm() {
        assert_eq!(Preset::Flat.right_hand_pose(), ManoPose::FLAT);
        let fist = Preset::Fist.right_hand_pose();
        // MANO's right hand flexes its long fingers mostly about +z.
        for joint in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] {
            let r = Vec3::from_array(fist.hand_pose[joint]);
            assert!(r.z > 0.5 * r.length(), "joint {joint}: {r}");
        }
        // A point is straight in the index and curled elsewhere.
        let point = Preset::Point.right_hand_pose();
        assert_eq!(point.hand_pose[0], [0.0; 3]);
        assert!(Vec3::from_array(point.hand_pose[4]).length() > 1.0);
    }

    #[test]
    fn mirroring_twice_is_identity_and_names_parse() {
        let p = Preset::Pinch.right_hand_pose();
        assert_eq!(p.mirrored().mirrored(), p);
        assert_eq!(HandControls::default().pose_for(Side::Left), ManoPose::FLAT);
        for preset in Preset::ALL {
            assert_eq!(Preset::from_name(preset.name()), Some(preset));
        }
        assert_eq!(Preset::from_name("power_grasp"), Some(Preset::PowerGrasp));
        assert_eq!(Preset::from_name("wave"), None);
    }
}
