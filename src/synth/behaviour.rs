//! Scripted egocentric behaviours: the camera path (a slow approach with a small sway and bob, looking at the
//! target; or a fixed camera), the acting hand (reach, close the grasp on the handle or object, move it, and for
//! loose objects let go), the optional idle hand, and where the target's parts are in every frame.

use super::rng::Rng;
use super::room::{Grip, Motion, ObjectKind, Room, Target, build_room};
use super::{
    OBJECT_KIND_COUNT, ROOM_STYLE_COUNT, Split, SynthConfig, Timing, clip_seed, clip_stem,
};
use crate::action::{
    Action, CameraFrame, CameraKeyframe, CameraPath, HandKeyframe, HandTrack, Intrinsics,
    TrackError, WristFrame,
};
use crate::hand::placement::{DEFAULT_WRIST_ANGLES, camera_from_hand, default_wrist_position};
use crate::hand::{ManoPose, Preset, Side};
use crate::scene::procedural::ProceduralScene;
use glam::{Affine3A, Mat3, Quat, Vec3};
use serde::{Deserialize, Serialize};

/// What the acting hand does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    PullDrawer,
    OpenDoor,
    PickAndPlace,
    Push,
}

/// Everything about one clip except its pixels.
#[derive(Clone, Debug)]
pub struct ClipPlan {
    pub index: usize,
    /// The clip's own seed (from the run seed and the room's index, `index / variants`).
    pub seed: u64,
    /// Which of its room's [`SynthConfig::variants`] clips this is (`index % variants`; 0 with one per room).
    pub variant: usize,
    /// Which of its room's [`SynthConfig::alternatives`] this clip is (`index % alternatives`; 0 with one per
    /// room): alternative 0 is the clip of a one-alternative run, the others act on another target or in another
    /// way under the same camera path.
    pub alternative: usize,
    pub stem: String,
    pub room_style: usize,
    pub object_kind: ObjectKind,
    pub behaviour: Behaviour,
    pub fixed_camera: bool,
    pub acting: Side,
    pub both_hands: bool,
    pub prompt: String,
    pub scene: ProceduralScene,
    pub target: Target,
    /// Camera path, hand tracks (camera frame, one keyframe per output frame) and the prompt.
    pub action: Action,
    /// Per frame, the target's parts at their placements (empty in frames where nothing moved yet).
    pub moved_parts: Vec<Vec<(usize, Affine3A)>>,
    /// Linear RGB albedo of the skin-shaded hands.
    pub skin_color: [f32; 3],
    /// Seconds from the first frame to the grasp, and to the end of the target's motion.
    pub grasp_seconds: f64,
    pub moved_seconds: f64,
}

/// Salt of the second generator that draws [`Timing::Varied`]'s clock from the clip's seed.
const TIMING_SALT: u64 = 0x7131_11AE_D0C1_0C4B;

/// Salt of the generator that draws an alternative's motion (with the alternative's index), so alternative 0
/// keeps the bytes of a one-alternative run and alternative `a` does not depend on how many there are.
const ALTERNATIVE_SALT: u64 = 0xA17E_5A7E_0FC0_FFEE;

/// How far a loose object can move along x (`sign` ±1) before it reaches the table's edge.
fn table_room(target: &Target, sign: f32) -> f32 {
    let (x_min, x_max, _, _) = target.table.unwrap_or((-1.0, 1.0, -1.0, 1.0));
    if sign > 0.0 {
        x_max - target.half_width - target.grasp_point.x
    } else {
        target.grasp_point.x - (x_min + target.half_width)
    }
}

/// A loose object's motion along the table: carried (lifted, moved, put down) or pushed `sign` (±1) along x.
fn loose_motion(target: &Target, behaviour: Behaviour, sign: f32, rng: &mut Rng) -> TargetMotion {
    let distance = rng.range(0.12, 0.2).min(table_room(target, sign).max(0.08));
    if behaviour == Behaviour::Push {
        TargetMotion::Push {
            offset: Vec3::X * sign * distance,
        }
    } else {
        TargetMotion::Carry {
            lift: rng.range(0.1, 0.18),
            shift: Vec3::X * sign * distance + Vec3::Z * rng.range(-0.04, 0.03),
        }
    }
}

