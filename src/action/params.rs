//! A parametrised hand action: a compact description — which hand, where it grasps in the world, how its fingers
//! close, when it leaves its rest pose and when it makes contact, how far and which way it then moves (a straight
//! push or pull, or a turn about a hinge), and whether it lets go — from which a whole action (that hand's track
//! along a fixed camera path) is made deterministically. What `handtwin search` optimises.
//!
//! The track is in the camera's frame, one keyframe per output frame: the hand starts at the default egocentric
//! rest pose, moves (smoothly) to the grasp point as the path's camera sees it, closes its fingers on the way,
//! then moves with what it holds, and with `release` opens and backs away at the end.

use super::{Action, CameraPath, HandKeyframe, HandTrack, TrackError, WristFrame};
use crate::hand::placement::{DEFAULT_WRIST_ANGLES, camera_from_hand, default_wrist_position};
use crate::hand::{Preset, Side};
use glam::{Quat, Vec3};
use serde::{Deserialize, Serialize};

/// Parameters that cannot make an action.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    #[error("action parameters: {0}")]
    Invalid(String),
    #[error(transparent)]
    Track(#[from] TrackError),
}

/// What the hand does after contact.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ParamMotion {
    /// A straight move of `distance` metres along `direction` (world; normalised when used).
    Translate { direction: [f32; 3], distance: f32 },
    /// A turn of `angle_degrees` about the vertical axis through `pivot` (world): a door, a lid.
    Hinge { pivot: [f32; 3], angle_degrees: f32 },
}

/// A compact hand action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionParams {
    pub side: Side,
    /// Where the hand closes, in the world (metres).
    pub grasp_point: [f32; 3],
    /// The finger pose at contact.
    pub grasp_preset: Preset,
    /// Seconds from the clip's start: the hand leaves its rest pose, and reaches the grasp point.
    pub approach_start: f64,
    pub contact: f64,
    pub motion: ParamMotion,
    /// Seconds the motion takes after contact.
    pub motion_seconds: f64,
    /// Open the hand and back away once the motion is done.
    pub release: bool,
}

fn smoothstep(x: f64) -> f32 {
    let x = x.clamp(0.0, 1.0) as f32;
    x * x * (3.0 - 2.0 * x)
}

impl ActionParams {
    /// Checks the times and numbers; the error says which parameter is wrong.
    pub fn check(&self, duration: f64) -> Result<(), String> {
        let finite = self.grasp_point.iter().all(|v| v.is_finite())
            && match self.motion {
                ParamMotion::Translate {
                    direction,
                    distance,
                } => direction.iter().all(|v| v.is_finite()) && distance.is_finite(),
                ParamMotion::Hinge {
                    pivot,
                    angle_degrees,
                } => pivot.iter().all(|v| v.is_finite()) && angle_degrees.is_finite(),
            };
        if !finite {
            return Err("a parameter is not a finite number".into());
        }
        if !(0.0 <= self.approach_start && self.approach_start < self.contact) {
            return Err(format!(
                "approach_start ({}) must be at least 0 and before contact ({})",
                self.approach_start, self.contact
            ));
        }
        if self.contact > duration {
            return Err(format!(
                "contact at {} s is after the clip's end ({duration} s)",
                self.contact
            ));
        }
        if !(self.motion_seconds > 0.0 && self.motion_seconds.is_finite()) {
            return Err(format!(
                "motion_seconds must be positive, got {}",
                self.motion_seconds
            ));
        }
        Ok(())
    }

    /// Where a point held at the grasp has moved to after a fraction `m` ∈ [0, 1] of the motion (world).
    fn moved(&self, point: Vec3, m: f32) -> Vec3 {
        match self.motion {
            ParamMotion::Translate {
                direction,
                distance,
            } => point + Vec3::from_array(direction).normalize_or_zero() * distance * m,
            ParamMotion::Hinge {
                pivot,
                angle_degrees,
            } => {
                let pivot = Vec3::from_array(pivot);
                pivot + Quat::from_rotation_y(angle_degrees.to_radians() * m) * (point - pivot)
            }
        }
    }

