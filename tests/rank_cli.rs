//! `handtwin rank` end to end with the bundled tiny DWM on hand-made samples: the ranked table, rank.json, the
//! contact sheet, the cache (a second run with one more candidate generates only that one), the refusals that
//! name the file, and `--benchmark` on a folder with a synth manifest, whose oracle and static rows are known.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use handtwin::video::{Ffmpeg, SampleWriteOptions};

#[path = "common/sample.rs"]
mod common_sample;

use common_sample::{alternatives_manifest, sample};
use std::path::Path;
use std::process::{Command, Output};

fn handtwin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn refused(args: &[&str], expected: &str) {
    let output = handtwin(args);
    assert!(!output.status.success(), "{args:?} was accepted");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn rank_ranks_caches_refuses_and_benchmarks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ffmpeg = Ffmpeg::from_env();
    let rooms = [
        ("r0a", 0, 0, 8),
        ("r0b", 0, 1, 24),
        ("r1a", 1, 0, 12),
        ("r1b", 1, 1, 20),
    ];
    let mut clips = Vec::new();
    for (index, (stem, room, alternative, shift)) in rooms.into_iter().enumerate() {
        sample(stem, room, shift)
            .write(&data, &SampleWriteOptions::default(), &ffmpeg)
            .unwrap();
        clips.push((stem, index, 100 + room as u64, alternative));
    }
    std::fs::write(data.join("synth.json"), alternatives_manifest(&clips)).unwrap();
    let out = dir.path().join("ranked");
    let goal = data.join("videos").join("r0b.mp4");
    let common = ["--steps", "2", "--seeds", "2", "--out", s(&out)];

    // One candidate, then two: the second run generates only the new one's two seeds.
    let first = ok(&handtwin(
        &[
            &["rank", s(&data.join("r0a")), "--goal", s(&goal)][..],
            &common[..],
        ]
        .concat(),
    ));
    assert!(first.contains("(2 to generate, 0 cached)"), "{first}");
    let second = ok(&handtwin(
        &[
            &[
                "rank",
                s(&data.join("r0a")),
                s(&data.join("r0b")),
                "--goal",
                s(&goal),
            ][..],
            &common[..],
        ]
        .concat(),
    ));
    assert!(second.contains("(2 to generate, 2 cached)"), "{second}");
    assert!(second.contains("2 generated, 2 from the cache"), "{second}");
    assert_eq!(std::fs::read_dir(out.join("cache")).unwrap().count(), 4);
    let rank: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("rank.json")).unwrap()).unwrap();
    assert_eq!(rank["format"], "handtwin.rank");
    let candidates = rank["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 2);
    for (place, c) in candidates.iter().enumerate() {
        assert_eq!(c["rank"], place + 1);
        assert_eq!(c["seeds"].as_array().unwrap().len(), 2);
        let lpips = c["lpips"].as_f64().unwrap();
        assert!(lpips.is_finite() && lpips > 0.0);
        assert!((c["score"].as_f64().unwrap() + lpips).abs() < 1e-12);
    }
    assert!(candidates[0]["lpips"].as_f64() <= candidates[1]["lpips"].as_f64());
    let sheet = image::open(out.join("contact_sheet.png")).unwrap();
    assert!(sheet.width() > 2 * 160 && sheet.height() > 3 * 100);

    // Refusals that name the file.
    let tiny = dir.path().join("tiny.png");
    image::RgbImage::new(10, 10).save(&tiny).unwrap();
    refused(
        &[
            &["rank", s(&data.join("r0a")), "--goal", s(&tiny)][..],
            &common[..],
        ]
        .concat(),
        "tiny.png: the goal is 10×10 but the candidates' videos are 96×64",
    );
    refused(
        &[
            &[
                "rank",
                s(&data.join("r0a")),
                s(&data.join("r1a")),
                "--goal",
                s(&goal),
            ][..],
            &common[..],
        ]
        .concat(),
        "are on different static videos",
    );
    refused(
        &[
            &[
                "rank",
                s(&data.join("r0a")),
                "--goal",
                s(&goal),
                "--goal-frame",
                "9",
            ][..],
            &common[..],
        ]
        .concat(),
        "r0b.mp4: has 9 frames, so --goal-frame 9 is past its end",
    );
    refused(
        &[&["rank", "--goal", s(&goal)][..], &common[..]].concat(),
        "required",
    );

    // Sharded over two "machines" with a shared cache: each simulates half, then the plain command only ranks.
    let shared = dir.path().join("shared-cache");
    let (r0a, r0b) = (data.join("r0a"), data.join("r0b"));
    let two = [
        "rank",
        s(&r0a),
        s(&r0b),
        "--goal",
        s(&goal),
        "--cache",
        s(&shared),
    ];
    for shard in ["1/2", "2/2"] {
        let done = ok(&handtwin(
            &[&two[..], &common[..], &["--shard", shard]].concat(),
        ));
        assert!(
            done.contains(&format!(
                "shard {shard}: 2 of 4 simulations are this shard's (2 generated"
            )),
            "{done}"
        );
    }
    let merged = ok(&handtwin(&[&two[..], &common[..]].concat()));
    assert!(merged.contains("(0 to generate, 4 cached)"), "{merged}");
    refused(
        &[&two[..], &common[..], &["--shard", "3/2"]].concat(),
        "is not a shard I/N",
    );

    // The benchmark: the oracle is always right, the static copy always at chance.
    let bench = dir.path().join("bench");
    let report = ok(&handtwin(&[
        "rank",
        "--benchmark",
        s(&data),
        "--out",
        s(&bench),
        "--steps",
        "2",
        "--seeds",
        "1",
    ]));
    for line in [
        "oracle (the true videos): top-1 4/4 (100%), mean rank 1.00, chance 50%",
        "static video copied: top-1 2/4 (50%), mean rank 1.50, chance 50%",
        "goal region objects",
    ] {
        assert!(report.contains(line), "{line}\n{report}");
    }
    assert!(report.contains("  model: top-1 "), "{report}");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bench.join("benchmark.json")).unwrap())
            .unwrap();
    assert_eq!(file["rooms"], 2);
    assert_eq!(file["goals"].as_array().unwrap().len(), 2 * 2 * 2);
}

