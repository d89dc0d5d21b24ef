//! Project files (`format: "handtwin.project"`, version 1): the scene (a path and where it is placed), the
//! actions authored in it, and the viewer's settings, as human-readable JSON saved atomically. Autosave goes to
//! a side file (`<name>.autosave.json`) so it never overwrites what the user saved; the viewer owns the timer.
//!
//! ```json
//! {
//!   "format": "handtwin.project",
//!   "version": 1,
//!   "scene": { "path": "room.ply",
//!              "placement": { "up": "z", "rotation_degrees": [yaw, pitch, roll], "scale": 1.0,
//!                             "translation": [x, y, z] } },
//!   "actions": [ { "name": "open drawer", "action": { "format": "handtwin.action", ... } } ],
//!   "settings": { ... free-form, owned by the viewer ... }
//! }
//! ```
//!
//! A relative scene path is relative to the project file's folder.

use super::action_file::{
    ActionFileError, FileAction, action_from_file, action_to_file, parse_pose,
};
use super::placement::ScenePlacement;
use super::track::Action;
use crate::atomic::write_atomically;
use glam::{Affine3A, Mat4};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const PROJECT_FORMAT: &str = "handtwin.project";

pub type ProjectError = ActionFileError;

/// The scene a project works in.
#[derive(Clone, Debug, PartialEq)]
pub struct SceneReference {
    /// As written in the file: absolute, or relative to the project file's folder.
    pub path: PathBuf,
    /// Where the scene's own frame sits in the world (rigid; the older form of the placement, kept for files
    /// that have it; applied after `placement`).
    pub world_from_scene: Affine3A,
    /// Up axis, rotation, uniform scale and translation into handtwin's world (the viewer's placement panel).
    pub placement: ScenePlacement,
}

impl SceneReference {
    /// The full transform from the scene file's frame to the world.
    pub fn world_from_file(&self) -> Affine3A {
        self.world_from_scene * self.placement.world_from_scene()
    }
}