/// What alternative `alternative` (≥ 1) of a room does instead of its primary action (`behaviour` on `primary`
/// with `motion`), under the same camera path: another drawer of the chest (nearest first); the door opened
/// only a little, or opened and closed again; a loose object carried to the other side, or pushed either way.
/// The choices cycle when there are more alternatives than choices (with fresh distances and angles).
fn alternative_action(
    drawers: &[Target],
    primary: &Target,
    behaviour: Behaviour,
    motion: TargetMotion,
    inward: Vec3,
    alternative: usize,
    rng: &mut Rng,
) -> (Target, Behaviour, TargetMotion) {
    let k = alternative.saturating_sub(1);
    match behaviour {
        Behaviour::PullDrawer => {
            let at = drawers
                .iter()
                .position(|d| d.parts == primary.parts)
                .unwrap_or(0);
            let mut others: Vec<usize> = (0..drawers.len()).filter(|&i| i != at).collect();
            others.sort_by_key(|&i| i.abs_diff(at));
            let target = others
                .get(k % others.len().max(1))
                .and_then(|&i| drawers.get(i))
                .unwrap_or(primary)
                .clone();
            let direction = match target.motion {
                Motion::Slide { direction } => direction,
                _ => Vec3::Z,
            };
            let offset = direction * rng.range(0.15, 0.28);
            (target, behaviour, TargetMotion::Slide { offset })
        }
        Behaviour::OpenDoor => {
            let (pivot, opening) = match primary.motion {
                Motion::Hinge { pivot, opening } => (pivot, opening),
                _ => (primary.grasp_point, 1.0),
            };
            let (degrees, returns) = if k.is_multiple_of(2) {
                (rng.range(20.0f32, 35.0), false)
            } else {
                (rng.range(60.0f32, 90.0), true)
            };
            let motion = TargetMotion::Hinge {
                pivot,
                angle: opening * degrees.to_radians(),
                returns,
            };
            (primary.clone(), behaviour, motion)
        }
        Behaviour::PickAndPlace | Behaviour::Push => {
            let primary_sign = match motion {
                TargetMotion::Push { offset } => offset.x.signum(),
                TargetMotion::Carry { shift, .. } => shift.x.signum(),
                _ => 1.0,
            };
            let choices: Vec<(Behaviour, f32)> = [
                (Behaviour::PickAndPlace, 1.0),
                (Behaviour::PickAndPlace, -1.0),
                (Behaviour::Push, inward.x),
                (Behaviour::Push, -inward.x),
            ]
            .into_iter()
            .filter(|&(b, sign)| !(b == behaviour && sign == primary_sign))
            .collect();
            let (b, sign) = choices[k % choices.len()];
            (primary.clone(), b, loose_motion(primary, b, sign, rng))
        }
    }
}

