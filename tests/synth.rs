//! `handtwin synth`: determinism, alignment of the three streams, the held-out split rule, and the command's
//! refusal to write into a non-empty folder. Small clips (48×32, 9 frames) keep it quick on lavapipe.
// Synth renders its clips through Bevy: these tests need the `render` feature (default on).
#![cfg(feature = "render")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use handtwin::hand::HandModels;
use handtwin::streams::{InteractionStreams, StreamRenderer};
use handtwin::synth::render::{generate, plan, render_clip};
use handtwin::synth::{Behaviour, Split, SynthConfig, Timing, is_held_out};
use handtwin::video::Frames;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[path = "common/cli.rs"]
mod cli;

/// Renderers are heavy; run one at a time.
static GPU: Mutex<()> = Mutex::new(());

fn small() -> SynthConfig {
    SynthConfig {
        width: 48,
        height: 32,
        frame_count: 9,
        fps: 8.0,
        ..SynthConfig::default()
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_gives_byte_identical_files() {
    let _gpu = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let config = small();
    let manifest = generate(a.path(), 11, 2, Split::Train, &config, &mut |_, _| {}).unwrap();
    generate(b.path(), 11, 2, Split::Train, &config, &mut |_, _| {}).unwrap();
    assert_eq!(manifest.clips.len(), 2);
    let files = files_under(a.path());
    assert_eq!(files, files_under(b.path()));
    // Five files per clip plus the manifest, and nothing temporary left behind.
    assert_eq!(files.len(), 2 * 5 + 1, "{files:?}");
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(
            !name.starts_with('.'),
            "temporary file left: {}",
            file.display()
        );
        assert_eq!(
            std::fs::read(a.path().join(file)).unwrap(),
            std::fs::read(b.path().join(file)).unwrap(),
            "{} differs between two runs of the same seed",
            file.display()
        );
    }
    for clip in &manifest.clips {
        let prompt = std::fs::read_to_string(
            a.path()
                .join("prompts_rewrite")
                .join(format!("{}.txt", clip.stem)),
        )
        .unwrap();
        assert_eq!(prompt.trim(), clip.prompt);
        let action = handtwin::action::Action::load(
            &a.path().join("actions").join(format!("{}.json", clip.stem)),
        )
        .unwrap();
        assert_eq!(action.frame_count, 9);
        let video = handtwin::video::read_video(
            &a.path().join("videos").join(format!("{}.mp4", clip.stem)),
        )
        .unwrap();
        assert_eq!(
            (video.width(), video.height(), video.frame_count()),
            (48, 32, 9)
        );
    }
}

/// Where the hand stream is not black, grown by one pixel (the skin hands are anti-aliased, the hand stream is
/// not).
fn hand_mask(hands: &Frames, frame: usize) -> Vec<bool> {
    let (w, h) = (hands.width() as i64, hands.height() as i64);
    let mut mask = vec![false; (w * h) as usize];
    for y in 0..h {
        for x in 0..w {
            if hands.pixel(frame, x as u32, y as u32).unwrap() != [0, 0, 0] {
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        let (nx, ny) = (x + dx, y + dy);
                        if (0..w).contains(&nx) && (0..h).contains(&ny) {
                            mask[(ny * w + nx) as usize] = true;
                        }
                    }
                }
            }
        }
    }
    mask
}

fn max_difference(a: &Frames, b: &Frames, frame: usize, x: u32, y: u32) -> u8 {
    let (p, q) = (a.pixel(frame, x, y).unwrap(), b.pixel(frame, x, y).unwrap());
    (0..3).map(|c| p[c].abs_diff(q[c])).max().unwrap()
}

