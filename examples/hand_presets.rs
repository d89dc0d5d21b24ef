//! Every hand preset of the hand model rendered through the hand stream (DWM's style) and tiled into one PNG: per
//! tile the right hand (red) from its little-finger side, fingers to the right, and the left hand (green) from
//! the back, fingers to the right, so curl and spread both show:
//!
//!     cargo run --release --example hand_presets -- OUT.png [--model bundled|DIR|FILE.npz]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use glam::{Affine3A, Quat, Vec3};
use handtwin::action::{CameraFrame, Intrinsics};
use handtwin::hand::{HandModelSource, HandModels, Preset, Side};
use handtwin::streams::{StreamRenderer, StreamRequest};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .cloned()
        .unwrap_or_else(|| "hand_presets.png".into());
    let source = args
        .iter()
        .position(|a| a == "--model")
        .and_then(|i| args.get(i + 1))
        .map_or(HandModelSource::Bundled, |s| HandModelSource::parse(s));
    let models = HandModels::load(&source)?;
    let (width, height) = (480u32, 320u32);
    // A narrow lens one metre away: about 0.4 m × 0.27 m in view.
    let camera = CameraFrame {
        world_from_camera: Affine3A::IDENTITY,
        intrinsics: Intrinsics {
            width,
            height,
            fx: 1200.0,
            fy: 1200.0,
            cx: width as f32 / 2.0,
            cy: height as f32 / 2.0,
        },
    };
    let cameras = vec![camera; Preset::ALL.len()];
    // MANO's right hand points its fingers along −x (palm −y), the left along +x.
    let right_side_view = Affine3A::from_rotation_translation(
        Quat::from_rotation_y(std::f32::consts::PI),
        Vec3::new(-0.09, 0.06, -1.0),
    );
    let left_back_view = Affine3A::from_rotation_translation(
        Quat::from_rotation_x(std::f32::consts::FRAC_PI_2),
        Vec3::new(-0.09, -0.07, -1.0),
    );
    let hands: Vec<_> = Preset::ALL
        .iter()
        .map(|preset| {
            [(Side::Right, right_side_view), (Side::Left, left_back_view)]
                .into_iter()
                .map(|(side, place)| {
                    let mesh = models
                        .get(side)
                        .pose_mesh(&preset.controls().pose_for(side), &[])
                        .expect("preset poses are finite");
                    mesh.transformed(|v| place.transform_point3(v))
                })
                .collect()
        })
        .collect();
    let mut renderer = StreamRenderer::new(None)?;
    let streams = renderer.render(
        &StreamRequest {
            cameras: &cameras,
            hands: &hands,
            fps: 8.0,
        },
        &mut |_, _| {},
    )?;
    let columns = 4u32;
    let rows = (Preset::ALL.len() as u32).div_ceil(columns);
    let mut sheet = image::RgbImage::new(columns * width, rows * height);
    for (index, preset) in Preset::ALL.iter().enumerate() {
        let frame = streams
            .hand_video
            .frame_image(index)
            .expect("one frame per preset");
        let (x, y) = (index as u32 % columns, index as u32 / columns);
        image::imageops::replace(&mut sheet, &frame, (x * width) as i64, (y * height) as i64);
        println!("{}: tile ({x}, {y})", preset.name());
    }
    sheet.save(&out)?;
    println!("wrote {out} ({})", models.right.source());
    Ok(())
}