/// One authored action with its display name.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedAction {
    pub name: String,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    /// `None`: the bundled scene.
    pub scene: Option<SceneReference>,
    pub actions: Vec<NamedAction>,
    /// The viewer's settings (stream size, field of view, …), kept as JSON so the viewer can grow them freely.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Candidate actions to rank against `goal` (the viewer's Candidates window): the same camera path as the
    /// first action, other hands.
    pub candidates: Vec<NamedAction>,
    /// The goal image of the ranking (relative paths are relative to the project file's folder).
    pub goal: Option<PathBuf>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileScene {
    path: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    world_from_scene: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "ScenePlacement::is_identity")]
    placement: ScenePlacement,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNamedAction {
    name: String,
    action: FileAction,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProject {
    format: String,
    version: u32,
    #[serde(default)]
    scene: Option<FileScene>,
    #[serde(default)]
    actions: Vec<FileNamedAction>,
    #[serde(default)]
    settings: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    candidates: Vec<FileNamedAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    goal: Option<PathBuf>,
}

impl Project {
    pub fn load(path: &Path) -> Result<Self, ProjectError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ActionFileError::new(path, e.to_string()))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, ProjectError> {
        let file: FileProject = serde_json::from_str(text)
            .map_err(|e| ActionFileError::new(path, format!("not a valid project file: {e}")))?;
        if file.format != PROJECT_FORMAT {
            return Err(ActionFileError::at(
                path,
                "format",
                format!("is \"{}\", expected \"{PROJECT_FORMAT}\"", file.format),
            ));
        }
        if file.version != 1 {
            return Err(ActionFileError::at(
                path,
                "version",
                format!("{} is not supported (this handtwin reads 1)", file.version),
            ));
        }
        let scene = match file.scene {
            None => None,
            Some(scene) => {
                let world_from_scene = match &scene.world_from_scene {
                    None => Affine3A::IDENTITY,
                    Some(m) => {
                        let (rotation, translation) =
                            parse_pose(Some(m), None, None).map_err(|e| {
                                ActionFileError::at(
                                    path,
                                    "scene.world_from_scene",
                                    e.replace("world_from_camera", "world_from_scene"),
                                )
                            })?;
                        Affine3A::from_rotation_translation(rotation, translation)
                    }
                };
                if let Some(problem) = scene.placement.problem() {
                    return Err(ActionFileError::at(path, "scene.placement", problem));
                }
                Some(SceneReference {
                    path: scene.path,
                    world_from_scene,
                    placement: scene.placement,
                })
            }
        };
        let actions = file
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Ok(NamedAction {
                    name: a.name.clone(),
                    action: action_from_file(&a.action, path, &format!("actions[{i}].action."))?,
                })
            })
            .collect::<Result<_, ProjectError>>()?;
        let candidates = file
            .candidates
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Ok(NamedAction {
                    name: a.name.clone(),
                    action: action_from_file(&a.action, path, &format!("candidates[{i}].action."))?,
                })
            })
            .collect::<Result<_, ProjectError>>()?;
        Ok(Project {
            scene,
            actions,
            settings: file.settings,
            candidates,
            goal: file.goal,
        })
    }

    pub fn to_json(&self) -> String {
        let file = FileProject {
            format: PROJECT_FORMAT.into(),
            version: 1,
            scene: self.scene.as_ref().map(|s| FileScene {
                path: s.path.clone(),
                world_from_scene: (s.world_from_scene != Affine3A::IDENTITY)
                    .then(|| Mat4::from(s.world_from_scene).to_cols_array().to_vec()),
                placement: s.placement,
            }),
            actions: self
                .actions
                .iter()
                .map(|a| FileNamedAction {
                    name: a.name.clone(),
                    action: action_to_file(&a.action),
                })
                .collect(),
            settings: self.settings.clone(),
            candidates: self
                .candidates
                .iter()
                .map(|a| FileNamedAction {
                    name: a.name.clone(),
                    action: action_to_file(&a.action),
                })
                .collect(),
            goal: self.goal.clone(),
        };
        // Strings, finite numbers and JSON values always serialise.
        serde_json::to_string_pretty(&file).unwrap_or_default() + "\n"
    }

    /// Saves atomically (temporary file + fsync + rename): a crash never leaves a half-written project.
    pub fn save(&self, path: &Path) -> Result<(), ProjectError> {
        write_atomically(path, self.to_json().as_bytes())
            .map_err(|e| ActionFileError::new(path, format!("could not save: {e}")))
    }

    /// Saves to the autosave side file of `project_path` (see [`autosave_path`]); returns where it went.
    pub fn autosave(&self, project_path: &Path) -> Result<PathBuf, ProjectError> {
        let side = autosave_path(project_path);
        self.save(&side)?;
        Ok(side)
    }

    /// The scene file to open: a relative path is taken from the project file's folder.
    pub fn scene_file(&self, project_path: &Path) -> Option<PathBuf> {
        self.scene.as_ref().map(|s| match project_path.parent() {
            Some(folder) if s.path.is_relative() => folder.join(&s.path),
            _ => s.path.clone(),
        })
    }

    /// The goal image's path, relative paths taken from the project file's folder.
    pub fn goal_file(&self, project_path: &Path) -> Option<PathBuf> {
        self.goal.as_ref().map(|g| match project_path.parent() {
            Some(folder) if g.is_relative() => folder.join(g),
            _ => g.clone(),
        })
    }
}

/// `<folder>/<stem>.autosave.json` beside the project file (`room.json` → `room.autosave.json`).
pub fn autosave_path(project_path: &Path) -> PathBuf {
    let stem = project_path
        .file_stem()
        .map_or_else(|| "untitled".into(), |s| s.to_string_lossy().into_owned());
    project_path.with_file_name(format!("{stem}.autosave.json"))
}

/// Where the recent-projects list lives: `$XDG_CONFIG_HOME/handtwin/recent_projects.json`, else
/// `~/.config/handtwin/…` (`%APPDATA%\handtwin\…` on Windows). `None` when no home folder is known.
pub fn recent_projects_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("APPDATA")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("handtwin").join("recent_projects.json"))
}

/// The most recently opened projects, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentProjects {
    pub paths: Vec<PathBuf>,
}

impl RecentProjects {
    pub const LIMIT: usize = 10;

