//! The viewport camera: orbit (default) and free-fly, as in common 3D tools.
//!
//! Orbit: left-drag rotates around the focus, right- or middle-drag pans, the wheel zooms.
//! Fly: hold the right mouse button to look around, W/A/S/D move, Q/E down/up, Shift is faster.
//! F frames the scene; Tab switches between the two.

use super::panel::PanelSections as _;
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CameraMode {
    #[default]
    Orbit,
    Fly,
}

/// The viewport camera's controller state. The transform is derived from it every frame.
#[derive(Component, Clone, Debug)]
pub struct ViewerCamera {
    pub mode: CameraMode,
    /// Orbit centre (also kept current in fly mode, one `distance` ahead of the eye).
    pub focus: Vec3,
    /// Rotation about +Y, radians (0 looks down −Z).
    pub yaw: f32,
    /// Rotation about the camera's x axis, radians (negative looks down).
    pub pitch: f32,
    pub distance: f32,
    /// Fly speed, metres per second.
    pub speed: f32,
}

impl ViewerCamera {
    /// A camera at `eye` looking at `target`.
    pub fn looking_at(eye: Vec3, target: Vec3) -> Self {
        let offset = target - eye;
        let distance = offset.length().max(0.05);
        let direction = offset / distance;
        Self {
            mode: CameraMode::Orbit,
            focus: target,
            yaw: (-direction.x).atan2(-direction.z),
            pitch: direction.y.clamp(-1.0, 1.0).asin(),
            distance,
            speed: 1.5,
        }
    }

    pub fn rotation(&self) -> Quat {
        Quat::from_euler(EulerRot::YXZ, self.yaw, self.pitch, 0.0)
    }

    pub fn eye(&self) -> Vec3 {
        self.focus - self.rotation() * Vec3::NEG_Z * self.distance
    }

    pub fn transform(&self) -> Transform {
        Transform::from_translation(self.eye()).with_rotation(self.rotation())
    }

    /// Frames an axis-aligned box: looks at its centre from the current direction, far enough to see it whole.
    pub fn frame_bounds(&mut self, min: Vec3, max: Vec3, vertical_fov: f32) {
        let radius = ((max - min).length() * 0.5).max(0.1);
        self.focus = (min + max) * 0.5;
        self.distance = radius / (vertical_fov * 0.5).sin();
    }
}

pub struct CameraControlPlugin;

impl Plugin for CameraControlPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, (control_camera, apply_camera_transform).chain())
            .add_side_panel_section(20, camera_section);
    }
}

