//! Every hand preset of the hand model, both hands at the default egocentric reach, rendered through the hand
//! stream (DWM's style) and tiled into one PNG:
//!
//!     cargo run --release --example hand_presets -- OUT.png [--model bundled|DIR|FILE.npz]

use glam::{Affine3A, Vec3};
use handtwin::action::{CameraFrame, Intrinsics};
use handtwin::hand::{HandModelSource, HandModels, Preset, Side, placement};
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
    let (width, height) = (360u32, 240u32);
    let camera = CameraFrame {
        world_from_camera: Affine3A::from_translation(Vec3::new(0.0, 1.6, 2.5)),
        intrinsics: Intrinsics::DWM.resized(width, height),
    };
    let cameras = vec![camera; Preset::ALL.len()];
    let hands: Vec<_> = Preset::ALL
        .iter()
        .map(|preset| {
            [Side::Left, Side::Right]
                .into_iter()
                .map(|side| {
                    let mesh = models
                        .get(side)
                        .pose_mesh(&preset.controls().pose_for(side), &[])
                        .expect("preset poses are finite");
                    let place = placement::camera_from_hand(
                        side,
                        placement::default_wrist_position(side),
                        placement::DEFAULT_WRIST_ANGLES,
                    );
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
