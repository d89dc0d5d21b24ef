//! The authored action: a camera path and a track per hand, as keyframes that can be sampled at any time.
//!
//! Every type here is a plain value (`Clone`, a few `Vec`s of small structs), so the viewer's undo stack can keep
//! whole snapshots; the edit methods keep the invariants (non-empty, strictly increasing times, finite numbers,
//! unit rotations) so a value that exists is always safe to sample.

use super::camera::{CameraFrame, Intrinsics};
use super::interpolate::{catmull_rom, locate, quat_from_axis_angle, slerp_short};
pub use crate::hand::ManoPose;
use crate::hand::{HandMesh, HandModels, ManoInputError, Side};
use glam::{Affine3A, Quat, Vec3};
use thiserror::Error;

/// DWM's clip: 49 frames at 8 fps.
pub const DEFAULT_FRAME_COUNT: usize = 49;
pub const DEFAULT_FPS: f64 = 8.0;

/// Tolerance on |q| − 1 for rotations read from files; within it a quaternion is renormalised, beyond it rejected.
pub const UNIT_QUATERNION_TOLERANCE: f32 = 1e-3;

/// Bounds that keep every sample finite (interpolation squares distances and takes sines of angles): positions
/// within ±1e6 m, axis-angle components within ±1e4 rad, times within ±1e9 s, intrinsics within ±1e7 px. Far beyond
/// any real capture; a file outside them is corrupt.
pub const MAX_COORDINATE: f32 = 1e6;
pub const MAX_ANGLE: f32 = 1e4;
pub const MAX_TIME: f64 = 1e9;
pub const MAX_PIXELS: f32 = 1e7;

/// Why a track could not be built or edited.
#[derive(Debug, Error, PartialEq)]
pub enum TrackError {
    #[error("a track needs at least one keyframe")]
    Empty,
    #[error("keyframe {index}: time {time} is not a finite number within ±1e9 s")]
    BadTime { index: usize, time: f64 },
    #[error(
        "keyframe {index}: time {time} s is not after the previous keyframe's {previous} s (times must increase)"
    )]
    Unsorted {
        index: usize,
        time: f64,
        previous: f64,
    },
    #[error("keyframe {index}: {reason}")]
    BadValue { index: usize, reason: String },
    #[error("keyframe {index} does not exist (the track has {count})")]
    NoSuchKeyframe { index: usize, count: usize },
    #[error("cannot remove the last keyframe of a track")]
    LastKeyframe,
}

/// One camera keyframe: a rigid `world_from_camera` (camera axes OpenGL: x right, y up, looking down −z; world
/// +Y up, metres) and the pinhole intrinsics at that moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CameraKeyframe {
    /// Seconds from the start of the clip.
    pub time: f64,
    pub rotation: Quat,
    pub translation: Vec3,
    pub intrinsics: Intrinsics,
}

impl CameraKeyframe {
    pub fn new(time: f64, world_from_camera: Affine3A, intrinsics: Intrinsics) -> Self {
        let (_, rotation, translation) = world_from_camera.to_scale_rotation_translation();
        Self {
            time,
            rotation,
            translation,
            intrinsics,
        }
    }

    pub fn world_from_camera(&self) -> Affine3A {
        Affine3A::from_rotation_translation(self.rotation, self.translation)
    }

    pub fn frame(&self) -> CameraFrame {
        CameraFrame {
            world_from_camera: self.world_from_camera(),
            intrinsics: self.intrinsics,
        }
    }
}

/// A camera path: keyframes (sparse, authored) or one keyframe per source frame (dense, imported or recorded);
/// both are sampled the same way.
#[derive(Clone, Debug, PartialEq)]
pub struct CameraPath {
    keyframes: Vec<CameraKeyframe>,
}

/// Checks what every track needs: finite, strictly increasing times.
fn check_times(times: impl Iterator<Item = f64>) -> Result<(), TrackError> {
    let mut previous: Option<f64> = None;
    let mut count = 0;
    for (index, time) in times.enumerate() {
        count += 1;
        if !(time.is_finite() && time.abs() <= MAX_TIME) {
            return Err(TrackError::BadTime { index, time });
        }
        if let Some(previous) = previous
            && time <= previous
        {
            return Err(TrackError::Unsorted {
                index,
                time,
                previous,
            });
        }
        previous = Some(time);
    }
    if count == 0 {
        return Err(TrackError::Empty);
    }
    Ok(())
}

/// Renormalises a rotation within [`UNIT_QUATERNION_TOLERANCE`] of unit length, rejects anything else. A
/// quaternion already unit to f32 precision is kept bit for bit (so save → load is lossless).
pub(crate) fn unit_rotation(rotation: Quat) -> Result<Quat, String> {
    if !rotation.is_finite() {
        return Err(format!("rotation {rotation} holds a non-finite number"));
    }
    let length = rotation.length();
    if (length - 1.0).abs() > UNIT_QUATERNION_TOLERANCE {
        return Err(format!(
            "rotation [{}, {}, {}, {}] is not a unit quaternion (length {length}; tolerance {UNIT_QUATERNION_TOLERANCE})",
            rotation.x, rotation.y, rotation.z, rotation.w
        ));
    }
    Ok(if (length - 1.0).abs() > 4.0 * f32::EPSILON {
        rotation.normalize()
    } else {
        rotation
    })
}

