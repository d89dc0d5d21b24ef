//! Pixel tests of the compositing pass (`shaders/composite.wgsl`) on the real renderer.
// The composite pass runs in Bevy: these tests need the `render` feature (default on).
#![cfg(feature = "render")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use bevy::camera::{Hdr, RenderTarget};
use bevy::prelude::*;
use bevy::render::gpu_readback::{Readback, ReadbackComplete};
use bevy::render::render_resource::{TextureFormat, TextureUsages};
use handtwin::video::Frames;
use handtwin::viewer::composite::{
    CompositeMaterial, CompositeMode, CompositePlugin, CompositeSettings, frame_image, mask_image,
    spawn_composite,
};
use handtwin::world_model::composite::ResidualMask;
use std::sync::{Arc, Mutex};

const W: u32 = 64;
const H: u32 = 32;

fn clip(seed: u8) -> Frames {
    let data = (0..W * H * 3)
        .map(|i| {
            (i as u8)
                .wrapping_mul(31)
                .wrapping_add(seed.wrapping_mul(97))
        })
        .collect();
    Frames::new(W, H, 8.0, data).unwrap()
}

struct Compositor {
    app: App,
    target: Handle<Image>,
    material: Handle<CompositeMaterial>,
    last: Option<Vec<u8>>,
}

impl Compositor {
    fn new(static_clip: &Frames, generated: &Frames) -> Self {
        let mut app = handtwin::streams::headless_app(|app| {
            app.add_plugins(CompositePlugin);
        })
        .expect("a renderer");
        let world = app.world_mut();
        let mut images = world.resource_mut::<Assets<Image>>();
        let static_image = images.add(frame_image(static_clip, 0).unwrap());
        let generated_image = images.add(frame_image(generated, 0).unwrap());
        let hands = images.add(frame_image(&Frames::black(1, W, H, 8.0).unwrap(), 0).unwrap());
        // The residual mask: on in the left half of the frame, off in the right half.
        let mask = ResidualMask {
            frames: 1,
            width: W as usize,
            height: H as usize,
            values: (0..W * H)
                .map(|i| if i % W < W / 2 { 1.0 } else { 0.0 })
                .collect(),
        };
        let mask = images.add(mask_image(&mask, 0).unwrap());
        let mut target = Image::new_target_texture(W, H, TextureFormat::Rgba8Unorm, None);
        target.texture_descriptor.usage |= TextureUsages::COPY_SRC;
        let target = images.add(target);
        let material = CompositeMaterial {
            settings: CompositeSettings {
                has_mask: 1,
                fade: 1.0,
                frame_offset: Vec2::ZERO,
                frame_scale: Vec2::ONE,
                ..CompositeSettings::default()
            },
            static_frame: static_image.clone(),
            hand_frame: hands.clone(),
            generated_frame: generated_image.clone(),
            truth_frame: hands,
            generated_b_frame: generated_image,
            composite_frame: static_image,
            mask_frame: mask,
        };
        let (camera, material) = world.resource_scope(|world, mut meshes: Mut<Assets<Mesh>>| {
            world.resource_scope(|world, mut materials: Mut<Assets<CompositeMaterial>>| {
                let mut queue = bevy::ecs::world::CommandQueue::default();
                let mut commands = Commands::new(&mut queue, world);
                let spawned = spawn_composite(
                    &mut commands,
                    &mut meshes,
                    &mut materials,
                    material,
                    Camera::default(),
                    None,
                );
                queue.apply(world);
                spawned
            })
        });
        world
            .entity_mut(camera)
            .insert((RenderTarget::Image(target.clone().into()), Hdr));
        Self {
            app,
            target,
            material,
            last: None,
        }
    }

    fn read_once(&mut self) -> Vec<u8> {
        let result: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let sink = result.clone();
        let entity = self
            .app
            .world_mut()
            .spawn(Readback::texture(self.target.clone()))
            .observe(move |event: On<ReadbackComplete>| {
                sink.lock()
                    .unwrap()
                    .get_or_insert_with(|| event.data.clone());
            })
            .id();
        self.app.update();
        self.app.world_mut().entity_mut(entity).remove::<Readback>();
        for _ in 0..50 {
            if let Some(data) = result.lock().unwrap().take() {
                self.app.world_mut().despawn(entity);
                let mut rgb = Vec::new();
                handtwin::streams::append_rgb(&mut rgb, &data, W, H).unwrap();
                return rgb;
            }
            self.app.update();
        }
        panic!("no readback arrived");
    }

