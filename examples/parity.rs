//! Runs world-model parity cases (format: `spec/parity-cases.md`).
//!
//!     cargo run --release --example parity -- PATH...
//!
//! Each PATH is a case folder or a folder of case folders. Prints one line per case and a summary; exits
//! non-zero if any case fails or cannot be read.

use anyhow::Context as _;
use handtwin::world_model::parity::{find_cases, run_case};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        eprintln!("usage: parity PATH... (case folders or folders of case folders)");
        return ExitCode::from(2);
    }
    let cases = match find_cases(&paths).context("finding parity cases") {
        Ok(cases) => cases,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let (mut passed, mut failed) = (0usize, 0usize);
    for dir in &cases {
        match run_case(dir) {
            Ok(report) => {
                let verdict = if report.passed() { "PASS" } else { "FAIL" };
                let worst_output = report
                    .outputs
                    .iter()
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(name, _)| name.as_str())
                    .unwrap_or("-");
                println!(
                    "{verdict} {} {} {:.3e} (rtol {:.0e}, worst output {worst_output})",
                    report.name,
                    report.component,
                    report.worst(),
                    report.rtol
                );
                if report.passed() {
                    passed += 1;
                } else {
                    failed += 1;
                }
            }
            Err(error) => {
                println!("FAIL {} (could not run: {error})", dir.display());
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
