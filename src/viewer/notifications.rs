//! Toasts: errors and notable facts shown to the user for a few seconds (ERROR and INFO in DESIGN.md's terms).

use bevy::prelude::*;
use bevy_egui::egui;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq)]
pub enum Level {
    Info,
    Error,
}

#[derive(Resource, Default)]
pub struct Notifications {
    entries: Vec<(Level, String, Instant)>,
}

impl Notifications {
    /// An operation failed: shown as an error toast (and logged once, here).
    pub fn error(&mut self, message: String) {
        tracing::error!("{message}");
        self.entries.push((Level::Error, message, Instant::now()));
    }

    pub fn info(&mut self, message: String) {
        tracing::info!("{message}");
        self.entries.push((Level::Info, message, Instant::now()));
    }

    /// Draws the live toasts in the bottom-right corner and forgets old ones.
    pub fn toasts_ui(&mut self, ctx: &egui::Context) {
        let now = Instant::now();
        self.entries.retain(|(level, _, at)| {
            let lifetime = if *level == Level::Error {
                Duration::from_secs(12)
            } else {
                Duration::from_secs(5)
            };
            now.duration_since(*at) < lifetime
        });
        if self.entries.is_empty() {
            return;
        }
        egui::Area::new(egui::Id::new("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -12.0))
            .show(ctx, |ui| {
                for (level, message, _) in &self.entries {
                    let (fill, text) = match level {
                        Level::Error => {
                            (egui::Color32::from_rgb(110, 24, 24), egui::Color32::WHITE)
                        }
                        Level::Info => (egui::Color32::from_rgb(32, 48, 64), egui::Color32::WHITE),
                    };
                    egui::Frame::new()
                        .fill(fill)
                        .corner_radius(4.0)
                        .inner_margin(8.0)
                        .show(ui, |ui| {
                            ui.set_max_width(420.0);
                            ui.colored_label(text, message);
                        });
                    ui.add_space(4.0);
                }
            });
    }
}

/// The notifications and their toasts, drawn over everything after the panels.
pub struct NotificationsPlugin;

impl Plugin for NotificationsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Notifications>().add_systems(
            bevy_egui::EguiPrimaryContextPass,
            show_toasts.after(super::panel::draw_panels),
        );
    }
}

fn show_toasts(
    mut contexts: bevy_egui::EguiContexts,
    mut notifications: ResMut<Notifications>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    notifications.toasts_ui(&ctx);
    Ok(())
}