/// (pixels outside the hand mask that differ by more than `threshold`, the largest such difference)
fn differences_outside_hands(
    streams: &InteractionStreams,
    frame: usize,
    threshold: u8,
) -> (usize, u8) {
    let mask = hand_mask(&streams.hand_video, frame);
    let (w, h) = (streams.interaction.width(), streams.interaction.height());
    let mut count = 0;
    let mut largest = 0;
    for y in 0..h {
        for x in 0..w {
            if mask[(y * w + x) as usize] {
                continue;
            }
            let d = max_difference(&streams.interaction, &streams.static_video, frame, x, y);
            largest = largest.max(d);
            if d > threshold {
                count += 1;
            }
        }
    }
    (count, largest)
}

#[test]
fn static_interaction_and_hand_streams_align() {
    let _gpu = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let config = small();
    // A clip with a moving camera (strict: every frame's static view is rendered anew) and a large motion.
    let moving = (0..64)
        .map(|i| plan(5, i, Split::Train, &config).unwrap())
        .find(|p| !p.fixed_camera && p.behaviour != Behaviour::Push)
        .unwrap();
    let models = HandModels::bundled().unwrap();
    let mut renderer = StreamRenderer::new(None).unwrap();

    // 1. Nothing moves: interaction = static wherever no hand is, and hands show where the hand stream does.
    let mut frozen = moving.clone();
    for frame in &mut frozen.moved_parts {
        frame.clear();
    }
    let streams = render_clip(&mut renderer, &models, &frozen).unwrap();
    let hands = frozen
        .action
        .hand_meshes(&models, frozen.action.frame_count, frozen.action.fps)
        .unwrap();
    let cameras = frozen.camera_frames();
    let mut hand_pixels = 0;
    let mut changed_hand_pixels = 0;
    for frame in 0..9 {
        let (count, largest) = differences_outside_hands(&streams, frame, 2);
        assert_eq!(
            count, 0,
            "frame {frame}: static and interaction differ by up to {largest} away from the hands"
        );
        // The hand stream is non-black exactly where hand meshes project: inside their projected bounds, and
        // at (almost) every projected vertex.
        let k = cameras[frame].intrinsics;
        let mut inside = 0;
        let mut total = 0;
        let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
        for hand in &hands[frame] {
            for v in hand.vertices() {
                let Some([px, py]) = k.project(*v) else {
                    continue;
                };
                lo = [lo[0].min(px), lo[1].min(py)];
                hi = [hi[0].max(px), hi[1].max(py)];
                let (x, y) = (px.floor() as i64, py.floor() as i64);
                if (0..48).contains(&x) && (0..32).contains(&y) {
                    total += 1;
                    // Within a pixel: a vertex on the silhouette can fall on a pixel whose centre is outside.
                    let near = (-1..=1).any(|dy| {
                        (-1..=1).any(|dx| {
                            let (nx, ny) = (x + dx, y + dy);
                            (0..48).contains(&nx)
                                && (0..32).contains(&ny)
                                && streams
                                    .hand_video
                                    .pixel(frame, nx as u32, ny as u32)
                                    .unwrap()
                                    != [0, 0, 0]
                        })
                    });
                    if near {
                        inside += 1;
                    }
                }
            }
        }
        assert!(total > 0, "frame {frame}: no hand in view");
        assert!(
            inside as f64 >= 0.98 * total as f64,
            "frame {frame}: {inside}/{total} hand vertices land on hand pixels"
        );
        for y in 0..32u32 {
            for x in 0..48u32 {
                let pixel = streams.hand_video.pixel(frame, x, y).unwrap();
                if pixel == [0, 0, 0] {
                    continue;
                }
                let (cx, cy) = (x as f32 + 0.5, y as f32 + 0.5);
                assert!(
                    cx >= lo[0] - 1.0
                        && cx <= hi[0] + 1.0
                        && cy >= lo[1] - 1.0
                        && cy <= hi[1] + 1.0,
                    "frame {frame}: hand pixel ({x}, {y}) outside the hands' projection"
                );
                hand_pixels += 1;
                if max_difference(&streams.interaction, &streams.static_video, frame, x, y) > 6 {
                    changed_hand_pixels += 1;
                }
            }
        }
    }
    assert!(
        changed_hand_pixels as f64 >= 0.7 * hand_pixels as f64,
        "skin hands show in only {changed_hand_pixels} of {hand_pixels} hand pixels"
    );

    // 2. The real clip: identical away from the hands before the object moves, different after.
    let streams = render_clip(&mut renderer, &models, &moving).unwrap();
    let first_move = moving
        .moved_parts
        .iter()
        .position(|parts| !parts.is_empty())
        .unwrap();
    for frame in 0..first_move {
        let (count, largest) = differences_outside_hands(&streams, frame, 2);
        assert_eq!(
            count, 0,
            "frame {frame} (before any motion) differs by up to {largest}"
        );
    }
    let (count, _) = differences_outside_hands(&streams, 8, 20);
    assert!(
        count >= 10,
        "{:?} moved but only {count} pixels changed away from the hands",
        moving.behaviour
    );

    // 3. A fixed-camera clip's static video is its first frame repeated.
    let fixed = (0..64)
        .map(|i| plan(5, i, Split::Train, &config).unwrap())
        .find(|p| p.fixed_camera)
        .unwrap();
    let streams = render_clip(&mut renderer, &models, &fixed).unwrap();
    let first = streams.static_video.frame(0).unwrap().to_vec();
    for frame in 1..9 {
        assert_eq!(streams.static_video.frame(frame).unwrap(), first.as_slice());
    }
}

