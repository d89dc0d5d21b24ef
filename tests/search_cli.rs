//! `handtwin search` end to end at a small size with the bundled model: it writes the best action, the search's
//! state, the convergence plot and the contact sheet, and a second run with a larger budget resumes the first.
#![cfg(feature = "render")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use std::process::Command;

#[test]
fn search_writes_its_outputs_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let camera = root.join("assets/examples/reach_for_mug.action.json");
    let start = dir.path().join("start.json");
    std::fs::write(
        &start,
        r#"{"side": "right", "grasp_point": [0.05, 0.9, -1.0], "grasp_preset": "power_grasp",
            "approach_start": 0.2, "contact": 1.0,
            "motion": {"kind": "translate", "direction": [1.0, 0.0, 0.0], "distance": 0.1},
            "motion_seconds": 0.6, "release": false}"#,
    )
    .unwrap();
    let goal = dir.path().join("goal.png");
    image::RgbImage::from_pixel(96, 64, image::Rgb([120, 110, 100]))
        .save(&goal)
        .unwrap();
    let out = dir.path().join("search");
    let search = |budget: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
            .args(["search", "--goal"])
            .arg(&goal)
            .arg("--camera")
            .arg(&camera)
            .arg("--start")
            .arg(&start)
            .args([
                "--size",
                "96x64",
                "--frames",
                "9",
                "--population",
                "2",
                "--steps",
                "1",
            ])
            .args(["--budget", budget, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let first = search("4");
    assert!(first.contains("4 simulations"), "{first}");
    for file in [
        "search.json",
        "best.action.json",
        "convergence.png",
        "contact_sheet.png",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("search.json")).unwrap()).unwrap();
    assert_eq!(state["state"]["generation"], 2);
    assert_eq!(state["state"]["evaluated"].as_array().unwrap().len(), 4);
    // The best action is an ordinary action file.
    handtwin::action::Action::load(&out.join("best.action.json")).unwrap();
    // Resumed with a larger budget: one more generation, the first two kept.
    let second = search("6");
    assert!(
        second.contains("resuming") && second.contains("6 simulations"),
        "{second}"
    );
    let resumed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("search.json")).unwrap()).unwrap();
    assert_eq!(
        resumed["state"]["evaluated"][0],
        state["state"]["evaluated"][0]
    );
    assert_eq!(resumed["state"]["generation"], 3);
}

/// Two shards of one search, run at once against a shared cache, each simulate half of every generation, wait
/// for the other's half, and end with the same search; an action file as the start is fitted into parameters.
#[test]
fn sharded_searches_meet_in_the_cache_and_agree() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let camera =
        handtwin::action::Action::load(&root.join("assets/examples/reach_for_mug.action.json"))
            .unwrap()
            .camera;
    // A demo: reach, grasp, pull back 15 cm.
    let params: handtwin::action::ActionParams = serde_json::from_str(
        r#"{"side": "right", "grasp_point": [0.05, 0.9, -1.0], "grasp_preset": "power_grasp",
            "approach_start": 0.1, "contact": 0.5,
            "motion": {"kind": "translate", "direction": [0.0, 0.0, 1.0], "distance": 0.15},
            "motion_seconds": 0.375, "release": false}"#,
    )
    .unwrap();
    let start = dir.path().join("demo.action.json");
    params
        .build(&camera, 9, 8.0, "")
        .unwrap()
        .save(&start)
        .unwrap();
    let goal = dir.path().join("goal.png");
    image::RgbImage::from_pixel(96, 64, image::Rgb([90, 100, 110]))
        .save(&goal)
        .unwrap();
    let cache = dir.path().join("cache");
    let spawn = |shard: &str| {
        Command::new(env!("CARGO_BIN_EXE_handtwin"))
            .args(["search", "--goal"])
            .arg(&goal)
            .arg("--start")
            .arg(&start)
            .args(["--size", "96x64", "--population", "4", "--steps", "1"])
            .args(["--budget", "8", "--shard", shard, "--cache"])
            .arg(&cache)
            .arg("--out")
            .arg(dir.path().join(shard.replace('/', "of")))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = [spawn("1/2"), spawn("2/2")];
    let mut states = Vec::new();
    for (child, name) in children.into_iter().zip(["1of2", "2of2"]) {
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("fitted") && stdout.contains("8 simulations"),
            "{stdout}"
        );
        let file: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(name).join("search.json")).unwrap(),
        )
        .unwrap();
        assert!(dir.path().join(name).join("start.params.json").is_file());
        states.push(file["state"].clone());
    }
    assert_eq!(states[0], states[1]);
    // Eight simulations in all, each made once.
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 8);
}
