//! `handtwin parity PATH...`: runs world-model parity cases (format: `spec/parity-cases.md`) on a device and
//! precision, prints one line per case and a summary, optionally writes the results as JSON; fails when a case
//! fails or cannot be read.

use crate::world_model::parity::{find_cases, run_case_on};
use anyhow::Context as _;
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ParityArgs {
    /// Case folders, or folders of case folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// cpu, cuda or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// f32, bf16 or f16. The cases' own tolerances are for f32; half precision is judged by --half-rtol.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Pass bar for bf16/f16 runs (worst |ours − reference| / max|reference| per output). bf16 keeps 8
    /// significant bits (a rounding of up to 2⁻⁹ ≈ 0.2% per stored value); the tiny networks of the cases
    /// pass values through ~10–40 roundings, and the pipeline case through its steps' compounding, so 5% is
    /// the bar — an order of magnitude above bf16's accumulated rounding and an order below a real bug's
    /// errors (a wrong weight or layout gives O(1)).
    #[arg(long, default_value_t = 0.05)]
    pub half_rtol: f32,
    /// With an f32 run, a bar that overrides the cases' own tolerances (e.g. 1e-3 on a GPU, whose kernels
    /// sum in another order than the CPU's).
    #[arg(long)]
    pub rtol: Option<f32>,
    /// Write every case's result here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Serialize)]
struct CaseResult {
    case: String,
    component: String,
    passed: bool,
    worst_relative_error: Option<f32>,
    tolerance: f32,
    error: Option<String>,
}

pub fn run(args: ParityArgs) -> anyhow::Result<()> {
    let device = crate::worker::device(&args.device).map_err(anyhow::Error::msg)?;
    let dtype = crate::worker::dtype(&args.dtype, &device).map_err(anyhow::Error::msg)?;
    let cases = find_cases(&args.paths).context("finding parity cases")?;
    anyhow::ensure!(!cases.is_empty(), "no parity cases under the given paths");
    let half = dtype != candle_core::DType::F32;
    let mut results = Vec::new();
    for dir in &cases {
        let result = match run_case_on(dir, &device, dtype) {
            Ok(report) => {
                let tolerance = if half {
                    args.half_rtol
                } else {
                    args.rtol.unwrap_or(report.rtol)
                };
                let worst = report.worst();
                let passed = !report.outputs.is_empty() && worst <= tolerance;
                println!(
                    "{} {} {} {worst:.3e} (rtol {tolerance:.0e})",
                    if passed { "PASS" } else { "FAIL" },
                    report.name,
                    report.component
                );
                CaseResult {
                    case: report.name,
                    component: report.component,
                    passed,
                    worst_relative_error: Some(worst),
                    tolerance,
                    error: None,
                }
            }
            Err(error) => {
                println!("FAIL {} (could not run: {error})", dir.display());
                CaseResult {
                    case: dir.display().to_string(),
                    component: String::new(),
                    passed: false,
                    worst_relative_error: None,
                    tolerance: args.half_rtol,
                    error: Some(error.to_string()),
                }
            }
        };
        results.push(result);
    }
    let passed = results.iter().filter(|r| r.passed).count();
    let failed = results.len() - passed;
    println!(
        "{passed} passed, {failed} failed ({} on {}, {})",
        results.len(),
        args.device,
        args.dtype
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&results)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    anyhow::ensure!(failed == 0, "{failed} parity cases failed");
    Ok(())
}