#[allow(clippy::too_many_arguments)] // a Bevy system takes its resources as arguments
fn control_camera(
    mut cameras: Query<(&mut ViewerCamera, &Camera)>,
    mouse_buttons: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    time: Res<Time>,
    mut egui: EguiContexts,
    window: Query<&Window, With<bevy::window::PrimaryWindow>>,
    mut last_cursor: Local<Option<Vec2>>,
    mut drag_from_view: Local<bool>,
) {
    // Raw mouse motion is missing on some displays (remote desktops, virtual X servers): fall back to how far
    // the cursor moved in the window.
    let cursor = window.single().ok().and_then(Window::cursor_position);
    // A press starts a drag: the cursor's travel before it is not part of the drag.
    let pressing_now = mouse_buttons.get_just_pressed().next().is_some();
    let cursor_delta = match (cursor, *last_cursor) {
        (Some(now), Some(before)) if !pressing_now => now - before,
        _ => Vec2::ZERO,
    };
    *last_cursor = cursor;
    // Input that egui uses (typing in a field, dragging a slider, scrolling the panel) must not move the camera.
    let (over_egui, keyboard_on_ui) = match egui.ctx_mut() {
        Ok(ctx) => (
            ctx.is_pointer_over_egui() || ctx.egui_is_using_pointer(),
            ctx.egui_wants_keyboard_input(),
        ),
        Err(_) => (false, false),
    };
    let Ok((mut camera, render_camera)) = cameras.single_mut() else {
        return;
    };
    // The panels are drawn in egui's background layer, which `is_pointer_over_egui` does not count as egui, so
    // the pointer belongs to the 3D view only inside the camera's viewport (the space the panels leave).
    let scale = window.single().map_or(1.0, Window::scale_factor);
    let in_view = match (cursor, &render_camera.viewport) {
        (Some(cursor), Some(viewport)) => {
            let min = viewport.physical_position.as_vec2() / scale;
            let max = min + viewport.physical_size.as_vec2() / scale;
            cursor.cmpge(min).all() && cursor.cmplt(max).all()
        }
        (Some(_), None) => true,
        (None, _) => false,
    };
    // A drag that started in the view keeps the camera when it crosses a panel; one that started on a panel
    // never moves it.
    if pressing_now {
        *drag_from_view = in_view && !over_egui;
    }
    let dragging = mouse_buttons.get_pressed().next().is_some();
    let pointer_on_ui = if dragging {
        !*drag_from_view
    } else {
        over_egui || !in_view
    };
    if !keyboard_on_ui && keys.just_pressed(KeyCode::Tab) {
        camera.mode = match camera.mode {
            CameraMode::Orbit => CameraMode::Fly,
            CameraMode::Fly => CameraMode::Orbit,
        };
    }
    let delta = if motion.delta != Vec2::ZERO {
        motion.delta
    } else {
        cursor_delta
    };
    let look_sensitivity = 0.005;
    match camera.mode {
        CameraMode::Orbit => {
            if pointer_on_ui {
                return;
            }
            if mouse_buttons.pressed(MouseButton::Left) {
                camera.yaw -= delta.x * look_sensitivity;
                camera.pitch = (camera.pitch - delta.y * look_sensitivity).clamp(-1.55, 1.55);
            }
            if mouse_buttons.pressed(MouseButton::Right)
                || mouse_buttons.pressed(MouseButton::Middle)
            {
                let rotation = camera.rotation();
                let scale = camera.distance * 0.0015;
                camera.focus += rotation * Vec3::new(-delta.x * scale, delta.y * scale, 0.0);
            }
            let lines = match scroll.unit {
                MouseScrollUnit::Line => scroll.delta.y,
                MouseScrollUnit::Pixel => scroll.delta.y / 40.0,
            };
            if lines != 0.0 {
                camera.distance = (camera.distance * 0.88f32.powf(lines)).clamp(0.05, 500.0);
            }
        }
        CameraMode::Fly => {
            let looking = mouse_buttons.pressed(MouseButton::Right) && !pointer_on_ui;
            // Fly around the eye: keep the eye fixed while the view direction changes.
            let eye = camera.eye();
            if looking {
                camera.yaw -= delta.x * look_sensitivity;
                camera.pitch = (camera.pitch - delta.y * look_sensitivity).clamp(-1.55, 1.55);
            }
            let mut step = Vec3::ZERO;
            if !keyboard_on_ui {
                for (key, direction) in [
                    (KeyCode::KeyW, Vec3::NEG_Z),
                    (KeyCode::KeyS, Vec3::Z),
                    (KeyCode::KeyA, Vec3::NEG_X),
                    (KeyCode::KeyD, Vec3::X),
                ] {
                    if keys.pressed(key) {
                        step += direction;
                    }
                }
            }
            let mut world_step = camera.rotation() * step;
            if !keyboard_on_ui {
                if keys.pressed(KeyCode::KeyE) {
                    world_step += Vec3::Y;
                }
                if keys.pressed(KeyCode::KeyQ) {
                    world_step -= Vec3::Y;
                }
            }
            let boost = if keys.pressed(KeyCode::ShiftLeft) || keys.pressed(KeyCode::ShiftRight) {
                4.0
            } else {
                1.0
            };
            let moved = world_step.normalize_or_zero() * camera.speed * boost * time.delta_secs();
            let forward = camera.rotation() * Vec3::NEG_Z;
            let distance = camera.distance;
            camera.focus = eye + moved + forward * distance;
        }
    }
}

fn apply_camera_transform(
    mut cameras: Query<(&ViewerCamera, &mut Transform), Changed<ViewerCamera>>,
    timeline: Res<super::timeline::Timeline>,
) {
    // Through the ego camera, the timeline owns the transform.
    if timeline.ego_view && timeline.current_frame().is_some() {
        return;
    }
    for (controller, mut transform) in &mut cameras {
        *transform = controller.transform();
    }
}

/// The side panel's camera section.
fn camera_section(InMut(ui): InMut<egui::Ui>, mut cameras: Query<&mut ViewerCamera>) {
    if let Ok(mut camera) = cameras.single_mut() {
        camera_ui(ui, &mut camera);
    }
}

fn camera_ui(ui: &mut egui::Ui, camera: &mut ViewerCamera) {
    ui.strong("Camera");
    ui.horizontal(|ui| {
        ui.selectable_value(&mut camera.mode, CameraMode::Orbit, "Orbit");
        ui.selectable_value(&mut camera.mode, CameraMode::Fly, "Fly");
        ui.label(egui::RichText::new("Tab").weak());
    });
    let help = match camera.mode {
        CameraMode::Orbit => "left-drag: orbit · right/middle-drag: pan · wheel: zoom",
        CameraMode::Fly => "hold right button: look · W/A/S/D: move · Q/E: down/up · Shift: fast",
    };
    ui.label(egui::RichText::new(help).small().weak());
    if camera.mode == CameraMode::Fly {
        ui.add(
            egui::Slider::new(&mut camera.speed, 0.1..=10.0)
                .logarithmic(true)
                .text("speed m/s"),
        );
    }
    let eye = camera.eye();
    ui.label(format!("eye ({:.2}, {:.2}, {:.2}) m", eye.x, eye.y, eye.z));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looking_at_round_trips_the_eye_and_direction() {
        let eye = Vec3::new(0.6, 1.55, 1.0);
        let target = Vec3::new(-0.2, 0.8, -1.6);
        let camera = ViewerCamera::looking_at(eye, target);
        assert!((camera.eye() - eye).length() < 1e-4);
        let forward = camera.transform().forward();
        assert!(forward.dot((target - eye).normalize()) > 0.9999);
    }
}
