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
