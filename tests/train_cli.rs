//! `handtwin train` refuses bad settings before it reads a clip or creates its run folder, naming the flag.

use std::process::Command;

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
        let output = Command::new(env!("CARGO_BIN_EXE_handtwin"))
            .args(["train", "--stage", "dwm", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&out)
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?} created the run folder");
    }
}