fn smoothstep(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// A hand's rotation in the world from where its fingers point (`fingers`) and where its palm faces (`palm`),
/// both unit and perpendicular. MANO's right hand has its fingers along −x and its palm facing −y; the left
/// (mirrored) hand has its fingers along +x.
fn hand_rotation(side: Side, fingers: Vec3, palm: Vec3) -> Quat {
    let columns = match side {
        Side::Right => (-fingers, -palm, fingers.cross(palm)),
        Side::Left => (fingers, -palm, -fingers.cross(palm)),
    };
    Quat::from_mat3(&Mat3::from_cols(columns.0, columns.1, columns.2)).normalize()
}

/// `palm` made perpendicular to `fingers` (both unit).
fn orthogonal(fingers: Vec3, palm: Vec3) -> (Vec3, Vec3) {
    let fingers = fingers.normalize();
    let palm = (palm - fingers * palm.dot(fingers)).normalize();
    (fingers, palm)
}

/// Mirrors a right-hand direction for the left hand (across the room's x = const plane).
fn for_side(side: Side, v: Vec3) -> Vec3 {
    match side {
        Side::Right => v,
        Side::Left => Vec3::new(-v.x, v.y, v.z),
    }
}

/// The grasping hand at rest: `world_from_hand` (wrist joint), the palm direction and the finger preset.
fn grasp_pose(
    target: &Target,
    side: Side,
    push_direction: Option<Vec3>,
) -> (Affine3A, Vec3, Preset) {
    let g = target.grasp_point;
    let (fingers, palm, wrist, preset) = if let Some(push) = push_direction {
        // Palm against the object's side, fingers forward and down.
        let (f, p) = orthogonal(Vec3::new(0.0, -0.7, -0.7), push);
        let wrist = g - p * (target.half_width + 0.03) - f * 0.06 + Vec3::Y * 0.01;
        (f, p, wrist, Preset::Flat)
    } else {
        match target.grip {
            Grip::HorizontalBar => {
                let (f, p) = orthogonal(Vec3::new(0.0, -0.9, -0.35), Vec3::NEG_Z);
                let (f, p) = (for_side(side, f), for_side(side, p));
                (f, p, g - f * 0.065 - p * 0.03, Preset::PowerGrasp)
            }
            Grip::VerticalBar => {
                let (f, p) = (for_side(side, Vec3::NEG_Z), for_side(side, Vec3::NEG_X));
                (f, p, g - f * 0.065 - p * 0.025, Preset::PowerGrasp)
            }
            Grip::Side { radius } => {
                let f = for_side(side, Vec3::new(0.5, 0.0, -1.0).normalize());
                let p = for_side(side, Vec3::new(-1.0, 0.0, -0.5).normalize());
                (f, p, g - f * 0.06 - p * (radius + 0.02), Preset::PowerGrasp)
            }
            Grip::Top { half_height } => {
                let (f, p) = (Vec3::NEG_Z, Vec3::NEG_Y);
                (
                    f,
                    p,
                    g + Vec3::Y * (half_height + 0.025) - f * 0.055,
                    Preset::PowerGrasp,
                )
            }
        }
    };
    (
        Affine3A::from_rotation_translation(hand_rotation(side, fingers, palm), wrist),
        palm,
        preset,
    )
}

/// The rigid motion of the target after progress `m` ∈ [0, 1] (world), for the chosen behaviour.
#[derive(Clone, Copy, Debug)]
enum TargetMotion {
    Slide {
        offset: Vec3,
    },
    /// `returns`: the door swings open to `angle` and closes again by the end.
    Hinge {
        pivot: Vec3,
        angle: f32,
        returns: bool,
    },
    Carry {
        lift: f32,
        shift: Vec3,
    },
    Push {
        offset: Vec3,
    },
}

impl TargetMotion {
    fn at(self, m: f32) -> Affine3A {
        match self {
            TargetMotion::Slide { offset } | TargetMotion::Push { offset } => {
                Affine3A::from_translation(offset * smoothstep(m))
            }
            TargetMotion::Hinge {
                pivot,
                angle,
                returns,
            } => {
                let w = if returns {
                    smoothstep(m / 0.5) - smoothstep((m - 0.5) / 0.5)
                } else {
                    smoothstep(m)
                };
                Affine3A::from_translation(pivot)
                    * Affine3A::from_rotation_y(angle * w)
                    * Affine3A::from_translation(-pivot)
            }
            TargetMotion::Carry { lift, shift } => {
                // Up, across, down.
                let up = smoothstep(m / 0.35) - smoothstep((m - 0.7) / 0.3);
                let across = smoothstep((m - 0.3) / 0.45);
                Affine3A::from_translation(Vec3::Y * lift * up + shift * across)
            }
        }
    }
}

/// Yaw, pitch, roll (degrees) of a hand at rest in front of a camera that looks down at a table: the default
/// egocentric pose pitched up so the back of the hand faces the eye rather than being seen edge-on.
const IDLE_WRIST_ANGLES: Vec3 = Vec3::new(DEFAULT_WRIST_ANGLES.x, 25.0, -20.0);

const SKIN_TONES: [[f32; 3]; 5] = [
    [0.87, 0.60, 0.45],
    [0.73, 0.43, 0.30],
    [0.55, 0.29, 0.17],
    [0.27, 0.13, 0.06],
    [0.11, 0.05, 0.02],
];

/// Plans clip `index` of a run: room, behaviour, camera, hands and part motion, all from the clip's seed.
pub fn plan_clip(
    run_seed: u64,
    index: usize,
    split: Split,
    config: &SynthConfig,
) -> Result<ClipPlan, TrackError> {
    let variants = config.variants.max(1);
    let alternatives = config.alternatives.max(1);
    let per_room = variants.max(alternatives);
    let room_index = index / per_room;
    let variant = if variants > 1 { index % per_room } else { 0 };
    let alternative = if alternatives > 1 {
        index % per_room
    } else {
        0
    };
    let seed = clip_seed(run_seed, room_index);
    let mut rng = Rng::new(seed);
    let (room_style, kind) = loop {
        let style = rng.below(ROOM_STYLE_COUNT);
        let kind = rng.below(OBJECT_KIND_COUNT);
        if split.contains(style, kind) {
            break (style, ObjectKind::from_index(kind));
        }
    };
    let acting = if rng.chance(0.75) {
        Side::Right
    } else {
        Side::Left
    };
    let both_hands = rng.chance(0.35);
    let behaviour = match kind {
        ObjectKind::Drawer => Behaviour::PullDrawer,
        ObjectKind::CabinetDoor => Behaviour::OpenDoor,
        ObjectKind::Apple | ObjectKind::Bottle => Behaviour::PickAndPlace,
        ObjectKind::Book => Behaviour::Push,
        ObjectKind::Mug | ObjectKind::Box => {
            if rng.chance(0.5) {
                Behaviour::PickAndPlace
            } else {
                Behaviour::Push
            }
        }
    };
    let Room {
        scene,
        target,
        drawers,
    } = build_room(room_style, kind, acting, &mut rng);
    let fixed_camera = rng.chance(config.fixed_camera_fraction);
    let side_sign = if acting == Side::Right { 1.0 } else { -1.0 };

    // What the target does.
    let inward = Vec3::X * -side_sign; // towards the body's midline from the acting hand
    let (motion, direction_word) = match behaviour {
        Behaviour::PullDrawer => {
            let direction = match target.motion {
                Motion::Slide { direction } => direction,
                _ => Vec3::Z,
            };
            (
                TargetMotion::Slide {
                    offset: direction * rng.range(0.15, 0.28),
                },
                "",
            )
        }
        Behaviour::OpenDoor => {
            let (pivot, opening) = match target.motion {
                Motion::Hinge { pivot, opening } => (pivot, opening),
                _ => (target.grasp_point, 1.0),
            };
            (
                TargetMotion::Hinge {
                    pivot,
                    angle: opening * rng.range(60.0f32, 90.0).to_radians(),
                    returns: false,
                },
                "",
            )
        }
        Behaviour::PickAndPlace | Behaviour::Push => {
            let sign = if rng.chance(0.5) { 1.0f32 } else { -1.0 };
            let mut sign = if behaviour == Behaviour::Push {
                inward.x
            } else {
                sign
            };
            if table_room(&target, sign) < 0.12 && behaviour == Behaviour::PickAndPlace {
                sign = -sign;
            }
            let word = if sign > 0.0 { "right" } else { "left" };
            let motion = loose_motion(&target, behaviour, sign, &mut rng);
            (motion, word)
        }
    };
    // Camera: stand in front of the target, slightly to the side away from the acting hand, and look at it.
    let intrinsics =
        Intrinsics::from_horizontal_fov(config.width, config.height, config.horizontal_fov_degrees);
    let loose = target.table.is_some();
    // Close, as DWM's egocentric clips are: the target and the hands fill much of the tiny frame.
    // A door's free edge swings out towards the viewer: stand further back and towards the hinge, so the door's
    // outer face (and the hand on its handle) turns towards the camera as it opens.
    let door = behaviour == Behaviour::OpenDoor;
    let distance = match (loose, door) {
        (true, _) => rng.range(0.26, 0.38),
        (false, false) => rng.range(0.36, 0.5),
        (false, true) => rng.range(0.6, 0.72),
    };
    let lateral = -side_sign
        * if door {
            rng.range(0.2, 0.3)
        } else {
            rng.range(0.02, 0.12)
        };
    let g = target.grasp_point;
    let eye_y = (g.y
        + if door {
            rng.range(0.45, 0.6)
        } else {
            rng.range(0.3, 0.42)
        })
    .clamp(0.95, 1.6);
    let eye_end = Vec3::new(g.x + lateral, eye_y, g.z) + target.facing * distance;
    let back = (eye_end - g).with_y(0.0).normalize_or_zero();
    let approach = rng.range(0.04, 0.1);
    let mut look = g + Vec3::new(rng.range(-0.02, 0.02), rng.range(-0.07, -0.02), 0.0);
    match behaviour {
        Behaviour::PullDrawer => look += target.facing * 0.08,
        Behaviour::OpenDoor => look += target.facing * 0.15 - Vec3::X * side_sign * 0.12,
        Behaviour::PickAndPlace => look += Vec3::Y * 0.04,
        Behaviour::Push => {}
    }
    // Phases drawn from [0, 6.28), not [0, TAU): the data sets rendered so far (the tiny DWM's training and
    // held-out clips) used this bound, and the same seed must keep giving the same bytes.
    #[allow(clippy::approx_constant)]
    const PHASE_END: f32 = 6.28;
    let sway = [
        rng.range(0.005, 0.02),
        rng.range(0.3, 0.8),
        rng.range(0.0, PHASE_END),
        rng.range(0.003, 0.012),
        rng.range(0.8, 1.6),
        rng.range(0.0, PHASE_END),
    ];
    let frame_count = config.frame_count.max(1);
    let span = frame_count.saturating_sub(1).max(1) as f32;
    let fixed_eye = eye_end + back * approach * 0.4;
    let camera_at = |i: usize| -> Affine3A {
        let u = i as f32 / span;
        let seconds = i as f32 / config.fps as f32;
        let (eye, look) = if fixed_camera {
            (fixed_eye, look)
        } else {
            let right = back.cross(Vec3::Y).normalize_or_zero() * -1.0;
            let eye = eye_end
                + back * approach * (1.0 - smoothstep(u))
                + right * sway[0] * (std::f32::consts::TAU * sway[1] * seconds + sway[2]).sin()
                + Vec3::Y * sway[3] * (std::f32::consts::TAU * sway[4] * seconds + sway[5]).sin();
            let look = look
                + right * sway[0] * 0.5 * (std::f32::consts::TAU * sway[1] * 0.7 * seconds).sin();
            (eye, look)
        };
        Affine3A::look_at_rh(eye, look, Vec3::Y).inverse()
    };
    let cameras: Vec<Affine3A> = (0..frame_count).map(camera_at).collect();

    // An alternative keeps the room and the camera path above and acts on another target, or in another way.
    let (target, behaviour, motion) = if alternative == 0 {
        (target, behaviour, motion)
    } else {
        let mut alt_rng = Rng::new(
            seed ^ ALTERNATIVE_SALT ^ (alternative as u64).wrapping_mul(crate::rng::GOLDEN_GAMMA),
        );
        alternative_action(
            &drawers,
            &target,
            behaviour,
            motion,
            inward,
            alternative,
            &mut alt_rng,
        )
    };
    let direction_word = match motion {
        TargetMotion::Push { offset } if offset.x > 0.0 => "right",
        TargetMotion::Carry { shift, .. } if shift.x > 0.0 => "right",
        TargetMotion::Push { .. } | TargetMotion::Carry { .. } => "left",
        _ => direction_word,
    };
    let push_direction = match motion {
        TargetMotion::Push { offset } => Some(offset.normalize_or_zero()),
        _ => None,
    };

    // The acting hand: reach, grasp, move with the target, then (loose objects) let go.
    let (t_grasp, t_moved) = {
        // Always drawn from the main generator, so the draws after them stay where they were.
        let scripted = (rng.range(0.3, 0.4), rng.range(0.8, 0.88));
        match config.timing {
            Timing::Scripted => scripted,
            Timing::Varied => {
                // Variant v takes the clock's (v + 1)-th draw, so variant 0 is the clip of a one-variant run.
                let mut clock = Rng::new(seed ^ TIMING_SALT);
                let mut draw = || {
                    let grasp = clock.range(0.15, 0.5);
                    (grasp, (grasp + clock.range(0.3, 0.55)).min(0.9))
                };
                let mut timing = draw();
                for _ in 0..variant {
                    timing = draw();
                }
                timing
            }
        }
    };
    let progress = |u: f32| ((u - t_grasp - 0.04) / (t_moved - t_grasp - 0.04)).clamp(0.0, 1.0);
    let (grasp, palm, grip_preset) = grasp_pose(&target, acting, push_direction);
    let start =
        cameras[0] * camera_from_hand(acting, default_wrist_position(acting), IDLE_WRIST_ANGLES);
    let pre_grasp = Affine3A::from_translation(-palm * 0.06 + Vec3::Y * 0.02) * grasp;
    let relaxed = Preset::Relaxed.controls().pose_for(acting);
    let gripping = grip_preset.controls().pose_for(acting);
    let releases = matches!(behaviour, Behaviour::PickAndPlace | Behaviour::Push);
    let (_, start_rotation, start_position) = start.to_scale_rotation_translation();
    let (_, grasp_rotation, _) = grasp.to_scale_rotation_translation();
    let acting_hand_at = |i: usize| -> (Affine3A, ManoPose) {
        let u = i as f32 / span;
        let t_pre = 0.7 * t_grasp;
        let world_from_hand = if u <= t_pre {
            let w = smoothstep(u / t_pre);
            let position = start_position.lerp(pre_grasp.translation.into(), w);
            Affine3A::from_rotation_translation(start_rotation.slerp(grasp_rotation, w), position)
        } else if u <= t_grasp {
            let w = smoothstep((u - t_pre) / (t_grasp - t_pre));
            let position = Vec3::from(pre_grasp.translation).lerp(grasp.translation.into(), w);
            Affine3A::from_rotation_translation(grasp_rotation, position)
        } else {
            let held = motion.at(progress(u)) * grasp;
            if releases && u > t_moved + 0.02 {
                let w = smoothstep((u - t_moved - 0.02) / (1.0 - t_moved - 0.02).max(1e-3));
                Affine3A::from_translation((-palm * 0.05 + Vec3::Y * 0.03) * w) * held
            } else {
                held
            }
        };
        let close = smoothstep((u - 0.6 * t_grasp) / (0.4 * t_grasp + 0.04));
        let mut fingers = relaxed.interpolate(&gripping, close);
        if releases && u > t_moved + 0.02 {
            let w = smoothstep((u - t_moved - 0.02) / (1.0 - t_moved - 0.02).max(1e-3));
            fingers = fingers.interpolate(&relaxed, w);
        }
        (world_from_hand, fingers)
    };

    let times: Vec<f64> = (0..frame_count).map(|i| i as f64 / config.fps).collect();
    let camera_path = CameraPath::new(
        cameras
            .iter()
            .zip(&times)
            .map(|(world_from_camera, &time)| {
                CameraKeyframe::new(time, *world_from_camera, intrinsics)
            })
            .collect(),
    )?;
    let keyframe = |time: f64, camera_from_hand: Affine3A, fingers: ManoPose| {
        HandKeyframe::placed(time, camera_from_hand, &fingers)
    };
    let acting_track = HandTrack::new(
        acting,
        Vec::new(),
        WristFrame::Camera,
        (0..frame_count)
            .map(|i| {
                let (world_from_hand, fingers) = acting_hand_at(i);
                keyframe(times[i], cameras[i].inverse() * world_from_hand, fingers)
            })
            .collect(),
    )?;
    let idle_side = match acting {
        Side::Right => Side::Left,
        Side::Left => Side::Right,
    };
    let bob = rng.range(0.003, 0.01);
    let idle_track = if both_hands {
        let relaxed_idle = Preset::Relaxed.controls().pose_for(idle_side);
        Some(HandTrack::new(
            idle_side,
            Vec::new(),
            WristFrame::Camera,
            (0..frame_count)
                .map(|i| {
                    let seconds = i as f32 / config.fps as f32;
                    let wrist = default_wrist_position(idle_side)
                        + Vec3::Y * bob * (std::f32::consts::TAU * 0.7 * seconds).sin();
                    keyframe(
                        times[i],
                        camera_from_hand(idle_side, wrist, IDLE_WRIST_ANGLES),
                        relaxed_idle,
                    )
                })
                .collect(),
        )?)
    } else {
        None
    };
    let (left, right) = match acting {
        Side::Right => (idle_track, Some(acting_track)),
        Side::Left => (Some(acting_track), idle_track),
    };

    let with_hand = if acting == Side::Left {
        " with the left hand"
    } else {
        ""
    };
    let prompt = match behaviour {
        Behaviour::PullDrawer => format!("Pull the {} open{with_hand}.", target.description),
        Behaviour::OpenDoor => match motion {
            TargetMotion::Hinge { returns: true, .. } => format!(
                "Open the {} and close it again{with_hand}.",
                target.description
            ),
            TargetMotion::Hinge { angle, .. } if angle.abs() < 40f32.to_radians() => {
                format!("Open the {} a little{with_hand}.", target.description)
            }
            _ => format!("Open the {}{with_hand}.", target.description),
        },
        Behaviour::PickAndPlace => format!(
            "Pick up the {} and put it down to the {direction_word}{with_hand}.",
            target.description
        ),
        Behaviour::Push => format!(
            "Push the {} to the {direction_word} along the table{with_hand}.",
            target.description
        ),
    };
    let action = Action {
        camera: camera_path,
        left,
        right,
        frame_count,
        fps: config.fps,
        prompt: prompt.clone(),
    };

    let moved_parts = (0..frame_count)
        .map(|i| {
            let m = progress(i as f32 / span);
            if m <= 0.0 {
                return Vec::new();
            }
            let delta = motion.at(m);
            target
                .parts
                .iter()
                .filter_map(|&part| {
                    scene
                        .parts
                        .get(part)
                        .map(|p| (part, delta * p.world_from_part))
                })
                .collect()
        })
        .collect();
    let tone = rng.below(SKIN_TONES.len() - 1);
    let mix = rng.unit();
    let skin_color = std::array::from_fn(|c| {
        SKIN_TONES[tone][c] + (SKIN_TONES[tone + 1][c] - SKIN_TONES[tone][c]) * mix
    });

    Ok(ClipPlan {
        index,
        seed,
        variant,
        alternative,
        stem: clip_stem(run_seed, index),
        room_style,
        object_kind: kind,
        behaviour,
        fixed_camera,
        acting,
        both_hands,
        prompt,
        scene,
        target,
        action,
        moved_parts,
        skin_color,
        grasp_seconds: f64::from(t_grasp * span) / config.fps,
        moved_seconds: f64::from(t_moved * span) / config.fps,
    })
}

impl ClipPlan {
    /// The camera of every output frame, as the action file gives them.
    pub fn camera_frames(&self) -> Vec<CameraFrame> {
        self.action.camera_frames()
    }
}
