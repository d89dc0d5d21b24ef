//! `handtwin train` refuses bad settings before it reads a clip or creates its run folder, naming the flag.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

#[path = "common/cli.rs"]
mod cli;

#[test]
fn bad_settings_fail_before_any_clip_is_read() {
    let dir = tempfile::tempdir().unwrap();
    // The data folder does not exist: a refusal that names the flag shows the settings were checked first.
    let data = dir.path().join("no-such-clips");
    let out = dir.path().join("run");
    for (args, expected) in [
        (
            &["--min-timestep", "1000"][..],
            "--min-timestep 1000 leaves no timestep",
        ),
        (
            &["--hand-lr-scale", "0"][..],
            "--hand-lr-scale must be a positive number",
        ),
        (
            &["--prompt-dropout", "1.5"][..],
            "--prompt-dropout is a probability",
        ),
        (
            &["--changed-weight=-1"][..],
            "--changed-weight must be a positive number",
        ),
        (
            &["--object-weight", "0"][..],
            "--object-weight must be a positive number",
        ),
        (&["--lr", "NaN"][..], "--lr must be 0 or more"),
    ] {
        let command = [
            "train",
            "--stage",
            "dwm",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        cli::assert_refused_before_writing(&command, args, expected, &out);
    }
}

/// The default tokenizer comes from the assets folder, so `$HANDTWIN_ASSETS` moves it with the scene assets (a
/// packaged build); a folder without one is refused by name before the run folder is made.
#[test]
fn the_default_tokenizer_follows_the_assets_folder() {
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("elsewhere");
    std::fs::create_dir_all(&assets).unwrap();
    let out = dir.path().join("run");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .env("HANDTWIN_ASSETS", &assets)
        .args(["train", "--stage", "dwm", "--data"])
        .arg(dir.path().join("no-such-clips"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "reading the tokenizer in {}",
        assets.join("tokenizer").display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!out.exists());
}