pub(crate) fn check_intrinsics(k: &Intrinsics) -> Result<(), String> {
    if k.width == 0 || k.height == 0 {
        return Err(format!("intrinsics size {}x{} is empty", k.width, k.height));
    }
    for (name, value) in [("fx", k.fx), ("fy", k.fy)] {
        if !(value.is_finite() && value > 0.0 && value <= MAX_PIXELS) {
            return Err(format!(
                "intrinsics {name} must be a positive number of pixels, got {value}"
            ));
        }
    }
    for (name, value) in [("cx", k.cx), ("cy", k.cy)] {
        if !(value.is_finite() && value.abs() <= MAX_PIXELS) {
            return Err(format!(
                "intrinsics {name} is {value}, not a finite number within ±{MAX_PIXELS}"
            ));
        }
    }
    Ok(())
}

fn check_camera_keyframe(index: usize, keyframe: &mut CameraKeyframe) -> Result<(), TrackError> {
    let bad = |reason: String| TrackError::BadValue { index, reason };
    keyframe.rotation = unit_rotation(keyframe.rotation).map_err(bad)?;
    if !(keyframe.translation.is_finite()
        && keyframe.translation.abs().max_element() <= MAX_COORDINATE)
    {
        return Err(bad(format!(
            "translation {} is not finite or beyond ±{MAX_COORDINATE} m",
            keyframe.translation
        )));
    }
    check_intrinsics(&keyframe.intrinsics).map_err(bad)
}

impl CameraPath {
    /// A path through `keyframes` (times in seconds, strictly increasing).
    pub fn new(mut keyframes: Vec<CameraKeyframe>) -> Result<Self, TrackError> {
        check_times(keyframes.iter().map(|k| k.time))?;
        for (index, keyframe) in keyframes.iter_mut().enumerate() {
            check_camera_keyframe(index, keyframe)?;
        }
        Ok(Self { keyframes })
    }

    /// A still camera.
    pub fn fixed(world_from_camera: Affine3A, intrinsics: Intrinsics) -> Result<Self, TrackError> {
        Self::new(vec![CameraKeyframe::new(
            0.0,
            world_from_camera,
            intrinsics,
        )])
    }

    pub fn keyframes(&self) -> &[CameraKeyframe] {
        &self.keyframes
    }

    /// First and last keyframe times (seconds).
    pub fn time_range(&self) -> (f64, f64) {
        // Invariant: never empty.
        let first = self.keyframes.first().map_or(0.0, |k| k.time);
        let last = self.keyframes.last().map_or(0.0, |k| k.time);
        (first, last)
    }

    /// The camera at time `t` (seconds): position by centripetal Catmull-Rom, rotation by slerp on the short
    /// path, intrinsics linearly (size from the earlier keyframe). Before the first / after the last keyframe the
    /// end keyframe is held.
    pub fn sample(&self, t: f64) -> CameraFrame {
        let keys = &self.keyframes;
        let (index, u) = locate(keys.iter().map(|k| k.time), t);
        let (Some(k1), Some(k2)) = (keys.get(index), keys.get(index + 1)) else {
            // At or past an end (or a one-keyframe path): hold the keyframe.
            return keys.get(index).or(keys.last()).map_or(
                CameraFrame {
                    world_from_camera: Affine3A::IDENTITY,
                    intrinsics: Intrinsics::DWM,
                },
                CameraKeyframe::frame,
            );
        };
        let p0 = index
            .checked_sub(1)
            .and_then(|i| keys.get(i))
            .map_or(2.0 * k1.translation - k2.translation, |k| k.translation);
        let p3 = keys
            .get(index + 2)
            .map_or(2.0 * k2.translation - k1.translation, |k| k.translation);
        let translation = catmull_rom(p0, k1.translation, k2.translation, p3, u);
        let rotation = slerp_short(k1.rotation, k2.rotation, u);
        let lerp = |a: f32, b: f32| a + (b - a) * u;
        let (a, b) = (&k1.intrinsics, &k2.intrinsics);
        CameraFrame {
            world_from_camera: Affine3A::from_rotation_translation(rotation, translation),
            intrinsics: Intrinsics {
                fx: lerp(a.fx, b.fx),
                fy: lerp(a.fy, b.fy),
                cx: lerp(a.cx, b.cx),
                cy: lerp(a.cy, b.cy),
                ..*a
            },
        }
    }

