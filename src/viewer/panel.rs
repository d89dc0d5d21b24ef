//! The panels' frame: the side panel on the left, the timeline along the bottom, and the 3D view in the space
//! they leave (letterboxed to the streams' aspect through the ego camera or over a clip). The panel itself knows
//! no feature: each plugin registers its own section (`App::add_side_panel_section`, a one-shot system that gets
//! the panel's `egui::Ui`) or bottom bar (`App::add_bottom_panel`), and draws it with its own resources. The
//! panel plugin's own section is the stream settings.

use super::camera_control::ViewerCamera;
use crate::streams::StreamSettings;
use bevy::camera::Viewport;
use bevy::ecs::system::{SystemId, SystemState};
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

/// A section: a one-shot system drawing into the panel's `Ui`.
pub type SectionId = SystemId<InMut<'static, egui::Ui>>;

/// The registered sections, in order.
#[derive(Resource, Default)]
struct Sections {
    side: Vec<(i32, SectionId)>,
    bottom: Vec<(i32, SectionId)>,
}

/// The window area the panels leave for the 3D view this frame (logical points).
#[derive(Resource, Default)]
struct FreeArea(Option<egui::Rect>);

/// How a plugin adds its part of the panels.
pub trait PanelSections {
    /// A section of the side panel, drawn in `order` (lower first) with a separator before it.
    fn add_side_panel_section<M>(
        &mut self,
        order: i32,
        section: impl IntoSystem<InMut<'static, egui::Ui>, (), M> + 'static,
    ) -> &mut Self;

    /// A bar along the bottom of the window (it draws its own `egui::Panel::bottom` into the window's `Ui`).
    fn add_bottom_panel<M>(
        &mut self,
        order: i32,
        section: impl IntoSystem<InMut<'static, egui::Ui>, (), M> + 'static,
    ) -> &mut Self;
}

impl PanelSections for App {
    fn add_side_panel_section<M>(
        &mut self,
        order: i32,
        section: impl IntoSystem<InMut<'static, egui::Ui>, (), M> + 'static,
    ) -> &mut Self {
        let id = self.world_mut().register_system(section);
        register(self, |sections| &mut sections.side, order, id)
    }

    fn add_bottom_panel<M>(
        &mut self,
        order: i32,
        section: impl IntoSystem<InMut<'static, egui::Ui>, (), M> + 'static,
    ) -> &mut Self {
        let id = self.world_mut().register_system(section);
        register(self, |sections| &mut sections.bottom, order, id)
    }
}

/// Adds a registered section to one of the lists, kept in order.
fn register(
    app: &mut App,
    list: impl FnOnce(&mut Sections) -> &mut Vec<(i32, SectionId)>,
    order: i32,
    id: SectionId,
) -> &mut App {
    let mut sections = app.world_mut().get_resource_or_init::<Sections>();
    let list = list(&mut sections);
    list.push((order, id));
    list.sort_by_key(|(order, _)| *order);
    app
}

pub struct PanelPlugin;

impl Plugin for PanelPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Sections>()
            .init_resource::<FreeArea>()
            .add_systems(EguiPrimaryContextPass, (draw_panels, fit_viewport).chain())
            .add_side_panel_section(40, stream_settings_section);
    }
}

/// Draws the side panel and the bottom bars through the registered sections, and notes the area left.
pub(super) fn draw_panels(world: &mut World, contexts: &mut SystemState<EguiContexts>) {
    let ctx = {
        let Ok(mut contexts) = contexts.get_mut(world) else {
            return;
        };
        match contexts.ctx_mut() {
            Ok(ctx) => ctx.clone(),
            Err(_) => return,
        }
    };
    let (side, bottom) = {
        let sections = world.resource::<Sections>();
        (
            sections.side.iter().map(|(_, id)| *id).collect::<Vec<_>>(),
            sections
                .bottom
                .iter()
                .map(|(_, id)| *id)
                .collect::<Vec<_>>(),
        )
    };
    let mut window_ui = egui::Ui::new(
        ctx.clone(),
        "window".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    egui::Panel::left("side_panel")
        .resizable(true)
        .default_size(300.0)
        .show(&mut window_ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                ui.heading("handtwin");
                ui.label(egui::RichText::new("make a static digital twin interactive").weak());
                for id in &side {
                    ui.separator();
                    if let Err(error) = world.run_system_with(*id, ui) {
                        tracing::error!("a side panel section failed: {error}");
                    }
                }
            });
        });
    for id in &bottom {
        if let Err(error) = world.run_system_with(*id, &mut window_ui) {
            tracing::error!("a bottom panel failed: {error}");
        }
    }
    world.resource_mut::<FreeArea>().0 = Some(window_ui.available_rect_before_wrap());
}