    /// Shows `mode` and returns the first output that differs from the previous one and is stable.
    fn show(&mut self, mode: CompositeMode, wipe: f32) -> Vec<u8> {
        let handle = self.material.clone();
        if let Some(mut material) = self
            .app
            .world_mut()
            .resource_mut::<Assets<CompositeMaterial>>()
            .get_mut(&handle)
        {
            material.set_mode(mode, wipe, 4.0);
        }
        let mut previous: Option<Vec<u8>> = None;
        for _ in 0..200 {
            let current = self.read_once();
            let changed = match &self.last {
                Some(last) => *last != current,
                None => current.iter().any(|&v| v != 0),
            };
            if changed && previous.as_ref() == Some(&current) {
                self.last = Some(current.clone());
                return current;
            }
            previous = Some(current);
        }
        panic!("the composite never settled on {mode:?}");
    }
}

#[test]
fn wipe_is_exact_and_the_heat_map_of_identical_frames_is_zero() {
    let static_clip = clip(1);
    let generated = clip(2);
    let mut compositor = Compositor::new(&static_clip, &generated);
    let wiped = compositor.show(CompositeMode::Wipe, 0.5);
    let (s, g) = (static_clip.frame(0).unwrap(), generated.frame(0).unwrap());
    for y in 0..H as usize {
        for x in 0..W as usize {
            let at = (y * W as usize + x) * 3;
            let expected = if x < W as usize / 2 {
                &s[at..at + 3]
            } else {
                &g[at..at + 3]
            };
            assert_eq!(&wiped[at..at + 3], expected, "wipe pixel ({x}, {y})");
        }
    }
    assert_eq!(
        compositor.show(CompositeMode::Static, 0.5),
        s,
        "static mode shows the static frame exactly"
    );
    let heat = compositor.show(CompositeMode::ResidualHeatMap, 0.5);
    assert!(
        heat.iter().any(|&v| v > 0),
        "different clips give a non-zero residual"
    );

    let mut same = Compositor::new(&static_clip, &static_clip);
    same.show(CompositeMode::Generated, 0.5);
    let heat = same.show(CompositeMode::ResidualHeatMap, 0.5);
    // Zero everywhere but on the residual mask's outline (it switches on at the middle column), drawn in cyan.
    let edge = W as usize / 2;
    for y in 0..H as usize {
        for x in 0..W as usize {
            let at = (y * W as usize + x) * 3;
            let pixel = &heat[at..at + 3];
            if x == edge - 1 || x == edge {
                assert!(
                    pixel[1] > 200 && pixel[2] > 200,
                    "outline pixel ({x}, {y}): {pixel:?}"
                );
            } else {
                assert_eq!(
                    pixel,
                    [0, 0, 0],
                    "heat map of identical frames at ({x}, {y})"
                );
            }
        }
    }
}

#[test]
fn the_residual_over_the_scene_draws_generated_pixels_only_inside_the_mask() {
    let static_clip = clip(1);
    let generated = clip(2);
    let mut compositor = Compositor::new(&static_clip, &generated);
    // The target holds the static frame (standing in for the live render); the residual is blended over it.
    let (s, g) = (static_clip.frame(0).unwrap(), generated.frame(0).unwrap());
    assert_eq!(compositor.show(CompositeMode::Static, 0.5), s);
    let over = compositor.show(CompositeMode::OverScene, 0.5);
    for y in 0..H as usize {
        for x in 0..W as usize {
            let at = (y * W as usize + x) * 3;
            let expected = if x < W as usize / 2 {
                &g[at..at + 3]
            } else {
                &s[at..at + 3]
            };
            assert_eq!(&over[at..at + 3], expected, "pixel ({x}, {y})");
        }
    }
    // The composite mode shows the composite frame (here the static one) exactly at its own size.
    assert_eq!(compositor.show(CompositeMode::Composite, 0.5), s);
}