    /// One camera per output frame: frame i at time i / fps.
    pub fn frames(&self, frame_count: usize, fps: f64) -> Vec<CameraFrame> {
        (0..frame_count)
            .map(|i| self.sample(i as f64 / fps))
            .collect()
    }

    /// The window [`start`, `start + duration`] of this path resampled to `frame_count` keyframes stamped
    /// i / fps (so the window plays back over the clip; a duration other than (frame_count − 1) / fps speeds it up
    /// or slows it down). Times are this path's own seconds.
    pub fn resampled(
        &self,
        window: TimeWindow,
        frame_count: usize,
        fps: f64,
    ) -> Result<Self, TrackError> {
        let keyframes = window
            .sample_times(frame_count, fps)
            .enumerate()
            .map(|(i, source_time)| {
                let frame = self.sample(source_time);
                CameraKeyframe::new(i as f64 / fps, frame.world_from_camera, frame.intrinsics)
            })
            .collect();
        Self::new(keyframes)
    }

    /// Inserts a keyframe in time order (replacing one at the same time); returns its index.
    pub fn insert(&mut self, mut keyframe: CameraKeyframe) -> Result<usize, TrackError> {
        if !(keyframe.time.is_finite() && keyframe.time.abs() <= MAX_TIME) {
            return Err(TrackError::BadTime {
                index: self.keyframes.len(),
                time: keyframe.time,
            });
        }
        check_camera_keyframe(self.keyframes.len(), &mut keyframe)?;
        Ok(insert_sorted(&mut self.keyframes, keyframe, |k| k.time))
    }

    /// Removes a keyframe (a path keeps at least one).
    pub fn remove(&mut self, index: usize) -> Result<CameraKeyframe, TrackError> {
        remove_keeping_one(&mut self.keyframes, index)
    }

    /// Replaces a keyframe (pose, intrinsics and/or time: re-timing moves it in the order); returns its new index.
    pub fn replace(&mut self, index: usize, keyframe: CameraKeyframe) -> Result<usize, TrackError> {
        let mut edited = self.clone();
        edited.remove_any(index)?;
        let index = edited.insert(keyframe)?;
        *self = edited;
        Ok(index)
    }

    fn remove_any(&mut self, index: usize) -> Result<CameraKeyframe, TrackError> {
        let count = self.keyframes.len();
        if index >= count {
            return Err(TrackError::NoSuchKeyframe { index, count });
        }
        Ok(self.keyframes.remove(index))
    }
}

fn insert_sorted<T>(items: &mut Vec<T>, item: T, time: impl Fn(&T) -> f64) -> usize {
    let t = time(&item);
    let index = items.partition_point(|k| time(k) < t);
    if items.get(index).is_some_and(|k| time(k) == t) {
        items[index] = item;
    } else {
        items.insert(index, item);
    }
    index
}

fn remove_keeping_one<T>(items: &mut Vec<T>, index: usize) -> Result<T, TrackError> {
    let count = items.len();
    if index >= count {
        return Err(TrackError::NoSuchKeyframe { index, count });
    }
    if count == 1 {
        return Err(TrackError::LastKeyframe);
    }
    Ok(items.remove(index))
}

/// A time window of a source recording, in the source's seconds (its first sample is 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeWindow {
    pub start: f64,
    /// `None`: real time, (frame_count − 1) / fps.
    pub duration: Option<f64>,
}

impl Default for TimeWindow {
    fn default() -> Self {
        Self {
            start: 0.0,
            duration: None,
        }
    }
}

impl TimeWindow {
    /// The source time of each output frame.
    pub fn sample_times(&self, frame_count: usize, fps: f64) -> impl Iterator<Item = f64> + use<> {
        let span = frame_count.saturating_sub(1) as f64;
        let duration = self.duration.unwrap_or(span / fps);
        let start = self.start;
        (0..frame_count).map(move |i| {
            if span > 0.0 {
                start + duration * i as f64 / span
            } else {
                start
            }
        })
    }
}

/// Which frame a hand's wrist is posed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WristFrame {
    /// The wrist moves with the head (camera axes, OpenGL: x right, y up, −z forward).
    #[default]
    Camera,
    /// The wrist stays put in the world while the head moves (world +Y up, metres).
    World,
}

/// Finite and within ±[`MAX_ANGLE`] per component.
fn pose_is_bounded(pose: &ManoPose) -> bool {
    pose.global_orient
        .iter()
        .chain(pose.hand_pose.iter().flatten())
        .all(|v| v.is_finite() && v.abs() <= MAX_ANGLE)
}

/// One hand keyframe.
///
/// The hand's own space has its origin at MANO's wrist (root) joint and MANO's model axes. `global_orient` is
/// the wrist rotation and `wrist_translation` the wrist joint's position, both in the track's [`WristFrame`]; so
/// `frame_from_hand = T(wrist_translation) · R(global_orient)`, and a posed MANO vertex v (from LBS with a zero
/// root rotation and no `transl`) lands at `frame_from_hand · (v − j0)`, j0 being the rest wrist joint for the
/// track's betas. MANO's own `transl` is `wrist_translation − j0(betas)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HandKeyframe {
    /// Seconds from the start of the clip.
    pub time: f64,
    pub pose: ManoPose,
    pub wrist_translation: [f32; 3],
}

