//! Benchmark: a random 100k-splat scene (SH degree 3, fixed seed) written to a temporary `.ply`, rendered through
//! the stream renderer as the render command does (both streams, no hands), 49 frames at 720×480 along a moving
//! camera. Prints the load, warm-up and render + readback times.
//!
//!     cargo run --release --example bench_splats [-- --splats N]

use glam::{Affine3A, Mat3, Quat, Vec3};
use handtwin::action::{CameraFrame, Intrinsics};
use handtwin::scene::SceneSource;
use handtwin::scene::splat::{SplatCloud, write_ply};
use handtwin::streams::{StreamRenderer, StreamRequest};
use std::time::Instant;

/// The crate's SplitMix64.
struct Rng(handtwin::rng::SplitMix64);

impl Rng {
    fn unit(&mut self) -> f32 {
        self.0.unit_f32()
    }

    fn range(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.unit()
    }
}

/// Splats filling a 6 × 2.5 × 6 m room-sized box, log-uniform sizes of 5 mm to 5 cm, random SH up to degree 3.
fn random_cloud(count: usize, seed: u64) -> SplatCloud {
    let mut rng = Rng(handtwin::rng::SplitMix64::new(seed));
    let coefficients = 16;
    let mut cloud = SplatCloud {
        means: Vec::with_capacity(count),
        scales: Vec::with_capacity(count),
        rotations: Vec::with_capacity(count),
        opacities: Vec::with_capacity(count),
        sh: Vec::with_capacity(count * coefficients),
        sh_degree: 3,
    };
    for _ in 0..count {
        cloud.means.push(Vec3::new(
            rng.range(-3.0, 3.0),
            rng.range(0.0, 2.5),
            rng.range(-5.0, 1.0),
        ));
        let mut scale = || rng.range(0.005f32.ln(), 0.05f32.ln()).exp();
        cloud.scales.push(Vec3::new(scale(), scale(), scale()));
        cloud.rotations.push(
            Quat::from_xyzw(
                rng.range(-1.0, 1.0),
                rng.range(-1.0, 1.0),
                rng.range(-1.0, 1.0),
                rng.range(-1.0, 1.0),
            )
            .normalize(),
        );
        cloud.opacities.push(rng.range(0.05, 0.99));
        for i in 0..coefficients {
            let amplitude = if i == 0 { 1.5 } else { 0.2 };
            cloud.sh.push([
                rng.range(-amplitude, amplitude),
                rng.range(-amplitude, amplitude),
                rng.range(-amplitude, amplitude),
            ]);
        }
    }
    cloud
}

fn look_at(eye: Vec3, target: Vec3) -> Affine3A {
    let forward = (target - eye).normalize();
    let right = forward.cross(Vec3::Y).normalize();
    Affine3A::from_rotation_translation(
        Quat::from_mat3(&Mat3::from_cols(right, right.cross(forward), -forward)),
        eye,
    )
}

fn main() -> anyhow::Result<()> {
    let count = std::env::args()
        .skip_while(|a| a != "--splats")
        .nth(1)
        .map(|n| n.parse::<usize>())
        .transpose()?
        .unwrap_or(100_000);
    let frames = 49;

    let start = Instant::now();
    let cloud = random_cloud(count, 2026);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench_splats.ply");
    std::fs::write(&path, write_ply(&cloud))?;
    let written = start.elapsed();

    let cameras: Vec<CameraFrame> = (0..frames)
        .map(|i| {
            let t = i as f32 / (frames - 1) as f32;
            let eye = Vec3::new(0.6 - 1.2 * t, 1.5 - 0.2 * t, 2.0 - 1.5 * t);
            CameraFrame {
                world_from_camera: look_at(eye, Vec3::new(-0.4 + 0.8 * t, 1.0, -2.5)),
                intrinsics: Intrinsics::DWM,
            }
        })
        .collect();

    let start = Instant::now();
    let mut renderer = StreamRenderer::new(Some(&SceneSource::File(path)))?;
    let loaded = start.elapsed();

    // Warm-up: one frame (scene upload, pipeline compilation, settling).
    let start = Instant::now();
    renderer.render(
        &StreamRequest {
            cameras: &cameras[..1],
            hands: &[],
            fps: 8.0,
        },
        &mut |_, _| {},
    )?;
    let warm_up = start.elapsed();

    // The timed render; the progress callback stamps each frame, so the steady per-frame cost can be told apart
    // from the settling frames on frame 0 and the final readback drain.
    let mut stamps = Vec::with_capacity(frames);
    let start = Instant::now();
    let streams = renderer.render(
        &StreamRequest {
            cameras: &cameras,
            hands: &[],
            fps: 8.0,
        },
        &mut |_, _| stamps.push(start.elapsed()),
    )?;
    let total = start.elapsed();
    let steady = (stamps[frames - 1] - stamps[0]).as_secs_f64() / (frames - 1) as f64;

    let lit = streams
        .static_video
        .as_bytes()
        .chunks_exact(3)
        .filter(|p| p.iter().any(|&v| v > 0))
        .count() as f64
        / (streams.static_video.frame_len() / 3 * frames) as f64;
    println!("{count} splats, SH degree 3, {frames} frames at 720x480, both streams, no hands");
    println!(
        "generate + write .ply:                  {:>8.2} s",
        written.as_secs_f64()
    );
    println!(
        "load (renderer start-up + .ply parse):  {:>8.2} s",
        loaded.as_secs_f64()
    );
    println!(
        "warm-up (1-frame render):               {:>8.2} s",
        warm_up.as_secs_f64()
    );
    println!(
        "render + readback, {frames} frames:           {:>8.2} s ({:.1} ms per frame)",
        total.as_secs_f64(),
        total.as_secs_f64() * 1000.0 / frames as f64
    );
    println!(
        "steady per frame (sort + draw + wait):  {:>8.1} ms",
        steady * 1000.0
    );
    println!(
        "static stream pixels covered:           {:>8.1} %",
        lit * 100.0
    );
    Ok(())
}
