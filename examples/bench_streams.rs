//! Benchmark: render and read back both streams, 49 frames at 720×480, on the bundled scene with two hand-sized
//! meshes in view. Prints the time per stage. `--save DIR` also writes frames 0, 24 and 48 of both streams as PNG.
//!
//!     cargo run --release --example bench_streams [-- --save DIR]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use glam::{Affine3A, Mat3, Quat, Vec3};
use handtwin::action::{CameraFrame, Intrinsics};
use handtwin::hand::{HandMesh, Side};
use handtwin::scene::{SceneSource, primitives::ellipsoid};
use handtwin::streams::{StreamRenderer, StreamRequest};
use std::time::Instant;

fn look_at(eye: Vec3, target: Vec3) -> Affine3A {
    let forward = (target - eye).normalize();
    let right = forward.cross(Vec3::Y).normalize();
    Affine3A::from_rotation_translation(
        Quat::from_mat3(&Mat3::from_cols(right, right.cross(forward), -forward)),
        eye,
    )
}

fn blob(side: Side, centre: Vec3) -> HandMesh {
    let mesh = ellipsoid(Vec3::new(0.045, 0.02, 0.09), 16, 24);
    let vertices = mesh.positions.iter().map(|&p| p + centre).collect();
    let faces = mesh
        .indices
        .chunks_exact(3)
        .map(|t| [t[0], t[1], t[2]])
        .collect();
    HandMesh::new(side, vertices, faces).expect("indices come from the generator")
}

fn main() -> anyhow::Result<()> {
    let save = std::env::args().skip_while(|a| a != "--save").nth(1);
    let frames = 49;
    let cameras: Vec<CameraFrame> = (0..frames)
        .map(|i| {
            let t = i as f32 / (frames - 1) as f32;
            let eye = Vec3::new(0.5 - 0.6 * t, 1.55, 0.6 - 0.9 * t);
            CameraFrame {
                world_from_camera: look_at(eye, Vec3::new(-0.5, 0.8, -2.0)),
                intrinsics: Intrinsics::DWM,
            }
        })
        .collect();
    let hands: Vec<Vec<HandMesh>> = (0..frames)
        .map(|i| {
            let reach = 0.05 * (i as f32 * 0.2).sin();
            vec![
                blob(Side::Left, Vec3::new(-0.15, -0.2, -0.45 - reach)),
                blob(Side::Right, Vec3::new(0.15, -0.22, -0.4 + reach)),
            ]
        })
        .collect();

    let start = Instant::now();
    let mut renderer = StreamRenderer::new(Some(&SceneSource::Bundled))?;
    let started = start.elapsed();
    let request = StreamRequest {
        cameras: &cameras,
        hands: &hands,
        fps: 8.0,
    };
    let start = Instant::now();
    let first = renderer.render(&request, &mut |_, _| {})?;
    let first_time = start.elapsed();
    let start = Instant::now();
    let second = renderer.render(&request, &mut |_, _| {})?;
    let warm_time = start.elapsed();
    assert!(first.static_video.as_bytes() == second.static_video.as_bytes());

    println!(
        "renderer start-up:                      {:>8.2} s",
        started.as_secs_f64()
    );
    println!(
        "first render (load + warm-up + 49 × 2): {:>8.2} s",
        first_time.as_secs_f64()
    );
    println!(
        "warm render, 49 frames × 2 streams at 720x480: {:.2} s ({:.1} ms per frame, both streams)",
        warm_time.as_secs_f64(),
        warm_time.as_secs_f64() * 1000.0 / frames as f64
    );
    if let Some(dir) = save {
        std::fs::create_dir_all(&dir)?;
        for index in [0, 24, 48] {
            for (name, video) in [
                ("static", &second.static_video),
                ("hands", &second.hand_video),
            ] {
                if let Some(image) = video.frame_image(index) {
                    image.save(format!("{dir}/{name}_{index:02}.png"))?;
                }
            }
        }
        println!("saved frames to {dir}");
    }
    Ok(())
}