impl HandKeyframe {
    /// A keyframe at `time` with the wrist placed by `frame_from_hand` (rigid; camera or world frame, as the
    /// track's) and the fingers of `fingers` (its global orientation is replaced by the placement's).
    pub fn placed(time: f64, frame_from_hand: Affine3A, fingers: &ManoPose) -> Self {
        let (_, rotation, translation) = frame_from_hand.to_scale_rotation_translation();
        Self {
            time,
            pose: ManoPose {
                global_orient: super::interpolate::axis_angle_from_quat(rotation),
                ..*fingers
            },
            wrist_translation: translation.to_array(),
        }
    }
}

/// What one hand does along the clip.
#[derive(Clone, Debug, PartialEq)]
pub struct HandTrack {
    side: Side,
    /// MANO shape (usually 10 numbers); one hand has one shape, so it is per track, not per keyframe.
    betas: Vec<f32>,
    wrist_frame: WristFrame,
    keyframes: Vec<HandKeyframe>,
}

/// A hand sampled at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct HandSample {
    pub side: Side,
    pub pose: ManoPose,
    pub betas: Vec<f32>,
    pub wrist_frame: WristFrame,
    /// `camera_from_hand` or `world_from_hand`, per `wrist_frame` (see [`HandKeyframe`] for hand space).
    pub frame_from_hand: Affine3A,
}

impl HandSample {
    /// The wrist in the camera frame for the given camera, whichever frame the track is posed in.
    pub fn camera_from_hand(&self, camera: &CameraFrame) -> Affine3A {
        match self.wrist_frame {
            WristFrame::Camera => self.frame_from_hand,
            WristFrame::World => camera.world_from_camera.inverse() * self.frame_from_hand,
        }
    }

    /// The wrist in the world for the given camera.
    pub fn world_from_hand(&self, camera: &CameraFrame) -> Affine3A {
        match self.wrist_frame {
            WristFrame::Camera => camera.world_from_camera * self.frame_from_hand,
            WristFrame::World => self.frame_from_hand,
        }
    }
}

fn check_hand_keyframe(index: usize, keyframe: &HandKeyframe) -> Result<(), TrackError> {
    if !pose_is_bounded(&keyframe.pose) {
        return Err(TrackError::BadValue {
            index,
            reason: format!("a joint rotation is not finite or beyond ±{MAX_ANGLE} rad"),
        });
    }
    if !keyframe
        .wrist_translation
        .iter()
        .all(|v| v.is_finite() && v.abs() <= MAX_COORDINATE)
    {
        return Err(TrackError::BadValue {
            index,
            reason: format!("wrist_translation is not finite or beyond ±{MAX_COORDINATE} m"),
        });
    }
    Ok(())
}

impl HandTrack {
    pub fn new(
        side: Side,
        betas: Vec<f32>,
        wrist_frame: WristFrame,
        keyframes: Vec<HandKeyframe>,
    ) -> Result<Self, TrackError> {
        check_times(keyframes.iter().map(|k| k.time))?;
        for (index, keyframe) in keyframes.iter().enumerate() {
            check_hand_keyframe(index, keyframe)?;
        }
        if let Some(bad) = betas
            .iter()
            .find(|b| !(b.is_finite() && b.abs() <= MAX_ANGLE))
        {
            return Err(TrackError::BadValue {
                index: 0,
                reason: format!("betas hold {bad}"),
            });
        }
        Ok(Self {
            side,
            betas,
            wrist_frame,
            keyframes,
        })
    }

    pub fn side(&self) -> Side {
        self.side
    }

    pub fn betas(&self) -> &[f32] {
        &self.betas
    }

    pub fn wrist_frame(&self) -> WristFrame {
        self.wrist_frame
    }

    pub fn keyframes(&self) -> &[HandKeyframe] {
        &self.keyframes
    }

    /// The hand at time `t`: every joint by slerp on SO(3), the wrist position by centripetal Catmull-Rom; ends
    /// held outside the keyframes.
    pub fn sample(&self, t: f64) -> HandSample {
        let keys = &self.keyframes;
        let (index, u) = locate(keys.iter().map(|k| k.time), t);
        let (pose, wrist) = match (keys.get(index), keys.get(index + 1)) {
            (Some(k1), Some(k2)) => {
                let p1 = Vec3::from_array(k1.wrist_translation);
                let p2 = Vec3::from_array(k2.wrist_translation);
                let p0 = index
                    .checked_sub(1)
                    .and_then(|i| keys.get(i))
                    .map_or(2.0 * p1 - p2, |k| Vec3::from_array(k.wrist_translation));
                let p3 = keys
                    .get(index + 2)
                    .map_or(2.0 * p2 - p1, |k| Vec3::from_array(k.wrist_translation));
                (
                    k1.pose.interpolate(&k2.pose, u),
                    catmull_rom(p0, p1, p2, p3, u),
                )
            }
            (Some(k), None) => (k.pose, Vec3::from_array(k.wrist_translation)),
            // Invariant: never empty.
            _ => (ManoPose::FLAT, Vec3::ZERO),
        };
        HandSample {
            side: self.side,
            betas: self.betas.clone(),
            wrist_frame: self.wrist_frame,
            frame_from_hand: Affine3A::from_rotation_translation(
                quat_from_axis_angle(pose.global_orient),
                wrist,
            ),
            pose,
        }
    }

