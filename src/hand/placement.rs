//! Where egocentric hands sit relative to the eye: the default reach and the wrist orientation that points a
//! MANO hand's fingers forward with the palm down.

use super::Side;
use glam::{Affine3A, EulerRot, Quat, Vec3};

/// The wrist joint at a natural reach in the camera frame (x right, y up, −z forward), metres.
pub fn default_wrist_position(side: Side) -> Vec3 {
    let x = match side {
        Side::Left => -0.15,
        Side::Right => 0.15,
    };
    Vec3::new(x, -0.15, -0.34)
}

/// Default yaw, pitch, roll (degrees) on top of the forward rest orientation: fingers turned a little towards
/// the middle and down, palms rolled towards each other, as hands rest in front of the body.
pub const DEFAULT_WRIST_ANGLES: Vec3 = Vec3::new(10.0, -10.0, -30.0);

/// `camera_from_hand` for a MANO hand: its fingers (−x for the right hand, +x for the left) turned to point
/// forward (−z) with the palm down, then yaw/pitch/roll in degrees (mirrored for the left hand so equal
/// numbers give mirror-image poses), at `wrist` (the wrist joint, camera frame).
pub fn camera_from_hand(side: Side, wrist: Vec3, yaw_pitch_roll_degrees: Vec3) -> Affine3A {
    let rest = match side {
        Side::Right => Quat::from_rotation_y(-std::f32::consts::FRAC_PI_2),
        Side::Left => Quat::from_rotation_y(std::f32::consts::FRAC_PI_2),
    };
    let mirror = if side == Side::Left { -1.0 } else { 1.0 };
    let [yaw, pitch, roll] = yaw_pitch_roll_degrees.to_array().map(f32::to_radians);
    let user = Quat::from_euler(EulerRot::YXZ, yaw * mirror, pitch, roll * mirror);
    Affine3A::from_rotation_translation(user * rest, wrist)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hand::MANO_RIGHT_REST_JOINTS;

    #[test]
    fn forward_placement_points_fingers_ahead_with_the_palm_down() {
        for side in [Side::Left, Side::Right] {
            let m = if side == Side::Left { -1.0 } else { 1.0 };
            let joint = |i: usize| {
                let [x, y, z] = MANO_RIGHT_REST_JOINTS[i];
                Vec3::new(m * x, y, z)
            };
            let place = camera_from_hand(side, Vec3::ZERO, Vec3::ZERO);
            let finger = place.transform_vector3(joint(5) - joint(4)).normalize();
            assert!(finger.z < -0.95, "{side:?}: {finger}");
            // Thumb towards the body's midline: right hand's thumb to the left (−x), left hand's to the right.
            let thumb = place.transform_vector3(joint(14) - joint(4));
            assert!(thumb.x * m < 0.0, "{side:?}: {thumb}");
        }
    }
}
