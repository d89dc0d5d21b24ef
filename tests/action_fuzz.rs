//! Property tests for every action parser: random bytes and mutations of valid files must give `Ok` or a clear
//! error naming the file — never a panic — and whatever parses must sample to finite, rigid cameras and hands.
//!
//! A third of the cases change one node of a valid JSON seed (structure-aware), the rest mutate bytes or are
//! random. Cases per parser: `HANDTWIN_FUZZ_CASES` (default 3000, so `cargo test` stays quick); long runs set it to
//! 100000. The seed is `HANDTWIN_FUZZ_SEED` (default fixed) so a failure can be replayed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use handtwin::action::import::{SourceUp, aria, colmap, hands, nerfstudio};
use handtwin::action::{Action, CameraPath, DenseCameraPath, HandTrack, Project};
use handtwin::hand::Side;
use std::path::Path;

#[path = "common/fuzz.rs"]
mod fuzz_common;

use fuzz_common::Rng;

const TOKENS: &[&str] = &[
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e39",
    "-1e39",
    "1e-45",
    "0",
    "-0",
    "-1",
    "1",
    "2",
    "1e308",
    "18446744073709551616",
    ",",
    ",,",
    "[",
    "]",
    "{",
    "}",
    "\"",
    ":",
    "\n",
    "\r\n",
    " ",
    "#",
    "null",
    "true",
    "[]",
    "{}",
    "\"0\"",
    "\"1\"",
    "0.7071068",
    "-0.5",
    "\u{feff}",
    "é",
    "\0",
];

