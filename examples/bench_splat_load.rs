//! Splat loading speed and memory: writes a 100k- and a 1M-splat SH-degree-3 binary PLY (random, fixed seed) to a
//! temporary folder, times `load_splats` on each (best of 3), then the ASCII PLY and `.splat` readers at 100k, and
//! prints a table. Memory: the loaded cloud's heap bytes, and the growth of the process's peak RSS during the
//! loads (the peak is reset through /proc/self/clear_refs before each file, so writing the files does not count).
//!
//! `-- --formats DIR` also loads the files `tools/splat_formats/make_fixtures.mjs DIR 1000000` writes (one random
//! SH-degree-1 cloud as .ply, .spz versions 4 and 3, .sog and .glb, by PlayCanvas splat-transform).
//!
//! `cargo run --release --no-default-features --example bench_splat_load [-- --formats DIR]`

use handtwin::scene::splat::{SplatCloud, load_splats, write_ascii_ply, write_dot_splat};
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

/// The crate's SplitMix64.
struct Rng(handtwin::rng::SplitMix64);

impl Rng {
    fn uniform(&mut self, low: f32, high: f32) -> f32 {
        self.0.range_f32(low, high)
    }
}

/// Streams a degree-3 INRIA PLY to `path` without building a cloud in memory.
fn write_random_ply(path: &Path, count: usize, seed: u64) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut header = format!("ply\nformat binary_little_endian 1.0\nelement vertex {count}\n");
    let names = [
        "x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain((0..45).map(|i| format!("f_rest_{i}")))
    .chain(
        [
            "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    for name in names {
        header += &format!("property float {name}\n");
    }
    header += "end_header\n";
    out.write_all(header.as_bytes())?;
    let mut rng = Rng(handtwin::rng::SplitMix64::new(seed));
    let mut record = Vec::with_capacity(62 * 4);
    for _ in 0..count {
        record.clear();
        let mut push = |v: f32| record.extend_from_slice(&v.to_le_bytes());
        for _ in 0..3 {
            push(rng.uniform(-10.0, 10.0));
        }
        for _ in 0..3 {
            push(0.0);
        }
        for _ in 0..3 {
            push(rng.uniform(-1.5, 1.5));
        }
        for _ in 0..45 {
            push(rng.uniform(-0.3, 0.3));
        }
        push(rng.uniform(-4.0, 4.0));
        for _ in 0..3 {
            push(rng.uniform(-6.0, -1.0));
        }
        for _ in 0..4 {
            push(rng.uniform(-1.0, 1.0));
        }
        out.write_all(&record)?;
    }
    out.flush()
}

/// A field of /proc/self/status in KiB.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak RSS (VmHWM) to the current RSS; false where the kernel does not allow it.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn heap_bytes(cloud: &SplatCloud) -> usize {
    cloud.means.capacity() * 12
        + cloud.scales.capacity() * 12
        + cloud.rotations.capacity() * 16
        + cloud.opacities.capacity() * 4
        + cloud.sh.capacity() * 12
}

struct Row {
    format: &'static str,
    splats: usize,
    file_mb: f64,
    best_s: f64,
    cloud_mb: f64,
    peak_growth_mb: Option<f64>,
}

fn measure(format: &'static str, path: &Path) -> anyhow::Result<Row> {
    let file_mb = std::fs::metadata(path)?.len() as f64 / 1e6;
    let can_reset = reset_peak();
    let before = status_kib("VmRSS:");
    let (mut best, mut splats, mut cloud_mb) = (f64::INFINITY, 0, 0.0);
    for _ in 0..3 {
        let start = Instant::now();
        let cloud = load_splats(path)?;
        best = best.min(start.elapsed().as_secs_f64());
        splats = cloud.len();
        cloud_mb = heap_bytes(&cloud) as f64 / 1e6;
        drop(cloud);
    }
    let peak_growth_mb = match (can_reset, before, status_kib("VmHWM:")) {
        (true, Some(before), Some(peak)) => Some(peak.saturating_sub(before) as f64 * 1024.0 / 1e6),
        _ => None,
    };
    Ok(Row {
        format,
        splats,
        file_mb,
        best_s: best,
        cloud_mb,
        peak_growth_mb,
    })
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let small = dir.path().join("100k.ply");
    let large = dir.path().join("1M.ply");
    eprintln!("writing test files to {}", dir.path().display());
    write_random_ply(&small, 100_000, 1)?;
    write_random_ply(&large, 1_000_000, 2)?;
    {
        let cloud = load_splats(&small)?;
        std::fs::write(dir.path().join("100k-ascii.ply"), write_ascii_ply(&cloud))?;
        std::fs::write(dir.path().join("100k.splat"), write_dot_splat(&cloud))?;
    }
    let mut rows = vec![
        measure("binary PLY, SH 3", &small)?,
        measure("binary PLY, SH 3", &large)?,
        measure("ASCII PLY, SH 3", &dir.path().join("100k-ascii.ply"))?,
        measure(".splat (SH 0)", &dir.path().join("100k.splat"))?,
    ];
    if let Some(formats) = std::env::args().skip_while(|a| a != "--formats").nth(1) {
        let formats = Path::new(&formats);
        for (label, name) in [
            ("binary PLY, SH 1 (splat-transform)", "cloud.ply"),
            ("SPZ v4, SH 1", "cloud.spz"),
            ("SPZ v3, SH 1", "cloud_v3.spz"),
            ("SOG, SH 1", "cloud.sog"),
            ("glTF KHR_gaussian_splatting, SH 1", "cloud.glb"),
        ] {
            let path = formats.join(name);
            if path.is_file() {
                rows.push(measure(label, &path)?);
            } else {
                eprintln!("{} is missing; skipped", path.display());
            }
        }
    }
    println!(
        "| format | splats | file MB | load, best of 3 | M splats/s | cloud MB | peak RSS growth MB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {:.1} | {:.3} s | {:.2} | {:.1} | {} |",
            row.format,
            row.splats,
            row.file_mb,
            row.best_s,
            row.splats as f64 / row.best_s / 1e6,
            row.cloud_mb,
            row.peak_growth_mb
                .map_or_else(|| "n/a".to_string(), |mb| format!("{mb:.1}")),
        );
    }
    Ok(())
}
