//! A parametrised hand action: a compact description — which hand, where it grasps in the world, how its fingers
//! close, when it leaves its rest pose and when it makes contact, how far and which way it then moves (a straight
//! push or pull, or a turn about a hinge), and whether it lets go — from which a whole action (that hand's track
//! along a fixed camera path) is made deterministically. What `handtwin search` optimises.
//!
//! The track is in the camera's frame, one keyframe per output frame: the hand starts at the default egocentric
//! rest pose, moves (smoothly) to the grasp point as the path's camera sees it, closes its fingers on the way,
//! then moves with what it holds, and with `release` opens and backs away at the end.

use super::{Action, CameraPath, HandKeyframe, HandTrack, ManoPose, TrackError, WristFrame};
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
                let target =
                    camera_from_world.transform_point3(held) + PALM_OFFSET * (1.0 + backing);
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

/// The palm's offset from the wrist, in the camera frame, that `build` puts between the grasp point and the wrist.
const PALM_OFFSET: Vec3 = Vec3::new(0.0, 0.04, 0.06);

/// How `ActionParams::fit` finds the moments of an action.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FitTimes {
    /// Contact (s); default: the first moment the fingers are 97% of the way to their most closed pose.
    pub contact: Option<f64>,
    /// The end of the motion (s); default: the last moment the held point still moves while they are that closed.
    pub motion_end: Option<f64>,
}

/// What `ActionParams::search_vector` holds, in order.
pub fn search_parameter_names(motion: &ParamMotion) -> Vec<&'static str> {
    match motion {
        ParamMotion::Translate { .. } => vec![
            "grasp x",
            "grasp y",
            "grasp z",
            "contact s",
            "move x",
            "move y",
            "move z",
        ],
        ParamMotion::Hinge { .. } => {
            vec![
                "grasp x",
                "grasp y",
                "grasp z",
                "contact s",
                "hinge degrees",
            ]
        }
    }
}

impl ActionParams {
    /// The parameters `handtwin search` varies, as one vector: the grasp point (world, m), the contact time (s),
    /// and the motion — the displacement (world, m) of a straight move, or a hinge's angle (degrees). The acting
    /// hand, its grasp preset, the approach's start, the motion's duration, the hinge's pivot and release stay
    /// as they are.
    pub fn search_vector(&self) -> Vec<f64> {
        let mut x: Vec<f64> = self.grasp_point.iter().map(|&v| f64::from(v)).collect();
        x.push(self.contact);
        match self.motion {
            ParamMotion::Translate {
                direction,
                distance,
            } => {
                let d = Vec3::from_array(direction).normalize_or_zero() * distance;
                x.extend(d.to_array().iter().map(|&v| f64::from(v)));
            }
            ParamMotion::Hinge { angle_degrees, .. } => x.push(f64::from(angle_degrees)),
        }
        x
    }

    /// These parameters with the searched ones replaced by `x` (as [`ActionParams::search_vector`] orders them;
    /// a vector of another length changes nothing).
    pub fn with_search_vector(&self, x: &[f64]) -> ActionParams {
        let mut p = self.clone();
        if x.len() != self.search_vector().len() {
            return p;
        }
        p.grasp_point = [x[0] as f32, x[1] as f32, x[2] as f32];
        p.contact = x[3];
        p.motion = match self.motion {
            ParamMotion::Translate { direction, .. } => {
                let d = Vec3::new(x[4] as f32, x[5] as f32, x[6] as f32);
                let distance = d.length();
                ParamMotion::Translate {
                    // A zero move keeps its old direction, so the file stays meaningful.
                    direction: if distance > 1e-6 {
                        (d / distance).to_array()
                    } else {
                        direction
                    },
                    distance,
                }
            }
            ParamMotion::Hinge { pivot, .. } => ParamMotion::Hinge {
                pivot,
                angle_degrees: x[4] as f32,
            },
        };
        p
    }

    /// The box `handtwin search` explores around these parameters, as (lower, upper) bounds of the search vector:
    /// the grasp point within `radius` metres in each axis; contact from a quarter second after the approach
    /// starts to the last moment the motion still fits in `duration`; a straight move anywhere within
    /// max(1.5 × its length, `radius`) in each axis (so a start that moves the wrong way can reverse); a hinge
    /// within ±120°.
    pub fn search_bounds(&self, radius: f64, duration: f64) -> (Vec<f64>, Vec<f64>) {
        let x = self.search_vector();
        let mut low: Vec<f64> = x[..3].iter().map(|v| v - radius).collect();
        let mut high: Vec<f64> = x[..3].iter().map(|v| v + radius).collect();
        let earliest = (self.approach_start + 0.25).min(duration);
        let latest = (duration - self.motion_seconds).max(earliest);
        low.push(earliest);
        high.push(latest);
        match self.motion {
            ParamMotion::Translate { distance, .. } => {
                let reach = (1.5 * f64::from(distance)).max(radius);
                for _ in 0..3 {
                    low.push(-reach);
                    high.push(reach);
                }
            }
            ParamMotion::Hinge { .. } => {
                low.push(-120.0);
                high.push(120.0);
            }
        }
        (low, high)
    }

