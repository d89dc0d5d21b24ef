//! Interpolation on positions (centripetal Catmull-Rom) and rotations (slerp on the short path), and the
//! axis-angle ↔ quaternion conversions that keep joint rotations on SO(3).

pub use crate::hand::rotation::{
    axis_angle_from_quat, quat_from_axis_angle, slerp_axis_angle, slerp_short,
};
use glam::Vec3;

/// Centripetal Catmull-Rom (α = ½, Barry–Goldman form) between `p1` and `p2` at `u` ∈ [0, 1], with neighbours
/// `p0` and `p3`. Passes through `p1` at u = 0 and `p2` at u = 1; centripetal knots avoid cusps and
/// self-intersections where keyframes bunch up.
pub fn catmull_rom(p0: Vec3, p1: Vec3, p2: Vec3, p3: Vec3, u: f32) -> Vec3 {
    if u <= 0.0 {
        return p1;
    }
    if u >= 1.0 {
        return p2;
    }
    // Coincident points would give zero-length knot intervals (division by zero): keep them tiny but positive.
    let knot = |a: Vec3, b: Vec3| a.distance(b).sqrt().max(1e-4);
    let t0 = 0.0;
    let t1 = t0 + knot(p0, p1);
    let t2 = t1 + knot(p1, p2);
    let t3 = t2 + knot(p2, p3);
    let t = t1 + u * (t2 - t1);
    let mix = |a: Vec3, b: Vec3, ta: f32, tb: f32| {
        a * ((tb - t) / (tb - ta)) + b * ((t - ta) / (tb - ta))
    };
    let a1 = mix(p0, p1, t0, t1);
    let a2 = mix(p1, p2, t1, t2);
    let a3 = mix(p2, p3, t2, t3);
    let b1 = mix(a1, a2, t0, t2);
    let b2 = mix(a2, a3, t1, t3);
    mix(b1, b2, t1, t2)
}

/// Where time `t` falls among sorted keyframe `times`: the segment's first index and the fraction within it.
/// Outside the range the ends are held (clamped). `times` must be non-empty and increasing.
pub(crate) fn locate(times: impl ExactSizeIterator<Item = f64> + Clone, t: f64) -> (usize, f32) {
    let count = times.len();
    let mut previous: Option<(usize, f64)> = None;
    for (index, time) in times.enumerate() {
        if t < time {
            return match previous {
                None => (0, 0.0),
                Some((i, start)) => (i, ((t - start) / (time - start)) as f32),
            };
        }
        previous = Some((index, time));
    }
    (count.saturating_sub(1), 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Quat;

    #[test]
    fn catmull_rom_passes_through_its_ends_and_stays_between_on_a_line() {
        let p = |x: f32| Vec3::new(x, 0.0, 0.0);
        assert_eq!(catmull_rom(p(0.0), p(1.0), p(2.0), p(3.0), 0.0), p(1.0));
        assert_eq!(catmull_rom(p(0.0), p(1.0), p(2.0), p(3.0), 1.0), p(2.0));
        let mid = catmull_rom(p(0.0), p(1.0), p(2.0), p(3.0), 0.5);
        assert!((mid - p(1.5)).length() < 1e-5, "{mid}");
        // Coincident neighbours stay finite.
        let v = catmull_rom(p(1.0), p(1.0), p(1.0), p(1.0), 0.3);
        assert!(v.is_finite() && (v - p(1.0)).length() < 1e-5);
    }

    #[test]
    fn slerp_takes_the_short_path() {
        let a = Quat::from_rotation_y(10f32.to_radians());
        // −b is the same rotation as b; the halfway point must be 15°, not through the long way round.
        let b = -Quat::from_rotation_y(20f32.to_radians());
        let mid = slerp_short(a, b, 0.5);
        let expected = Quat::from_rotation_y(15f32.to_radians());
        assert!(mid.dot(expected).abs() > 1.0 - 1e-6, "{mid}");
        assert!((mid.length() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn axis_angle_round_trips_and_interpolates_on_so3() {
        for v in [
            [0.0, 0.0, 0.0],
            [0.3, -0.2, 0.1],
            [0.0, 3.0, 0.0],
            [1e-8, 0.0, 0.0],
        ] {
            let back = axis_angle_from_quat(quat_from_axis_angle(v));
            for (x, y) in v.iter().zip(back) {
                assert!((x - y).abs() < 1e-5, "{v:?} -> {back:?}");
            }
        }
        // 170° and −170° about z are 20° apart through 180°; component-wise averaging would give 0.
        let a = [0.0, 0.0, 170f32.to_radians()];
        let b = [0.0, 0.0, -170f32.to_radians()];
        let mid = quat_from_axis_angle(slerp_axis_angle(a, b, 0.5));
        assert!(mid.dot(Quat::from_rotation_z(std::f32::consts::PI)).abs() > 1.0 - 1e-5);
    }

    #[test]
    fn locate_clamps_and_finds_segments() {
        let times = [0.0, 1.0, 3.0];
        assert_eq!(locate(times.iter().copied(), -1.0), (0, 0.0));
        assert_eq!(locate(times.iter().copied(), 0.5), (0, 0.5));
        assert_eq!(locate(times.iter().copied(), 2.0), (1, 0.5));
        assert_eq!(locate(times.iter().copied(), 3.0), (2, 0.0));
        assert_eq!(locate(times.iter().copied(), 9.0), (2, 0.0));
    }
}
