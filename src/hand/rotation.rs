//! Rotations as MANO writes them (axis-angle) and the conversions that keep joint rotations on SO(3).

use glam::{Mat3, Quat, Vec3};

/// Spherical interpolation from `a` to `b` along the shorter arc (q and −q are the same rotation), normalised.
pub fn slerp_short(a: Quat, b: Quat, u: f32) -> Quat {
    let b = if a.dot(b) < 0.0 { -b } else { b };
    let dot = a.dot(b).min(1.0);
    if dot > 0.9995 {
        // Nearly equal: the sine in slerp's denominator vanishes; normalised lerp is exact to f32 here.
        return a.lerp(b, u).normalize();
    }
    let angle = dot.acos();
    let sin = angle.sin();
    let wa = ((1.0 - u) * angle).sin() / sin;
    let wb = (u * angle).sin() / sin;
    (a * wa + b * wb).normalize()
}

/// Axis-angle (axis · angle in radians, MANO's convention) to a unit quaternion.
pub fn quat_from_axis_angle(axis_angle: [f32; 3]) -> Quat {
    Quat::from_scaled_axis(Vec3::from_array(axis_angle))
}

/// A unit quaternion to axis-angle with the angle in [0, π] (the short representation).
pub fn axis_angle_from_quat(rotation: Quat) -> [f32; 3] {
    let rotation = if rotation.w < 0.0 {
        -rotation
    } else {
        rotation
    };
    let rotation = rotation.normalize();
    let sin_half = rotation.xyz().length();
    if sin_half < 1e-7 {
        // Small angle: axis·angle ≈ 2·xyz.
        return (rotation.xyz() * 2.0).to_array();
    }
    let angle = 2.0 * sin_half.atan2(rotation.w);
    (rotation.xyz() / sin_half * angle).to_array()
}

/// Interpolates two axis-angle joint rotations on SO(3) (quaternion slerp, short path), never component-wise.
pub fn slerp_axis_angle(a: [f32; 3], b: [f32; 3], u: f32) -> [f32; 3] {
    axis_angle_from_quat(slerp_short(
        quat_from_axis_angle(a),
        quat_from_axis_angle(b),
        u,
    ))
}

/// Axis-angle to a rotation matrix (Rodrigues), exact near zero.
pub fn mat3_from_axis_angle(axis_angle: Vec3) -> Mat3 {
    let angle = axis_angle.length();
    if angle < 1e-8 {
        // First order: I + [r]x; the second-order term is below f32 resolution here.
        let [x, y, z] = axis_angle.to_array();
        return Mat3::from_cols(
            Vec3::new(1.0, z, -y),
            Vec3::new(-z, 1.0, x),
            Vec3::new(y, -x, 1.0),
        );
    }
    Mat3::from_axis_angle(axis_angle / angle, angle)
}

/// A rotation matrix to axis-angle (angle in [0, π]); the matrix is re-orthonormalised through a quaternion.
pub fn axis_angle_from_mat3(rotation: Mat3) -> Vec3 {
    Vec3::from_array(axis_angle_from_quat(Quat::from_mat3(&rotation)))
}

/// The rotation mirrored across the model's x = 0 plane (M·R·M with M = diag(−1, 1, 1)); in axis-angle
/// (x, y, z) → (x, −y, −z). This is how a right-hand pose becomes the matching left-hand pose.
pub fn mirror_axis_angle(axis_angle: [f32; 3]) -> [f32; 3] {
    [axis_angle[0], -axis_angle[1], -axis_angle[2]]
}