    /// The world point held by the grasp at time `t` of `track` (the wrist minus the palm offset, as `build`
    /// places it).
    fn held_point(track: &HandTrack, camera: &CameraPath, t: f64) -> Vec3 {
        let frame = camera.sample(t);
        let sample = track.sample(t);
        let wrist = Vec3::from(sample.camera_from_hand(&frame).translation);
        frame
            .world_from_camera
            .transform_point3(wrist - PALM_OFFSET)
    }

    /// Parameters that reproduce `side`'s track of `action` as a straight move: the grasp point where the hand is
    /// at contact, the move to where it is at the motion's end, the preset nearest the fingers at contact, the
    /// approach from the first frame the wrist leaves its place, release if the fingers open again before the
    /// end. Contact and the end are found from the fingers' closing unless `times` gives them. What `search`
    /// starts from when given an action file (a demo, a synthetic clip's action).
    pub fn fit(action: &Action, side: Side, times: FitTimes) -> Result<ActionParams, ParamsError> {
        let name = match side {
            Side::Left => "left",
            Side::Right => "right",
        };
        let track = action
            .hand(side)
            .ok_or_else(|| ParamsError::Invalid(format!("the action has no {name} hand")))?;
        let (count, fps) = (action.frame_count.max(2), action.fps);
        let duration = (count - 1) as f64 / fps;
        let times_at: Vec<f64> = (0..count).map(|i| i as f64 / fps).collect();
        let finger_distance = |a: &ManoPose, b: &ManoPose| -> f32 {
            a.hand_pose
                .iter()
                .flatten()
                .zip(b.hand_pose.iter().flatten())
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f32>()
                .sqrt()
        };
        let poses: Vec<ManoPose> = times_at.iter().map(|&t| track.sample(t).pose).collect();
        let closure: Vec<f32> = poses
            .iter()
            .map(|p| finger_distance(p, &poses[0]))
            .collect();
        let most = closure.iter().copied().fold(0.0f32, f32::max);
        let closed: Vec<usize> = (0..count).filter(|&i| closure[i] >= 0.97 * most).collect();
        let (first_closed, last_closed) = match (closed.first(), closed.last()) {
            (Some(&a), Some(&b)) if most > 1e-3 => (a, b),
            _ => (0, 0),
        };
        let contact = match times.contact {
            Some(t) => t,
            None if most > 1e-3 => times_at[first_closed],
            None => {
                return Err(ParamsError::Invalid(format!(
                    "the {} hand's fingers never close, so its contact cannot be found; give the contact time",
                    name
                )));
            }
        };
        // The motion ends when the held point stops moving (the hand may hold on until the clip's end).
        let moving_until = (first_closed + 1..=last_closed)
            .rev()
            .find(|&i| {
                let step = Self::held_point(track, &action.camera, times_at[i])
                    - Self::held_point(track, &action.camera, times_at[i - 1]);
                step.length() > 1e-3
            })
            .unwrap_or(last_closed);
        // A reach that ends in the grasp has no motion: one frame of standing still.
        let motion_end = times
            .motion_end
            .unwrap_or(times_at[moving_until])
            .max(contact + 1.0 / fps);
        if !(contact > 0.0 && contact <= duration + 1e-9) {
            return Err(ParamsError::Invalid(format!(
                "contact ({contact:.3} s) must come after the clip's start and within it ({duration:.3} s)"
            )));
        }
        let frames = action.camera.frames(count, fps);
        let rest = Vec3::from(track.sample(0.0).camera_from_hand(&frames[0]).translation);
        let approach_start = times_at
            .iter()
            .zip(&frames)
            .find(|&(&t, frame)| {
                let wrist = Vec3::from(track.sample(t).camera_from_hand(frame).translation);
                (wrist - rest).length() > 0.01
            })
            .map_or(0.0, |(&t, _)| (t - 1.0 / fps).max(0.0))
            .min(contact - 0.5 / fps)
            .max(0.0);
        let grasp = Self::held_point(track, &action.camera, contact);
        let moved = Self::held_point(track, &action.camera, motion_end) - grasp;
        let at_contact = track.sample(contact).pose;
        let grasp_preset = Preset::ALL
            .into_iter()
            .min_by(|a, b| {
                let da = finger_distance(&a.controls().pose_for(side), &at_contact);
                let db = finger_distance(&b.controls().pose_for(side), &at_contact);
                da.total_cmp(&db)
            })
            .unwrap_or(Preset::PowerGrasp);
        let release = last_closed + 1 < count && closure[count - 1] < 0.5 * most;
        let distance = moved.length();
        let params = ActionParams {
            side,
            grasp_point: grasp.to_array(),
            grasp_preset,
            approach_start,
            contact,
            motion: ParamMotion::Translate {
                direction: if distance > 1e-6 {
                    (moved / distance).to_array()
                } else {
                    [0.0, 0.0, 1.0]
                },
                distance,
            },
            motion_seconds: motion_end - contact,
            release,
        };
        params.check(duration).map_err(ParamsError::Invalid)?;
        Ok(params)
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
    fn fitting_a_built_action_gives_its_parameters_back() {
        let moving = CameraPath::new(vec![
            crate::action::CameraKeyframe::new(
                0.0,
                Affine3A::from_translation(Vec3::new(0.0, 1.4, 0.0)),
                Intrinsics::DWM,
            ),
            crate::action::CameraKeyframe::new(
                2.0,
                Affine3A::from_rotation_translation(
                    Quat::from_rotation_y(0.3),
                    Vec3::new(0.2, 1.3, -0.1),
                ),
                Intrinsics::DWM,
            ),
        ])
        .unwrap();
        for (camera, release) in [(camera(), false), (moving, true)] {
            let p = ActionParams {
                release,
                motion_seconds: if release { 0.5 } else { 0.75 },
                ..params()
            };
            let action = p.build(&camera, 17, 8.0, "pull").unwrap();
            let fitted = ActionParams::fit(&action, Side::Right, FitTimes::default()).unwrap();
            assert_eq!(fitted.side, Side::Right);
            assert_eq!(fitted.grasp_preset, Preset::PowerGrasp);
            assert_eq!(fitted.release, release);
            assert!((fitted.contact - 1.0).abs() < 1e-9, "{fitted:?}");
            assert!((fitted.motion_seconds - p.motion_seconds).abs() < 1e-9);
            assert!(fitted.approach_start < 0.25 + 1e-9 && fitted.approach_start >= 0.0);
            let (a, b) = (fitted.search_vector(), p.search_vector());
            for (u, v) in a.iter().zip(&b) {
                assert!((u - v).abs() < 1e-4, "fitted {a:?}, built from {b:?}");
            }
            // Rebuilt, the wrist is where the original's was at contact and at the motion's end.
            let again = fitted.build(&camera, 17, 8.0, "pull").unwrap();
            for t in [1.0, 1.0 + p.motion_seconds] {
                let wrist = |a: &Action| {
                    Vec3::from(
                        a.right
                            .as_ref()
                            .unwrap()
                            .sample(t)
                            .frame_from_hand
                            .translation,
                    )
                };
                assert!((wrist(&again) - wrist(&action)).length() < 1e-4);
            }
        }
        // The search vector round-trips, and a zero move keeps a direction.
        let p = params();
        let x = p.search_vector();
        assert_eq!(x.len(), search_parameter_names(&p.motion).len());
        assert_eq!(p.with_search_vector(&x).search_vector(), x);
        let still = p.with_search_vector(&[0.1, 0.9, -0.6, 1.0, 0.0, 0.0, 0.0]);
        assert!(matches!(
            still.motion,
            ParamMotion::Translate { direction: [0.0, 0.0, 1.0], distance } if distance == 0.0
        ));
        let (low, high) = p.search_bounds(0.3, 2.0);
        assert!(
            low.iter()
                .zip(&x)
                .zip(&high)
                .all(|((l, v), h)| l <= v && v <= h)
        );
        // An action without that hand, or whose fingers never move, is refused by name.
        let action = p.build(&camera(), 17, 8.0, "").unwrap();
        let error = ActionParams::fit(&action, Side::Left, FitTimes::default()).unwrap_err();
        assert!(error.to_string().contains("no left hand"), "{error}");
        let open = ActionParams {
            grasp_preset: Preset::Relaxed,
            ..params()
        };
        let action = open.build(&camera(), 17, 8.0, "").unwrap();
        let error = ActionParams::fit(&action, Side::Right, FitTimes::default()).unwrap_err();
        assert!(error.to_string().contains("never close"), "{error}");
        let given = FitTimes {
            contact: Some(1.0),
            motion_end: Some(1.75),
        };
        assert!(ActionParams::fit(&action, Side::Right, given).is_ok());
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