    /// One sample per output frame: frame i at time i / fps.
    pub fn frames(&self, frame_count: usize, fps: f64) -> Vec<HandSample> {
        (0..frame_count)
            .map(|i| self.sample(i as f64 / fps))
            .collect()
    }

    /// The window of this track resampled to `frame_count` keyframes at i / fps (see [`CameraPath::resampled`]).
    pub fn resampled(
        &self,
        window: TimeWindow,
        frame_count: usize,
        fps: f64,
    ) -> Result<Self, TrackError> {
        let keyframes = window
            .sample_times(frame_count, fps)
            .enumerate()
            .map(|(i, source_time)| {
                let sample = self.sample(source_time);
                let wrist = sample.frame_from_hand.translation;
                HandKeyframe {
                    time: i as f64 / fps,
                    pose: sample.pose,
                    wrist_translation: [wrist.x, wrist.y, wrist.z],
                }
            })
            .collect();
        Self::new(self.side, self.betas.clone(), self.wrist_frame, keyframes)
    }

    pub fn insert(&mut self, keyframe: HandKeyframe) -> Result<usize, TrackError> {
        if !(keyframe.time.is_finite() && keyframe.time.abs() <= MAX_TIME) {
            return Err(TrackError::BadTime {
                index: self.keyframes.len(),
                time: keyframe.time,
            });
        }
        check_hand_keyframe(self.keyframes.len(), &keyframe)?;
        Ok(insert_sorted(&mut self.keyframes, keyframe, |k| k.time))
    }

    pub fn remove(&mut self, index: usize) -> Result<HandKeyframe, TrackError> {
        remove_keeping_one(&mut self.keyframes, index)
    }

    pub fn replace(&mut self, index: usize, keyframe: HandKeyframe) -> Result<usize, TrackError> {
        let mut edited = self.clone();
        let count = edited.keyframes.len();
        if index >= count {
            return Err(TrackError::NoSuchKeyframe { index, count });
        }
        edited.keyframes.remove(index);
        let index = edited.insert(keyframe)?;
        *self = edited;
        Ok(index)
    }

    pub fn set_betas(&mut self, betas: Vec<f32>) -> Result<(), TrackError> {
        if let Some(bad) = betas
            .iter()
            .find(|b| !(b.is_finite() && b.abs() <= MAX_ANGLE))
        {
            return Err(TrackError::BadValue {
                index: 0,
                reason: format!("betas hold {bad}"),
            });
        }
        self.betas = betas;
        Ok(())
    }

    /// Re-expresses the track in the other frame, given the camera over time (keyframe times stay).
    pub fn with_wrist_frame(&self, wrist_frame: WristFrame, camera: &CameraPath) -> HandTrack {
        if wrist_frame == self.wrist_frame {
            return self.clone();
        }
        let keyframes = self
            .keyframes
            .iter()
            .map(|k| {
                let sample = self.sample(k.time);
                let frame = camera.sample(k.time);
                let moved = match wrist_frame {
                    WristFrame::Camera => sample.camera_from_hand(&frame),
                    WristFrame::World => sample.world_from_hand(&frame),
                };
                HandKeyframe::placed(k.time, moved, &k.pose)
            })
            .collect();
        HandTrack {
            keyframes,
            wrist_frame,
            ..self.clone()
        }
    }
}

/// What the user authors: where the head goes, what each hand does, how long, and what to say to the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    pub camera: CameraPath,
    pub left: Option<HandTrack>,
    pub right: Option<HandTrack>,
    /// Output frames (DWM: 49).
    pub frame_count: usize,
    /// Output frame rate (DWM: 8).
    pub fps: f64,
    pub prompt: String,
}

/// One output frame's hand, resolved to the camera.
#[derive(Clone, Debug, PartialEq)]
pub struct HandInCamera {
    pub side: Side,
    pub pose: ManoPose,
    pub betas: Vec<f32>,
    /// The wrist in the camera frame (OpenGL axes), see [`HandKeyframe`] for hand space.
    pub camera_from_hand: Affine3A,
}