    /// The action: `camera` sampled at `frame_count` frames of `fps`, this hand's track (one keyframe per frame,
    /// in the camera's frame), the other hand absent.
    pub fn build(
        &self,
        camera: &CameraPath,
        frame_count: usize,
        fps: f64,
        prompt: &str,
    ) -> Result<Action, ParamsError> {
        let frame_count = frame_count.max(1);
        let duration = (frame_count - 1) as f64 / fps;
        self.check(duration).map_err(ParamsError::Invalid)?;
        let cameras = camera.frames(frame_count, fps);
        let side = self.side;
        let rest_position = default_wrist_position(side);
        let relaxed = Preset::Relaxed.controls().pose_for(side);
        let gripping = self.grasp_preset.controls().pose_for(side);
        let grasp = Vec3::from_array(self.grasp_point);
        let release_at = self.contact + self.motion_seconds;
        let keyframes = cameras
            .iter()
            .enumerate()
            .map(|(i, frame)| {
                let t = i as f64 / fps;
                let camera_from_world = frame.world_from_camera.inverse();
                let approach = smoothstep(
                    (t - self.approach_start) / (self.contact - self.approach_start).max(1e-6),
                );
                let progress = smoothstep((t - self.contact) / self.motion_seconds);
                let backing = if self.release {
                    smoothstep((t - release_at) / (duration - release_at).max(1e-3))
                } else {
                    0.0
                };
                // The wrist sits a little behind and above the grasp point (the palm reaches it).
                let held = self.moved(grasp, progress);
                let target = camera_from_world.transform_point3(held)
                    + Vec3::new(0.0, 0.04, 0.06) * (1.0 + backing);
                let position = rest_position.lerp(target, approach);
                let world_from_hand = camera_from_hand(side, position, DEFAULT_WRIST_ANGLES);
                let fingers = relaxed.interpolate(&gripping, approach * (1.0 - backing));
                HandKeyframe::placed(t, world_from_hand, &fingers)
            })
            .collect();
        let track = HandTrack::new(side, Vec::new(), WristFrame::Camera, keyframes)?;
        let mut action = Action::new(camera.clone());
        action.frame_count = frame_count;
        action.fps = fps;
        action.prompt = prompt.to_string();
        match side {
            Side::Left => action.left = Some(track),
            Side::Right => action.right = Some(track),
        }
        Ok(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Intrinsics;
    use glam::Affine3A;

    fn params() -> ActionParams {
        ActionParams {
            side: Side::Right,
            grasp_point: [0.1, 0.9, -0.6],
            grasp_preset: Preset::PowerGrasp,
            approach_start: 0.25,
            contact: 1.0,
            motion: ParamMotion::Translate {
                direction: [0.0, 0.0, 1.0],
                distance: 0.2,
            },
            motion_seconds: 0.75,
            release: false,
        }
    }

    fn camera() -> CameraPath {
        CameraPath::fixed(
            Affine3A::from_translation(Vec3::new(0.0, 1.4, 0.0)),
            Intrinsics::DWM,
        )
        .unwrap()
    }

    #[test]
    fn the_hand_reaches_the_grasp_point_then_moves_with_it() {
        let p = params();
        let action = p.build(&camera(), 17, 8.0, "pull").unwrap();
        let track = action.right.as_ref().unwrap();
        assert!(action.left.is_none() && action.frame_count == 17);
        let wrist = |t: f64| Vec3::from(track.sample(t).frame_from_hand.translation);
        // At rest before the approach.
        assert!((wrist(0.0) - default_wrist_position(Side::Right)).length() < 1e-5);
        // At contact the wrist is at the grasp point (seen from the camera at y = 1.4) plus the palm offset.
        let at_contact = Vec3::new(0.1, 0.9 - 1.4, -0.6) + Vec3::new(0.0, 0.04, 0.06);
        assert!(
            (wrist(1.0) - at_contact).length() < 1e-4,
            "{:?}",
            wrist(1.0)
        );
        // After the motion it has moved 0.2 m towards +z.
        let after = wrist(2.0);
        assert!(
            (after - (at_contact + Vec3::Z * 0.2)).length() < 1e-4,
            "{after:?}"
        );
        // A hinge keeps the distance to its pivot.
        let hinge = ActionParams {
            motion: ParamMotion::Hinge {
                pivot: [0.5, 0.9, -0.6],
                angle_degrees: 60.0,
            },
            ..p
        };
        let moved = hinge.moved(Vec3::from_array(hinge.grasp_point), 1.0);
        assert!(((moved - Vec3::new(0.5, 0.9, -0.6)).length() - 0.4).abs() < 1e-5);
    }

    #[test]
    fn bad_parameters_are_refused_by_name() {
        let late = ActionParams {
            contact: 5.0,
            ..params()
        };
        let error = late.build(&camera(), 17, 8.0, "").unwrap_err().to_string();
        assert!(
            error.contains("contact at 5 s is after the clip's end"),
            "{error}"
        );
        let backwards = ActionParams {
            approach_start: 1.5,
            ..params()
        };
        assert!(backwards.check(2.0).unwrap_err().contains("approach_start"));
        let nan = ActionParams {
            grasp_point: [f32::NAN, 0.0, 0.0],
            ..params()
        };
        assert!(nan.check(2.0).is_err());
        // The written action round-trips through the action file format.
        let action = params().build(&camera(), 17, 8.0, "pull").unwrap();
        let again = Action::parse(&action.to_json(), std::path::Path::new("a.json")).unwrap();
        assert_eq!(again.right.unwrap().keyframes().len(), 17);
    }
}