/// On clips `handtwin synth --alternatives` renders: the benchmark runs end to end, the oracle finds every goal and
/// the static copy stays at chance.
#[cfg(feature = "render")]
#[test]
fn benchmark_on_synthetic_alternatives() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("alternatives");
    ok(&handtwin(&[
        "synth",
        "--out",
        s(&data),
        "--clips",
        "2",
        "--alternatives",
        "2",
        "--seed",
        "5",
        "--split",
        "heldout",
        "--frames",
        "9",
    ]));
    let out = dir.path().join("bench");
    let report = ok(&handtwin(&[
        "rank",
        "--benchmark",
        s(&data),
        "--out",
        s(&out),
        "--steps",
        "1",
        "--seeds",
        "1",
    ]));
    for line in [
        "benchmark: 1 rooms, 2 clips × 1 seeds (2 to generate)",
        "oracle (the true videos): top-1 2/2 (100%), mean rank 1.00, chance 50%",
        "static video copied: top-1 1/2 (50%), mean rank 1.50, chance 50%",
    ] {
        assert!(report.contains(line), "{line}\n{report}");
    }
    // Everything is cached now.
    let again = ok(&handtwin(&[
        "rank",
        "--benchmark",
        s(&data),
        "--out",
        s(&out),
        "--steps",
        "1",
        "--seeds",
        "1",
    ]));
    assert!(again.contains("(0 to generate)"), "{again}");

    // The search benchmark on the same clips: shard 1 of 2 runs the first goal, then the plain command runs the
    // second and prints the summary over both.
    let searched = dir.path().join("search");
    let search = |shard: Option<&str>| {
        let mut args = vec![
            "search",
            "--benchmark",
            s(&data),
            "--out",
            s(&searched),
            "--steps",
            "1",
            "--budget",
            "2",
            "--population",
            "2",
        ];
        if let Some(shard) = shard {
            args.extend(["--shard", shard]);
        }
        ok(&handtwin(&args))
    };
    let first = search(Some("1/2"));
    assert!(
        first.contains("2 goals (1 to run as shard 1/2)")
            && first.contains("1 of 2 goals are done"),
        "{first}"
    );
    let summary = search(None);
    assert!(summary.contains("2 goals (1 to run)"), "{summary}");
    for line in [
        "start (another alternative)                 0%",
        "true action, fitted                       100%",
        "search (CEM)",
        "fixed design (Halton)",
        "true action (its hand video)",
    ] {
        assert!(summary.contains(line), "{line}\n{summary}");
    }
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(searched.join("search_benchmark.json")).unwrap(),
    )
    .unwrap();
    let goals = file["goals"].as_array().unwrap();
    assert_eq!(goals.len(), 2);
    for goal in goals {
        assert_ne!(goal["goal"], goal["start"]);
        assert_eq!(
            goal["parameters"]["search (CEM)"].as_array().unwrap().len(),
            7
        );
        assert!(goal["lpips"]["search (CEM)"].as_f64().unwrap() > 0.0);
    }
}