fn mutate(rng: &mut Rng, base: &str) -> String {
    let mut bytes = base.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] = rng.next() as u8;
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            2 if !bytes.is_empty() => {
                let end = (at + 1 + rng.below(12)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            3 if !bytes.is_empty() => {
                // Replace a number-ish run with a token.
                let end = (at + 1 + rng.below(6)).min(bytes.len());
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at.min(end)..end, token.iter().copied());
            }
            4 if !bytes.is_empty() => {
                let start = rng.below(bytes.len());
                let end = (start + 1 + rng.below(40)).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                bytes.splice(at..at, copy);
            }
            _ => bytes.truncate(at),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn count_nodes(value: &serde_json::Value) -> usize {
    1 + match value {
        serde_json::Value::Array(items) => items.iter().map(count_nodes).sum(),
        serde_json::Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Structure-aware: changes one node of valid JSON (a number to an extreme, a type swap, a dropped key, a
/// shortened, reordered or duplicated array), so the semantic checks — not just the JSON syntax — get exercised.
fn mutate_node(rng: &mut Rng, value: &mut serde_json::Value, target: &mut usize) {
    use serde_json::{Value, json};
    if *target == 0 {
        *target = usize::MAX;
        let replacements = [
            json!(0),
            json!(-1),
            json!(1e30),
            json!(-1e30),
            json!(1e-40),
            json!(3.0e38),
            json!(1e300),
            json!(0.5),
            json!(2),
            json!(-0.0),
            json!(u64::MAX),
            json!(i64::MIN),
            json!("1"),
            json!(null),
            json!([]),
            json!({}),
            json!([1, 2, 3]),
            json!(true),
        ];
        match (rng.below(4), &mut *value) {
            (0, Value::Array(items)) if !items.is_empty() => {
                let (a, b) = (rng.below(items.len()), rng.below(items.len()));
                items.swap(a, b);
            }
            (1, Value::Array(items)) if !items.is_empty() => {
                let i = rng.below(items.len());
                if rng.below(2) == 0 {
                    items.remove(i);
                } else {
                    let copy = items[i].clone();
                    items.insert(i, copy);
                }
            }
            (2, Value::Object(map)) if !map.is_empty() => {
                let key = map
                    .keys()
                    .nth(rng.below(map.len()))
                    .cloned()
                    .unwrap_or_default();
                map.remove(&key);
            }
            _ => *value = replacements[rng.below(replacements.len())].clone(),
        }
        return;
    }
    *target -= 1;
    match value {
        Value::Array(items) => {
            for item in items {
                if *target == usize::MAX {
                    return;
                }
                mutate_node(rng, item, target);
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                if *target == usize::MAX {
                    return;
                }
                mutate_node(rng, item, target);
            }
        }
        _ => {}
    }
}

fn mutate_json(rng: &mut Rng, text: &str) -> Option<String> {
    let mut lines: Vec<serde_json::Value> = Vec::new();
    // JSON or JSON lines.
    match serde_json::from_str(text) {
        Ok(value) => lines.push(value),
        Err(_) => {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                lines.push(serde_json::from_str(line).ok()?);
            }
        }
    }
    let line = rng.below(lines.len());
    for _ in 0..1 + rng.below(3) {
        let mut target = rng.below(count_nodes(&lines[line]));
        mutate_node(rng, &mut lines[line], &mut target);
    }
    Some(
        lines
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

fn random_text(rng: &mut Rng) -> String {
    let len = rng.below(200);
    if rng.below(2) == 0 {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        (0..len / 4)
            .map(|_| TOKENS[rng.below(TOKENS.len())])
            .collect()
    }
}

fn check_camera(camera: &CameraPath) {
    let (start, end) = camera.time_range();
    for t in [start - 1.0, start, (start + end) * 0.5, end, end + 1.0] {
        let frame = camera.sample(t);
        assert!(
            frame.world_from_camera.is_finite(),
            "non-finite camera at {t}"
        );
        let (_, rotation, _) = frame.world_from_camera.to_scale_rotation_translation();
        assert!((rotation.length() - 1.0).abs() < 1e-3);
        assert!(
            frame.intrinsics.fx > 0.0 && frame.intrinsics.fy > 0.0 && frame.intrinsics.width > 0
        );
    }
}

fn check_hand(track: &HandTrack) {
    let times: Vec<f64> = track.keyframes().iter().map(|k| k.time).collect();
    for &t in times.iter().take(3) {
        let sample = track.sample(t + 0.01);
        assert!(sample.frame_from_hand.is_finite());
        assert!(
            sample
                .pose
                .hand_pose
                .iter()
                .flatten()
                .all(|v| v.is_finite())
        );
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/action")
            .join(name),
    )
    .unwrap()
}

fn example_action() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/examples/reach_for_mug.action.json"),
    )
    .unwrap()
}

/// Runs `parse` on `cases` inputs (half mutations of `seeds`, half random), counting outcomes.
fn fuzz(name: &str, seeds: &[String], parse: impl Fn(&str) -> Result<(), String>) {
    let cases = fuzz_common::env_or("HANDTWIN_FUZZ_CASES", 3000) as usize;
    let seed = fuzz_common::env_or("HANDTWIN_FUZZ_SEED", 0x9e37_79b9_7f4a_7c15);
    let mut rng = Rng(seed ^ name.len() as u64 ^ 0x5555);
    let (mut accepted, mut rejected) = (0usize, 0usize);
    for seed_text in seeds {
        parse(seed_text).unwrap_or_else(|e| panic!("{name}: the valid seed does not parse: {e}"));
    }
    for case in 0..cases {
        let structured = if case % 3 == 2 {
            {
                let which = rng.below(seeds.len());
                mutate_json(&mut rng, &seeds[which])
            }
        } else {
            None
        };
        let text = if let Some(text) = structured {
            text
        } else if case % 2 == 0 {
            let base = &seeds[rng.below(seeds.len())];
            let mut text = mutate(&mut rng, base);
            if rng.below(4) == 0 {
                text = mutate(&mut rng, &text);
            }
            text
        } else {
            random_text(&mut rng)
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse(&text))) {
            Ok(Ok(())) => accepted += 1,
            Ok(Err(message)) => {
                assert!(
                    message.starts_with("input."),
                    "{name}: error does not name the file: {message}"
                );
                rejected += 1;
            }
            Err(_) => panic!("{name}: panicked on input {text:?}"),
        }
    }
    println!(
        "{name}: {cases} cases, {accepted} accepted, {rejected} rejected with an error, 0 panics"
    );
}

fn path() -> &'static Path {
    Path::new("input.txt")
}

#[test]
fn action_and_camera_path_files() {
    let dense = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/examples/pan_right.json"),
    )
    .unwrap();
    fuzz("action json", &[example_action(), dense.clone()], |text| {
        let action = Action::parse(text, path()).map_err(|e| e.to_string())?;
        check_camera(&action.camera);
        action.left.iter().chain(&action.right).for_each(check_hand);
        Ok(())
    });
    fuzz("camera_path json", &[dense], |text| {
        let dense = DenseCameraPath::parse(text, path()).map_err(|e| e.to_string())?;
        if let Ok(camera) = CameraPath::from_dense(&dense) {
            check_camera(&camera);
        }
        Ok(())
    });
}