#[test]
fn held_out_split_rule() {
    let config = small();
    for i in 0..60 {
        let train = plan(3, i, Split::Train, &config).unwrap();
        assert!(!is_held_out(train.room_style, train.object_kind.index()));
        let held = plan(3, i, Split::Heldout, &config).unwrap();
        assert!(is_held_out(held.room_style, held.object_kind.index()));
        assert!(!held.prompt.is_empty() && held.prompt.ends_with('.'));
    }
    // A clip is reproducible alone: planning it again gives the same clip.
    let again = plan(3, 17, Split::Train, &config).unwrap();
    assert_eq!(
        again.action,
        plan(3, 17, Split::Train, &config).unwrap().action
    );
}

#[test]
fn refuses_a_non_empty_folder_without_force() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), "user data").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(["synth", "--clips", "1", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not empty") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
        "user data"
    );
}

#[test]
fn varied_timing_moves_only_the_clock() {
    let scripted = SynthConfig {
        frame_count: 17,
        ..small()
    };
    let varied = SynthConfig {
        timing: Timing::Varied,
        ..scripted
    };
    let seconds = (scripted.frame_count - 1) as f64 / scripted.fps;
    let first_moving_frame = |plan: &handtwin::synth::ClipPlan| {
        plan.moved_parts
            .iter()
            .position(|parts| !parts.is_empty())
            .expect("the target moves")
    };
    let (mut earliest, mut latest) = (f64::MAX, f64::MIN);
    let mut first_frames = std::collections::BTreeSet::new();
    for i in 0..40 {
        let a = plan(5, i, Split::Train, &scripted).unwrap();
        let b = plan(5, i, Split::Train, &varied).unwrap();
        // Same clip otherwise: room, object, behaviour, prompt, camera path, skin.
        assert_eq!(
            (a.room_style, a.object_kind, a.behaviour, &a.prompt),
            (b.room_style, b.object_kind, b.behaviour, &b.prompt)
        );
        assert_eq!(a.action.camera, b.action.camera);
        assert_eq!(a.skin_color, b.skin_color);
        let fraction = a.grasp_seconds / seconds;
        assert!(
            (0.299..=0.401).contains(&fraction),
            "scripted grasp at {fraction}"
        );
        let fraction = b.grasp_seconds / seconds;
        assert!(
            (0.149..=0.501).contains(&fraction),
            "varied grasp at {fraction}"
        );
        assert!(b.moved_seconds > b.grasp_seconds && b.moved_seconds <= 0.9 * seconds + 1e-3);
        earliest = earliest.min(fraction);
        latest = latest.max(fraction);
        // Nothing moves before the hand has hold of it.
        for plan in [&a, &b] {
            let first = first_moving_frame(plan) as f64 / plan.action.fps;
            assert!(
                first > plan.grasp_seconds,
                "{}: moved at {first} s",
                plan.stem
            );
        }
        first_frames.insert(first_moving_frame(&b));
    }
    assert!(
        earliest < 0.22 && latest > 0.43,
        "varied grasps span only {earliest}..{latest}"
    );
    assert!(first_frames.len() >= 4, "{first_frames:?}");
}