/// Keeps the 3D view in the space the panels leave rather than under them.
fn fit_viewport(
    free: Res<FreeArea>,
    mut cameras: Query<(&mut ViewerCamera, &mut Camera)>,
    window: Single<&Window, With<PrimaryWindow>>,
    timeline: Res<super::timeline::Timeline>,
    results: Res<super::results::Results>,
    settings: Res<StreamSettings>,
) {
    let Some(free) = free.0 else {
        return;
    };
    if let Ok((_, mut camera)) = cameras.single_mut() {
        let scale = window.scale_factor();
        let mut free = free;
        // Through the ego camera or over a clip, show exactly the streams' frame: letterbox to their aspect.
        let showing_clip = results.showing && results.streams.is_some();
        if (timeline.ego_view && timeline.current_frame().is_some()) || showing_clip {
            let aspect = settings.width as f32 / settings.height as f32;
            let size = if free.width() / free.height() > aspect {
                egui::vec2(free.height() * aspect, free.height())
            } else {
                egui::vec2(free.width(), free.width() / aspect)
            };
            free = egui::Rect::from_center_size(free.center(), size);
        }
        let position = UVec2::new(
            (free.min.x * scale).max(0.0) as u32,
            (free.min.y * scale).max(0.0) as u32,
        );
        let size = UVec2::new(
            ((free.width() * scale) as u32)
                .min(window.physical_width().saturating_sub(position.x))
                .max(1),
            ((free.height() * scale) as u32)
                .min(window.physical_height().saturating_sub(position.y))
                .max(1),
        );
        camera.viewport = Some(Viewport {
            physical_position: position,
            physical_size: size,
            ..default()
        });
    }
}

fn stream_settings_section(
    InMut(ui): InMut<egui::Ui>,
    mut settings: ResMut<StreamSettings>,
    choices: Option<Res<super::generation::GenerationChoices>>,
) {
    let model_frames = choices.map_or(49, |choices| choices.model_frames);
    stream_settings_ui(ui, &mut settings, model_frames);
}

fn stream_settings_ui(ui: &mut egui::Ui, settings: &mut StreamSettings, model_frames: usize) {
    ui.strong("Streams");
    egui::Grid::new("stream_settings")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label("size");
            ui.horizontal(|ui| {
                ui.add(
                    egui::DragValue::new(&mut settings.width)
                        .range(16..=4096)
                        .speed(16),
                );
                ui.label("×");
                ui.add(
                    egui::DragValue::new(&mut settings.height)
                        .range(16..=4096)
                        .speed(16),
                );
            });
            ui.end_row();
            ui.label("frames");
            ui.add(egui::DragValue::new(&mut settings.frame_count).range(1..=1000));
            ui.end_row();
            ui.label("fps");
            ui.add(
                egui::DragValue::new(&mut settings.fps)
                    .range(1.0..=120.0)
                    .speed(0.5),
            );
            ui.end_row();
            ui.label("horizontal FOV");
            ui.add(
                egui::DragValue::new(&mut settings.horizontal_fov_degrees)
                    .range(10.0..=170.0)
                    .suffix("°"),
            );
            ui.end_row();
        });
    let k = settings.intrinsics();
    ui.label(
        egui::RichText::new(format!(
            "fx = fy = {:.1} px, c = ({:.1}, {:.1}); {:.2} s; vertical FOV {:.1}°",
            k.fx,
            k.cx,
            k.cy,
            settings.duration_seconds(),
            k.vertical_fov_degrees()
        ))
        .small()
        .weak(),
    );
    if let Some(issue) = settings.dwm_compatibility_issue(model_frames) {
        ui.colored_label(egui::Color32::from_rgb(230, 180, 80), issue);
    }
    if ui.button("DWM defaults").clicked() {
        *settings = StreamSettings::default();
    }
}