#[test]
fn project_files() {
    let action = Action::parse(&example_action(), path()).unwrap();
    let project = Project {
        scene: None,
        actions: vec![handtwin::action::NamedAction {
            name: "a".into(),
            action,
        }],
        settings: Default::default(),
        candidates: Vec::new(),
        goal: None,
    };
    fuzz("project json", &[project.to_json()], |text| {
        let project = Project::parse(text, path()).map_err(|e| e.to_string())?;
        project
            .actions
            .iter()
            .for_each(|a| check_camera(&a.action.camera));
        Ok(())
    });
}

#[test]
fn aria_files() {
    let options = aria::AriaOptions::default();
    fuzz(
        "aria trajectory csv",
        &[fixture("aria_closed_loop_trajectory.csv")],
        |text| {
            check_camera(
                &aria::parse_trajectory(text, path(), &options).map_err(|e| e.to_string())?,
            );
            Ok(())
        },
    );
    fuzz(
        "aria calibration json",
        &[fixture("aria_online_calibration.jsonl")],
        |text| {
            let pose = aria::parse_device_from_camera(text, path(), "camera-rgb")
                .map_err(|e| e.to_string())?;
            assert!(pose.is_finite());
            Ok(())
        },
    );
    fuzz(
        "aria extrinsic argument",
        &["0,0,0.05,0,0,0,1".to_string()],
        |text| {
            aria::parse_extrinsic(text)
                .map(|p| assert!(p.is_finite()))
                .map_err(|e| format!("input.: {e}"))
        },
    );
}

#[test]
fn nerfstudio_files() {
    fuzz(
        "nerfstudio transforms",
        &[fixture("nerfstudio_transforms.json")],
        |text| {
            check_camera(
                &nerfstudio::parse_transforms(text, path(), SourceUp::Z, 8.0)
                    .map_err(|e| e.to_string())?,
            );
            Ok(())
        },
    );
    fuzz(
        "nerfstudio camera_path",
        &[fixture("nerfstudio_camera_path.json")],
        |text| {
            check_camera(
                &nerfstudio::parse_camera_path(text, path(), SourceUp::Z)
                    .map_err(|e| e.to_string())?,
            );
            Ok(())
        },
    );
}

#[test]
fn colmap_files() {
    let cameras = colmap::parse_cameras(&fixture("colmap_cameras.txt"), path()).unwrap();
    fuzz(
        "colmap cameras.txt",
        &[fixture("colmap_cameras.txt")],
        |text| {
            colmap::parse_cameras(text, path())
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    );
    fuzz(
        "colmap images.txt",
        &[fixture("colmap_images.txt")],
        |text| {
            check_camera(
                &colmap::parse_images(text, path(), &cameras, SourceUp::Y, 8.0)
                    .map_err(|e| e.to_string())?,
            );
            Ok(())
        },
    );
}

#[test]
fn hand_files() {
    fuzz("hamer json", &[fixture("hamer_frames.json")], |text| {
        check_hand(&hands::parse_hamer(text, path(), Side::Right, 8.0).map_err(|e| e.to_string())?);
        Ok(())
    });
    let basis = |pca: &[f32]| -> Result<[[f32; 3]; 15], String> {
        let mut pose = [[0.0; 3]; 15];
        for (joint, c) in pose.iter_mut().zip(pca) {
            joint[0] = *c;
        }
        Ok(pose)
    };
    fuzz(
        "hot3d jsonl",
        &[fixture("hot3d_mano_hand_pose_trajectory.jsonl")],
        |text| {
            check_hand(
                &hands::parse_hot3d(text, path(), Side::Right, SourceUp::Z, &basis)
                    .map_err(|e| e.to_string())?,
            );
            Ok(())
        },
    );
}