impl HandInCamera {
    /// The posed mesh in camera space: LBS with the root rotation left to `camera_from_hand` (which holds it),
    /// about the wrist joint.
    pub fn mesh(&self, models: &HandModels) -> Result<HandMesh, ManoInputError> {
        let finger_pose = ManoPose {
            global_orient: [0.0; 3],
            hand_pose: self.pose.hand_pose,
        };
        let mesh = models.get(self.side).pose_mesh(&finger_pose, &self.betas)?;
        let camera_from_hand = self.camera_from_hand;
        Ok(mesh.transformed(|v| camera_from_hand.transform_point3(v)))
    }
}

impl Action {
    /// An action of DWM's default length around a camera path, no hands, no prompt.
    pub fn new(camera: CameraPath) -> Self {
        Self {
            camera,
            left: None,
            right: None,
            frame_count: DEFAULT_FRAME_COUNT,
            fps: DEFAULT_FPS,
            prompt: String::new(),
        }
    }

    /// The camera of every output frame.
    pub fn camera_frames(&self) -> Vec<CameraFrame> {
        self.camera.frames(self.frame_count, self.fps)
    }

    pub fn hand(&self, side: Side) -> Option<&HandTrack> {
        match side {
            Side::Left => self.left.as_ref(),
            Side::Right => self.right.as_ref(),
        }
    }

    /// Per output frame, the hands present (left first) resolved to camera-frame wrist transforms — what the
    /// hand stream needs (it draws in camera space).
    pub fn hands_in_camera(&self) -> Vec<Vec<HandInCamera>> {
        self.hands_in_camera_for(self.frame_count, self.fps)
    }

