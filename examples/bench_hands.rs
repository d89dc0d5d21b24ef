//! Posing two hands for a 49-frame clip, both model kinds: `cargo run --release --example bench_hands`.
//!
//! "MANO-sized" is the random MANO-shaped test model (778 vertices, full pose correctives and shape blend
//! shapes: the same work as the real MANO, which we cannot ship); "bundled" is the licence-free hand.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use handtwin::hand::{HandModels, ManoModel, ManoPose, Preset, Side};
use std::path::Path;
use std::time::Instant;

fn bench(name: &str, models: &HandModels) {
    let frames = 49;
    let fist = Preset::Fist.right_hand_pose();
    let betas = [0.3, -0.2, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let betas = &betas[..models.right.beta_count().min(10)];
    let poses: Vec<ManoPose> = (0..frames)
        .map(|f| ManoPose::FLAT.interpolate(&fist, f as f32 / (frames - 1) as f32))
        .collect();
    let mut best = f64::INFINITY;
    let mut checksum = 0.0f32;
    for _ in 0..5 {
        let start = Instant::now();
        for pose in &poses {
            for side in [Side::Left, Side::Right] {
                let pose = if side == Side::Left {
                    pose.mirrored()
                } else {
                    *pose
                };
                let mesh = models.get(side).pose_mesh(&pose, betas).expect("pose");
                checksum += mesh.vertices()[0].x;
            }
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{name:<12} {:>5} vertices  49 frames × 2 hands: {:>7.2} ms total, {:>6.3} ms per frame (best of 5; checksum {checksum:.3})",
        models.right.vertex_count(),
        best * 1e3,
        best * 1e3 / frames as f64
    );
}

fn main() {
    let bundled = HandModels::bundled().expect("bundled hand");
    bench("bundled", &bundled);
    let path = Path::new("tests/fixtures/mano/random_right.npz");
    let right = ManoModel::load_npz(path, Side::Right).expect("fixture model");
    let mano_sized = HandModels {
        left: right.mirrored(),
        right,
    };
    bench("MANO-sized", &mano_sized);
}
