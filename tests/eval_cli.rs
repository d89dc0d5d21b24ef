//! `handtwin eval` end to end with the bundled tiny DWM on two small hand-made samples: the table has every row
//! (the model, the hand and swapped-hands ablations, the two baselines, the blur control, the ceiling, the sibling-truth oracles) with finite numbers, and the
//! comparison sheet is written.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use handtwin::video::{Ffmpeg, SampleWriteOptions};

#[path = "common/sample.rs"]
mod common_sample;

/// A grey room with a dark box (`common/sample.rs`, room 0).
fn sample(stem: &str, shift: usize) -> handtwin::video::DwmSample {
    common_sample::sample(stem, 0, shift)
}
use std::process::Command;

#[test]
fn eval_prints_every_row_and_writes_the_table_and_the_sheet() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ffmpeg = Ffmpeg::from_env();
    for (stem, shift) in [("a", 12), ("b", 20)] {
        sample(stem, shift)
            .write(&data, &SampleWriteOptions::default(), &ffmpeg)
            .unwrap();
    }
    // --swap-hands needs the synth manifest to know which clips share a room, and says so.
    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(["eval", "--swap-hands", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("synth.json"), "{stderr}");
    // The two samples share their static video and prompt: two variants of one room.
    std::fs::write(
        data.join("synth.json"),
        r#"{"clips": [{"stem": "a", "seed": 7, "variant": 0}, {"stem": "b", "seed": 7, "variant": 1}]}"#,
    )
    .unwrap();
    let table = dir.path().join("table.md");
    let sheet = dir.path().join("sheet.png");
    let per_clip = dir.path().join("clips.csv");
    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(["eval", "--data"])
        .arg(&data)
        .args(["--steps", "2", "--hand-ablation", "--swap-hands", "--table"])
        .arg(&table)
        .arg("--comparison")
        .arg(&sheet)
        .arg("--per-clip")
        .arg(&per_clip)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The bundled model was trained only from t = 900 up (its handtwin.json says so): two steps get a warning.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("trained only at timesteps from 900 up")
            && stderr.contains("use at most 1"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&table).unwrap();
    // The table, a blank line, then the sampler settings it was made with.
    let (table_text, settings) = text.split_once("\n\n").unwrap();
    assert!(settings.contains("· 2 steps · guidance 1 ·"), "{settings}");
    let rows: Vec<&str> = table_text.lines().skip(2).collect();
    let methods: Vec<&str> = rows
        .iter()
        .map(|row| row.split('|').nth(1).unwrap().trim())
        .collect();
    assert_eq!(
        methods,
        [
            "DWM tiny (tiny-dwm, 2 steps)",
            "DWM tiny (tiny-dwm, 2 steps), residual composite over the static video",
            "DWM tiny (tiny-dwm, 2 steps) given a black hand video (ablation)",
            "DWM tiny (tiny-dwm, 2 steps) given the hand video of another clip of the same room (ablation)",
            "static video copied",
            "static + hand-mesh pixels pasted",
            "static video through the model's VAE (its blur, no dynamics)",
            "(ceiling) the truth through the model's VAE and back",
            "(oracle) the truth of another clip of the same room",
            "(oracle) the truth of another clip of the same room through the model's VAE",
        ]
    );
    assert!(text.starts_with("| method (2 clips) |"), "{text}");
    for row in &rows {
        let numbers: Vec<f64> = row
            .split('|')
            .skip(2)
            .filter(|cell| !cell.trim().is_empty())
            .map(|cell| cell.trim().parse::<f64>().unwrap())
            .collect();
        // Six PSNR/SSIM cells, then LPIPS-alex over the frame, the interaction and the object region.
        assert_eq!(numbers.len(), 9, "{row}");
        assert!(numbers.iter().all(|v| v.is_finite()), "{row}");
        assert!(numbers[6..].iter().all(|v| (0.0..1.5).contains(v)), "{row}");
    }
    assert!(text.contains("| LPIPS-alex frame | LPIPS-alex interaction | LPIPS-alex object |"));
    // The static video misses what the interaction changed, so it is some distance from the truth there; the
    // hands pasted in change the interaction region's LPIPS.
    let lpips_of = |method: &str, column: usize| -> f64 {
        let row = rows
            .iter()
            .find(|r| r.split('|').nth(1).unwrap().trim() == method)
            .unwrap();
        row.split('|')
            .nth(2 + column)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert!(lpips_of("static video copied", 7) > 0.0);
    assert_ne!(
        lpips_of("static video copied", 7),
        lpips_of("static + hand-mesh pixels pasted", 7)
    );
    // One CSV row per clip: folder, stem, six scores, the sibling and its three response numbers (the truths of the
    // two clips differ where the box moved, so all are there).
    let csv = std::fs::read_to_string(&per_clip).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("folder,stem,psnr_frame,"), "{csv}");
    for (line, (stem, sibling)) in lines[1..].iter().zip([("a", "b"), ("b", "a")]) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 15, "{line}");
        assert_eq!((fields[1], fields[8]), (stem, sibling), "{line}");
        for field in fields[2..8].iter().chain(&fields[9..]) {
            assert!(field.parse::<f64>().unwrap().is_finite(), "{line}");
        }
    }
    // Under --swap-hands the sheet has nine columns (static | hands | generated | truth | truth through the VAE |
    // the sibling's hands | generated with them | the sibling's truth | the residual composite) of 240 pixels with
    // 4-pixel gaps, and one row per clip and frame (two clips, three frames; 96×64 cells scale to 240×160).
    let image = image::open(&sheet).unwrap();
    assert_eq!(
        (image.width(), image.height()),
        (9 * 240 + 8 * 4, 6 * 160 + 5 * 4)
    );
}

#[test]
fn the_dwm_protocol_says_how_to_get_the_vgg_weights() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    sample("a", 12)
        .write(&data, &SampleWriteOptions::default(), &Ffmpeg::from_env())
        .unwrap();
    let empty = dir.path().join("no-weights");
    std::fs::create_dir_all(&empty).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .env("HANDTWIN_LPIPS_DIR", &empty)
        .args([
            "eval",
            "--lpips",
            "none",
            "--protocol",
            "dwm",
            "--steps",
            "1",
            "--data",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("LPIPS-VGG") && stderr.contains("convert_lpips.py --net vgg"),
        "{stderr}"
    );
}

#[test]
fn eval_names_a_folder_without_samples() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(["eval", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no samples"), "{stderr}");
}