    /// Reads the list; a missing file is an empty list.
    pub fn load(path: &Path) -> Result<Self, ProjectError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                ActionFileError::new(path, format!("not a recent-projects list: {e}"))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ActionFileError::new(path, e.to_string())),
        }
    }

    /// Moves `project` to the front (once), keeping at most [`Self::LIMIT`].
    pub fn add(&mut self, project: &Path) {
        self.paths.retain(|p| p != project);
        self.paths.insert(0, project.to_path_buf());
        self.paths.truncate(Self::LIMIT);
    }

    pub fn save(&self, path: &Path) -> Result<(), ProjectError> {
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|e| {
                ActionFileError::new(path, format!("could not create its folder: {e}"))
            })?;
        }
        let text = serde_json::to_string_pretty(self).unwrap_or_default() + "\n";
        write_atomically(path, text.as_bytes())
            .map_err(|e| ActionFileError::new(path, format!("could not save: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{CameraPath, Intrinsics};
    use glam::{Quat, Vec3};

    fn project() -> Project {
        let camera = CameraPath::fixed(
            Affine3A::from_rotation_translation(
                Quat::from_rotation_y(0.4),
                Vec3::new(0.1, 1.55, 0.7),
            ),
            Intrinsics::DWM,
        )
        .unwrap();
        let mut settings = serde_json::Map::new();
        settings.insert("horizontal_fov_degrees".into(), 90.0.into());
        Project {
            scene: Some(SceneReference {
                path: "scenes/room.glb".into(),
                world_from_scene: Affine3A::from_rotation_translation(
                    Quat::from_rotation_y(1.0),
                    Vec3::X,
                ),
                placement: crate::action::ScenePlacement {
                    up: crate::action::UpAxis::Z,
                    rotation_degrees: [10.0, 0.0, -5.0],
                    scale: 0.5,
                    translation: [0.0, 0.1, 0.0],
                },
            }),
            actions: vec![NamedAction {
                name: "look".into(),
                action: Action::new(camera.clone()),
            }],
            settings,
            candidates: vec![NamedAction {
                name: "reach left".into(),
                action: Action::new(camera),
            }],
            goal: Some("room.goal.png".into()),
        }
    }

    #[test]
    fn saves_loads_and_autosaves_beside() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("room.json");
        let project = project();
        project.save(&file).unwrap();
        let again = Project::load(&file).unwrap();
        assert_eq!(again.actions, project.actions);
        assert_eq!(again.settings, project.settings);
        assert_eq!(again.candidates, project.candidates);
        assert_eq!(again.goal, project.goal);
        assert_eq!(
            again.goal_file(&file).unwrap(),
            dir.path().join("room.goal.png")
        );
        let scene = again.scene.as_ref().unwrap();
        assert_eq!(scene.placement, project.scene.as_ref().unwrap().placement);
        assert!(
            scene
                .world_from_scene
                .abs_diff_eq(project.scene.as_ref().unwrap().world_from_scene, 1e-6)
        );
        assert_eq!(
            again.scene_file(&file).unwrap(),
            dir.path().join("scenes/room.glb")
        );
        let side = project.autosave(&file).unwrap();
        assert_eq!(side, dir.path().join("room.autosave.json"));
        assert_eq!(Project::load(&side).unwrap().actions, project.actions);
    }

    #[test]
    fn errors_name_the_action_key() {
        let mut text = project().to_json();
        text = text.replacen("\"fps\": 8.0", "\"fps\": -1.0", 1);
        let error = Project::parse(&text, Path::new("p.json"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("p.json: actions[0].action.fps: must be positive"),
            "{error}"
        );
    }

    #[test]
    fn recent_projects_move_to_front_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config/recent.json");
        let mut recent = RecentProjects::load(&file).unwrap();
        for i in 0..12 {
            recent.add(Path::new(&format!("/p/{i}.json")));
        }
        recent.add(Path::new("/p/5.json"));
        assert_eq!(recent.paths.len(), RecentProjects::LIMIT);
        assert_eq!(recent.paths[0], Path::new("/p/5.json"));
        recent.save(&file).unwrap();
        assert_eq!(RecentProjects::load(&file).unwrap(), recent);
    }
}