#[test]
fn variants_share_the_room_and_differ_only_in_the_hands() {
    let _gpu = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let one = SynthConfig {
        timing: Timing::Varied,
        ..small()
    };
    let three = SynthConfig { variants: 3, ..one };
    // Scripted timing with several variants would make the same clip K times: refused.
    let scripted = SynthConfig {
        timing: Timing::Scripted,
        ..three
    };
    assert!(scripted.check().is_err() && plan(5, 0, Split::Train, &scripted).is_err());
    assert!(SynthConfig { variants: 0, ..one }.check().is_err());

    // A room with a moving camera, so every frame of the static video is rendered anew.
    let room = (0..20)
        .find(|&r| !plan(5, r, Split::Train, &one).unwrap().fixed_camera)
        .unwrap();
    let plans: Vec<_> = (3 * room..3 * room + 3)
        .map(|i| plan(5, i, Split::Train, &three).unwrap())
        .collect();
    // Variant 0 of a room is that room's clip in a one-variant run.
    let single = plan(5, room, Split::Train, &one).unwrap();
    assert_eq!(plans[0].seed, single.seed);
    assert_eq!(plans[0].grasp_seconds, single.grasp_seconds);
    assert_eq!(plans[0].action, single.action);
    for (v, p) in plans.iter().enumerate() {
        assert_eq!(p.variant, v);
        assert_eq!(p.stem, format!("synth_s5_{:05}", 3 * room + v));
        assert_eq!(
            (
                p.seed,
                p.room_style,
                &p.prompt,
                &p.action.camera,
                p.skin_color
            ),
            (
                plans[0].seed,
                plans[0].room_style,
                &plans[0].prompt,
                &plans[0].action.camera,
                plans[0].skin_color
            )
        );
    }
    let grasps: std::collections::BTreeSet<_> =
        plans.iter().map(|p| p.grasp_seconds.to_bits()).collect();
    assert_eq!(grasps.len(), 3, "the variants share a clock");

    // Rendered one after another, the variants' static videos are the same; their hand videos are not.
    // "The same" allows a handful of bytes off by a few levels: a clip rendered after other clips can differ in a
    // few silhouette pixels (ARCHITECTURE.md, "Renderer jitter"; seen at 96×64: up to 134 of 313,344 bytes, at
    // most 7 levels), which no model can read a clock from.
    let models = HandModels::bundled().unwrap();
    let mut renderer = StreamRenderer::new(None).unwrap();
    let streams: Vec<InteractionStreams> = plans
        .iter()
        .map(|p| render_clip(&mut renderer, &models, p).unwrap())
        .collect();
    let base = streams[0].static_video.as_bytes();
    for (v, s) in streams.iter().enumerate().skip(1) {
        let other = s.static_video.as_bytes();
        assert_eq!(other.len(), base.len());
        let differing = base.iter().zip(other).filter(|(a, b)| a != b).count();
        let largest = base
            .iter()
            .zip(other)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap_or(0);
        assert!(
            differing * 1000 <= base.len() && largest <= 8,
            "variant {v}'s static video differs from variant 0's in {differing} bytes (up to {largest})"
        );
        assert!(s.hand_video != streams[0].hand_video);
    }
}

