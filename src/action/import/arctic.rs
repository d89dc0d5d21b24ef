//! ARCTIC `*.mano.npy` hand sequences: `np.save` of a dict `{"right": {...}, "left": {...}}`, each with `rot`
//! (T×3 axis-angle), `pose` (T×45 axis-angle relative to MANO's mean hand, `flat_hand_mean=False`), `trans`
//! (T×3, MANO's `transl`, metres, ARCTIC's world frame), `shape` (10 or T×10 betas) and `fitting_err`. Read with
//! a restricted pickle reader (no Python code runs). Turning `pose` and `trans` into handtwin's absolute pose and
//! wrist position needs the MANO model (its mean hand and rest wrist joint), so the caller passes it. Frames are
//! at the given rate (ARCTIC's sequences are 30 fps); ARCTIC's world is taken as +Y up unless `up` says otherwise
//! (unverified against ARCTIC's mocap frame).

use super::pickle::{PickleValue, parse_object_npy};
use super::{SourceUp, read_bytes};
use crate::action::action_file::ActionFileError;
use crate::action::interpolate::{axis_angle_from_quat, quat_from_axis_angle};
use crate::action::track::{HandKeyframe, HandTrack, ManoPose, WristFrame};
use crate::hand::{ManoModel, Side, convert};
use glam::Vec3;
use std::path::Path;

fn rows<'a>(
    value: &'a PickleValue,
    name: &str,
    width: usize,
) -> Result<(usize, &'a [f64]), String> {
    match value {
        PickleValue::Array { shape, data } => match shape.as_slice() {
            [t, w] if *w == width => Ok((*t, data)),
            [w] if *w == width => Ok((1, data)),
            other => Err(format!(
                "`{name}` has shape {other:?}, expected (T, {width})"
            )),
        },
        _ => Err(format!("`{name}` is not a number array")),
    }
}

pub fn load_arctic(
    path: &Path,
    side: Side,
    up: SourceUp,
    fps: f64,
    model: &ManoModel,
) -> Result<HandTrack, ActionFileError> {
    let bytes = read_bytes(path)?;
    parse_arctic(&bytes, path, side, up, fps, model)
}

pub fn parse_arctic(
    bytes: &[u8],
    path: &Path,
    side: Side,
    up: SourceUp,
    fps: f64,
    model: &ManoModel,
) -> Result<HandTrack, ActionFileError> {
    let key = match side {
        Side::Left => "left",
        Side::Right => "right",
    };
    let err = |at: &str, e: String| ActionFileError::at(path, at, e);
    let root = parse_object_npy(bytes).map_err(|e| ActionFileError::new(path, e))?;
    let hand = root.get(key).ok_or_else(|| {
        err(
            key,
            "is missing (an ARCTIC .mano.npy has \"right\" and \"left\")".into(),
        )
    })?;
    let field = |name: &str| {
        hand.get(name)
            .ok_or_else(|| err(&format!("{key}.{name}"), "is missing".into()))
    };
    let (frames, rot) = rows(field("rot")?, "rot", 3).map_err(|e| err(key, e))?;
    let (pose_frames, pose) = rows(field("pose")?, "pose", 45).map_err(|e| err(key, e))?;
    let (trans_frames, trans) = rows(field("trans")?, "trans", 3).map_err(|e| err(key, e))?;
    let (_, shape) = rows(field("shape")?, "shape", 10).map_err(|e| err(key, e))?;
    if pose_frames != frames || trans_frames != frames {
        return Err(err(
            key,
            format!(
                "has {frames} rot, {pose_frames} pose and {trans_frames} trans rows; they must match"
            ),
        ));
    }
    if frames == 0 {
        return Err(err(key, "has no frames".into()));
    }
    if !(fps.is_finite() && fps > 0.0) {
        return Err(ActionFileError::new(
            path,
            format!("frame rate {fps} is not positive"),
        ));
    }
    let betas: Vec<f32> = shape[..10].iter().map(|&v| v as f32).collect();
    let world_from_source = up.world_from_source();
    let mut keyframes = Vec::with_capacity(frames);
    for frame in 0..frames {
        let at = format!("{key} frame {frame}");
        let r = &rot[frame * 3..][..3];
        let mut p = [0.0f32; 45];
        for (o, v) in p.iter_mut().zip(&pose[frame * 45..][..45]) {
            *o = *v as f32;
        }
        let t = Vec3::new(
            trans[frame * 3] as f32,
            trans[frame * 3 + 1] as f32,
            trans[frame * 3 + 2] as f32,
        );
        let converted = convert::from_arctic(
            model,
            [r[0] as f32, r[1] as f32, r[2] as f32],
            &p,
            t,
            &betas,
        )
        .map_err(|e| err(&at, e.to_string()))?;
        keyframes.push(HandKeyframe {
            time: frame as f64 / fps,
            pose: ManoPose {
                global_orient: axis_angle_from_quat(
                    world_from_source * quat_from_axis_angle(converted.pose.global_orient),
                ),
                hand_pose: converted.pose.hand_pose,
            },
            wrist_translation: (world_from_source * converted.wrist).to_array(),
        });
    }
    HandTrack::new(side, betas, WristFrame::World, keyframes)
        .map_err(|e| ActionFileError::track(path, key, e))
}