    /// [`Action::hands_in_camera`] for another frame count and rate (the render command can override both).
    pub fn hands_in_camera_for(&self, frame_count: usize, fps: f64) -> Vec<Vec<HandInCamera>> {
        let cameras = self.camera.frames(frame_count, fps);
        cameras
            .iter()
            .enumerate()
            .map(|(i, camera)| {
                let t = i as f64 / fps;
                [&self.left, &self.right]
                    .into_iter()
                    .flatten()
                    .map(|track| {
                        let sample = track.sample(t);
                        HandInCamera {
                            side: sample.side,
                            camera_from_hand: sample.camera_from_hand(camera),
                            pose: sample.pose,
                            betas: sample.betas,
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// The posed hand meshes of every output frame in camera space (left first), what the hand stream draws.
    pub fn hand_meshes(
        &self,
        models: &HandModels,
        frame_count: usize,
        fps: f64,
    ) -> Result<Vec<Vec<HandMesh>>, ManoInputError> {
        self.hands_in_camera_for(frame_count, fps)
            .iter()
            .map(|hands| hands.iter().map(|hand| hand.mesh(models)).collect())
            .collect()
    }

    /// Clip length in seconds, from the first frame to the last.
    pub fn duration(&self) -> f64 {
        self.frame_count.saturating_sub(1) as f64 / self.fps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(time: f64, x: f32, yaw_degrees: f32) -> CameraKeyframe {
        CameraKeyframe {
            time,
            rotation: Quat::from_rotation_y(yaw_degrees.to_radians()),
            translation: Vec3::new(x, 1.5, 0.0),
            intrinsics: Intrinsics::DWM,
        }
    }

    fn path() -> CameraPath {
        CameraPath::new(vec![
            key(0.0, 0.0, 0.0),
            key(1.0, 1.0, 30.0),
            key(2.5, 1.5, -20.0),
            key(4.0, 3.0, 170.0),
        ])
        .unwrap()
    }

    #[test]
    fn interpolation_passes_through_keyframes() {
        let path = path();
        for k in path.keyframes() {
            let frame = path.sample(k.time);
            assert!(
                frame
                    .world_from_camera
                    .abs_diff_eq(k.world_from_camera(), 1e-5)
            );
        }
    }

    #[test]
    fn interpolation_is_continuous_and_keeps_rotations_normalised() {
        let path = path();
        let steps = 4000;
        let mut previous = path.sample(-0.5);
        for i in 0..=steps {
            let t = -0.5 + 5.0 * i as f64 / steps as f64;
            let frame = path.sample(t);
            let (scale, rotation, _) = frame.world_from_camera.to_scale_rotation_translation();
            assert!(
                (rotation.length() - 1.0).abs() < 1e-5
                    && (scale - Vec3::ONE).abs().max_element() < 1e-4
            );
            let jump = (frame.world_from_camera.translation
                - previous.world_from_camera.translation)
                .length();
            assert!(jump < 0.01, "position jumps by {jump} at t = {t}");
            let turn = frame
                .world_from_camera
                .matrix3
                .x_axis
                .dot(previous.world_from_camera.matrix3.x_axis);
            assert!(turn > 0.999, "rotation jumps at t = {t}");
            previous = frame;
        }
        // Clamped outside.
        assert_eq!(path.sample(-3.0), path.sample(0.0));
        assert_eq!(path.sample(99.0), path.keyframes()[3].frame());
    }

    #[test]
    fn rejects_unsorted_nan_and_non_unit() {
        assert_eq!(CameraPath::new(vec![]), Err(TrackError::Empty));
        assert!(matches!(
            CameraPath::new(vec![key(1.0, 0.0, 0.0), key(0.5, 0.0, 0.0)]),
            Err(TrackError::Unsorted { index: 1, .. })
        ));
        assert!(matches!(
            CameraPath::new(vec![key(f64::NAN, 0.0, 0.0)]),
            Err(TrackError::BadTime { .. })
        ));
        let mut bad = key(0.0, 0.0, 0.0);
        bad.rotation = Quat::from_xyzw(0.0, 0.0, 0.0, 2.0);
        assert!(matches!(
            CameraPath::new(vec![bad]),
            Err(TrackError::BadValue { .. })
        ));
    }

    #[test]
    fn edits_keep_the_order() {
        let mut path = path();
        let index = path.insert(key(0.5, 0.2, 0.0)).unwrap();
        assert_eq!(index, 1);
        let index = path.replace(1, key(3.0, 0.2, 0.0)).unwrap();
        assert_eq!(index, 3);
        let times: Vec<f64> = path.keyframes().iter().map(|k| k.time).collect();
        assert_eq!(times, vec![0.0, 1.0, 2.5, 3.0, 4.0]);
        let mut one = CameraPath::new(vec![key(0.0, 0.0, 0.0)]).unwrap();
        assert_eq!(one.remove(0), Err(TrackError::LastKeyframe));
    }

    #[test]
    fn resampling_a_window_maps_source_time_to_clip_time() {
        let path = path();
        let window = TimeWindow {
            start: 1.0,
            duration: Some(1.5),
        };
        let clip = path.resampled(window, 4, 2.0).unwrap();
        let times: Vec<f64> = clip.keyframes().iter().map(|k| k.time).collect();
        assert_eq!(times, vec![0.0, 0.5, 1.0, 1.5]);
        assert!(
            clip.sample(0.0)
                .world_from_camera
                .abs_diff_eq(path.sample(1.0).world_from_camera, 1e-5)
        );
        assert!(
            clip.sample(1.5)
                .world_from_camera
                .abs_diff_eq(path.sample(2.5).world_from_camera, 1e-5)
        );
    }

    fn hand_key(time: f64, bend: f32, x: f32) -> HandKeyframe {
        let mut pose = ManoPose::FLAT;
        pose.hand_pose[3] = [0.0, 0.0, bend];
        pose.global_orient = [0.0, bend, 0.0];
        HandKeyframe {
            time,
            pose,
            wrist_translation: [x, -0.2, -0.4],
        }
    }

    #[test]
    fn hand_joints_interpolate_on_so3_and_pass_through_keys() {
        let track = HandTrack::new(
            Side::Right,
            vec![0.0; 10],
            WristFrame::Camera,
            vec![
                hand_key(0.0, 170f32.to_radians(), 0.0),
                hand_key(1.0, -170f32.to_radians(), 0.1),
            ],
        )
        .unwrap();
        let mid = track.sample(0.5);
        // Through 180°, not through 0° as component-wise averaging would go.
        let q = quat_from_axis_angle(mid.pose.hand_pose[3]);
        assert!(q.dot(Quat::from_rotation_z(std::f32::consts::PI)).abs() > 1.0 - 1e-5);
        assert_eq!(track.sample(0.0).pose, track.keyframes()[0].pose);
        assert_eq!(track.sample(1.0).pose, track.keyframes()[1].pose);
    }

    #[test]
    fn world_and_camera_wrist_frames_resolve_to_the_same_camera_transform() {
        let camera = path();
        let track = HandTrack::new(
            Side::Left,
            vec![],
            WristFrame::Camera,
            vec![
                hand_key(0.0, 0.3, 0.0),
                hand_key(2.0, -0.4, 0.2),
                hand_key(4.0, 0.1, 0.1),
            ],
        )
        .unwrap();
        let in_world = track.with_wrist_frame(WristFrame::World, &camera);
        for k in track.keyframes() {
            let frame = camera.sample(k.time);
            let a = track.sample(k.time).camera_from_hand(&frame);
            let b = in_world.sample(k.time).camera_from_hand(&frame);
            assert!(a.abs_diff_eq(b, 1e-4), "{a:?} vs {b:?}");
        }
        // A world-frame hand stays put while the camera moves.
        let still = HandTrack::new(
            Side::Left,
            vec![],
            WristFrame::World,
            vec![hand_key(0.0, 0.0, 0.5)],
        )
        .unwrap();
        let mut action = Action::new(camera);
        action.frame_count = 9;
        action.fps = 2.0;
        action.left = Some(still);
        let hands = action.hands_in_camera();
        for (frame, hands) in action.camera_frames().iter().zip(&hands) {
            let world = frame.world_from_camera * hands[0].camera_from_hand;
            assert!((Vec3::from(world.translation) - Vec3::new(0.5, -0.2, -0.4)).length() < 1e-4);
        }
    }

    /// Random paths (xorshift, fixed seed): sampling passes through every keyframe, stays finite with unit
    /// rotations everywhere, and moves little between nearby times.
    #[test]
    fn random_paths_sample_through_keys_with_unit_rotations() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..300 {
            let count = 1 + (next() * 8.0) as usize;
            let mut time = next() * 2.0 - 1.0;
            let keyframes: Vec<CameraKeyframe> = (0..count)
                .map(|_| {
                    time += 0.01 + next() * 2.0;
                    let axis = Vec3::new(
                        next() as f32 - 0.5,
                        next() as f32 - 0.5,
                        next() as f32 - 0.5,
                    );
                    CameraKeyframe {
                        time,
                        rotation: Quat::from_scaled_axis(axis * 6.0),
                        translation: Vec3::new(next() as f32, next() as f32, next() as f32) * 4.0
                            - 2.0,
                        intrinsics: Intrinsics::DWM,
                    }
                })
                .collect();
            let path = CameraPath::new(keyframes).unwrap();
            for k in path.keyframes() {
                assert!(
                    path.sample(k.time)
                        .world_from_camera
                        .abs_diff_eq(k.world_from_camera(), 1e-4)
                );
            }
            let (start, end) = path.time_range();
            for _ in 0..200 {
                let t = start - 0.5 + (end - start + 1.0) * next();
                let frame = path.sample(t);
                let (scale, rotation, translation) =
                    frame.world_from_camera.to_scale_rotation_translation();
                assert!(translation.is_finite() && (rotation.length() - 1.0).abs() < 1e-4);
                assert!((scale - Vec3::ONE).abs().max_element() < 1e-3);
                // Continuity: a microsecond later the camera has barely moved or turned (keyframes can be 10 ms
                // and metres apart, so the speed bound is generous).
                let later = path.sample(t + 1e-6);
                let step = (Vec3::from(later.world_from_camera.translation) - translation).length();
                assert!(step < 0.01, "jump {step} at {t}");
                let (_, later_rotation, _) =
                    later.world_from_camera.to_scale_rotation_translation();
                assert!(
                    later_rotation.dot(rotation).abs() > 0.9999,
                    "rotation jumps at {t}"
                );
            }
        }
    }

    #[test]
    fn hand_tracks_pose_into_camera_space_meshes() {
        let models = crate::hand::HandModels::bundled().unwrap();
        let fist = crate::hand::Preset::Fist.right_hand_pose();
        let keyframes = vec![
            HandKeyframe {
                time: 0.0,
                pose: ManoPose::FLAT,
                wrist_translation: [0.15, -0.2, -0.3],
            },
            HandKeyframe {
                time: 1.0,
                pose: fist,
                wrist_translation: [0.15, -0.2, -0.3],
            },
        ];
        let mut action = Action::new(path());
        action.right =
            Some(HandTrack::new(Side::Right, vec![], WristFrame::Camera, keyframes).unwrap());
        let meshes = action.hand_meshes(&models, 9, 8.0).unwrap();
        assert_eq!(meshes.len(), 9);
        for frame in &meshes {
            assert_eq!(frame.len(), 1);
            assert_eq!(frame[0].side, Side::Right);
            // Camera space: the wrist is at the keyframe's position, so the hand is in front of the eye.
            let centre = frame[0].vertices().iter().copied().sum::<Vec3>()
                / frame[0].vertices().len() as f32;
            assert!(centre.z < -0.1 && centre.z > -0.6, "{centre}");
        }
        // The hand closes along the clip: the first frame is flat, the last (t = 1 s) a fist.
        let flat = models.right.pose_mesh(&ManoPose::FLAT, &[]).unwrap();
        let wrist = Vec3::new(0.15, -0.2, -0.3);
        for (a, b) in meshes[0][0].vertices().iter().zip(flat.vertices()) {
            assert!((*a - (*b + wrist)).length() < 1e-5);
        }
        assert_ne!(meshes[8][0].vertices(), meshes[0][0].vertices());
    }

    #[test]
    fn rejects_values_that_would_overflow_sampling() {
        let mut far = key(0.0, 0.0, 0.0);
        far.translation.x = 1e19;
        assert!(matches!(
            CameraPath::new(vec![far]),
            Err(TrackError::BadValue { .. })
        ));
        let mut pose = ManoPose::FLAT;
        pose.hand_pose[2][0] = 1e37;
        let hand = HandKeyframe {
            time: 0.0,
            pose,
            wrist_translation: [0.0; 3],
        };
        assert!(HandTrack::new(Side::Left, vec![], WristFrame::Camera, vec![hand]).is_err());
        assert!(matches!(
            CameraPath::new(vec![key(1e12, 0.0, 0.0)]),
            Err(TrackError::BadTime { .. })
        ));
    }
}