#[test]
fn refuses_variants_it_cannot_make_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("clips");
    for (args, expected) in [
        (
            &["--clips", "2", "--variants", "2"][..],
            "need varied timing",
        ),
        (
            &["--clips", "2", "--variants", "0", "--timing", "varied"][..],
            "at least 1",
        ),
        (
            &["--clips", "4", "--variants", "3", "--timing", "varied"][..],
            "not a multiple of --variants 3",
        ),
        (
            &["--clips", "4", "--alternatives", "3"][..],
            "not a multiple of --alternatives 3",
        ),
    ] {
        let out_arg = out.to_str().unwrap();
        cli::assert_refused_before_writing(&["synth", "--out", out_arg], args, expected, &out);
    }
}

#[test]
fn alternatives_share_the_room_and_camera_and_end_differently() {
    let _gpu = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let one = small();
    let three = SynthConfig {
        alternatives: 3,
        ..one
    };
    assert!(
        SynthConfig {
            alternatives: 0,
            ..one
        }
        .check()
        .is_err()
    );
    assert!(
        SynthConfig {
            variants: 2,
            timing: Timing::Varied,
            ..three
        }
        .check()
        .is_err()
    );
    let mut behaviours_seen = std::collections::BTreeSet::new();
    for room in 0..24 {
        let plans: Vec<_> = (3 * room..3 * room + 3)
            .map(|i| plan(9, i, Split::Heldout, &three).unwrap())
            .collect();
        // Alternative 0 is the room's clip of a one-alternative run.
        let single = plan(9, room, Split::Heldout, &one).unwrap();
        assert_eq!(plans[0].action, single.action);
        assert_eq!(plans[0].prompt, single.prompt);
        for (a, p) in plans.iter().enumerate() {
            assert_eq!(p.alternative, a);
            assert_eq!(p.variant, 0);
            assert_eq!(
                (p.seed, p.room_style, p.fixed_camera, &p.action.camera),
                (
                    plans[0].seed,
                    plans[0].room_style,
                    plans[0].fixed_camera,
                    &plans[0].action.camera
                ),
                "room {room}: alternative {a} left the room or the camera path"
            );
            behaviours_seen.insert(format!("{:?}", p.behaviour));
        }
        // Every alternative ends in its own state: another part moved, or the same part elsewhere.
        let finals: Vec<_> = plans
            .iter()
            .map(|p| format!("{:?}", p.moved_parts.last().unwrap()))
            .collect();
        for a in 0..3 {
            for b in a + 1..3 {
                assert_ne!(
                    (&finals[a], &plans[a].prompt),
                    (&finals[b], &plans[b].prompt),
                    "room {room}: alternatives {a} and {b} end the same"
                );
            }
        }
    }
    assert!(behaviours_seen.len() >= 3, "{behaviours_seen:?}");

    // Rendered, the alternatives' static videos agree (up to renderer jitter) and their final true frames do not.
    let room = (0..20)
        .find(|&r| {
            plan(9, 3 * r, Split::Heldout, &three).unwrap().behaviour == Behaviour::PullDrawer
        })
        .unwrap();
    let models = HandModels::bundled().unwrap();
    let mut renderer = StreamRenderer::new(None).unwrap();
    let streams: Vec<InteractionStreams> = (3 * room..3 * room + 3)
        .map(|i| {
            let p = plan(9, i, Split::Heldout, &three).unwrap();
            render_clip(&mut renderer, &models, &p).unwrap()
        })
        .collect();
    let last = |f: &Frames| f.frame(f.frame_count() - 1).unwrap().to_vec();
    for s in &streams[1..] {
        let base = streams[0].static_video.as_bytes();
        let differing = base
            .iter()
            .zip(s.static_video.as_bytes())
            .filter(|(a, b)| a.abs_diff(**b) > 8)
            .count();
        assert!(differing * 1000 <= base.len(), "{differing} bytes differ");
        let (x, y) = (last(&streams[0].interaction), last(&s.interaction));
        let changed = x
            .iter()
            .zip(&y)
            .filter(|(a, b)| a.abs_diff(**b) > 16)
            .count();
        assert!(
            changed > x.len() / 100,
            "final frames differ in only {changed} bytes"
        );
    }
}
