//! Runs every committed parity case (tests/fixtures/parity/*/) whose component this build implements, and
//! asserts each passes the tolerance of its case.json.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use handtwin::world_model::parity::{CaseFiles, find_cases, run_case};
use std::path::PathBuf;

const SUPPORTED: [&str; 13] = [
    "dwm_pipeline",
    "dwm_wan_pipeline",
    "flow_match_euler",
    "cogvideox_transformer",
    "cogvideox_ddim",
    "t5_encoder",
    "umt5_encoder",
    "wan_transformer",
    "wan_vae_encode",
    "wan_vae_decode",
    "cogvideox_vae_encode",
    "cogvideox_vae_decode",
    "cogvideox_vae_tiled",
];

#[test]
fn committed_parity_cases_pass() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity");
    let cases = find_cases(&[root]).expect("parity fixtures present");
    let mut ran = Vec::new();
    for dir in cases {
        let component = CaseFiles::load(&dir).expect("case readable").component;
        if !SUPPORTED.contains(&component.as_str()) {
            continue;
        }
        let report = run_case(&dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
        assert!(
            report.passed(),
            "{} ({component}) failed: {:?} > rtol {}",
            report.name,
            report.outputs,
            report.rtol
        );
        ran.push(component);
    }
    for component in SUPPORTED {
        assert!(
            ran.iter().any(|c| c == component),
            "no committed case for {component}"
        );
    }
}
