//! Shared by the command-line tests: a refusal that must leave no output behind.

use std::path::Path;

/// Runs `handtwin <command> <args>` and checks that it fails, that its stderr contains `expected`, and that
/// `out` (the folder the command would write) was not created.
pub fn assert_refused_before_writing(command: &[&str], args: &[&str], expected: &str, out: &Path) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(command)
        .args(args)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{args:?} was accepted");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(!out.exists(), "{args:?} created {}", out.display());
}
