//! Procedural rooms: a back wall, a side wall and a floor, a chest of drawers, a cabinet with a hinged door and
//! a table with objects, laid out and coloured by a room style and jittered by the clip's random generator.

use super::rng::Rng;
use crate::hand::Side;
use crate::scene::primitives::{TriMesh, cuboid, ellipsoid, frustum, torus};
use crate::scene::procedural::{PartMaterial, ProceduralScene, SceneLight};
use glam::{Affine3A, Quat, Vec3};
use serde::{Deserialize, Serialize};

/// The inner face of the back wall (every room faces +Z, the viewer stands at larger z).
const WALL_Z: f32 = -1.0;

/// A room style: a palette and a furniture order. [`ROOM_STYLES`] lists them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoomStyle {
    pub name: &'static str,
    wall: [f32; 3],
    floor: [f32; 3],
    body: [f32; 3],
    front: [f32; 3],
    handle: [f32; 3],
    handle_metallic: f32,
    table_top: [f32; 3],
    table_legs: [f32; 3],
    rug: [f32; 3],
    /// Left-to-right order of chest (0), cabinet (1) and table (2).
    order: [usize; 3],
    /// Side wall on the left (−x) or the right.
    left_wall: bool,
    chest_word: &'static str,
}

pub const ROOM_STYLES: [RoomStyle; 6] = [
    RoomStyle {
        name: "walnut on oak",
        wall: [0.80, 0.78, 0.72],
        floor: [0.42, 0.27, 0.16],
        body: [0.20, 0.11, 0.06],
        front: [0.33, 0.19, 0.10],
        handle: [0.80, 0.78, 0.74],
        handle_metallic: 1.0,
        table_top: [0.55, 0.38, 0.22],
        table_legs: [0.45, 0.30, 0.17],
        rug: [0.12, 0.18, 0.32],
        order: [0, 1, 2],
        left_wall: true,
        chest_word: "chest of drawers",
    },
    RoomStyle {
        name: "white scandinavian",
        wall: [0.72, 0.76, 0.80],
        floor: [0.70, 0.58, 0.42],
        body: [0.85, 0.85, 0.83],
        front: [0.90, 0.90, 0.88],
        handle: [0.10, 0.10, 0.10],
        handle_metallic: 0.0,
        table_top: [0.80, 0.66, 0.48],
        table_legs: [0.85, 0.85, 0.83],
        rug: [0.55, 0.55, 0.52],
        order: [2, 0, 1],
        left_wall: false,
        chest_word: "dresser",
    },
    RoomStyle {
        name: "green lacquer",
        wall: [0.86, 0.80, 0.66],
        floor: [0.30, 0.30, 0.32],
        body: [0.10, 0.28, 0.20],
        front: [0.14, 0.36, 0.26],
        handle: [0.85, 0.65, 0.25],
        handle_metallic: 1.0,
        table_top: [0.25, 0.15, 0.10],
        table_legs: [0.05, 0.05, 0.05],
        rug: [0.50, 0.12, 0.10],
        order: [1, 2, 0],
        left_wall: true,
        chest_word: "chest",
    },
    RoomStyle {
        name: "blue workshop",
        wall: [0.35, 0.45, 0.60],
        floor: [0.55, 0.52, 0.48],
        body: [0.60, 0.62, 0.65],
        front: [0.20, 0.30, 0.55],
        handle: [0.75, 0.75, 0.78],
        handle_metallic: 1.0,
        table_top: [0.65, 0.60, 0.50],
        table_legs: [0.20, 0.20, 0.22],
        rug: [0.20, 0.20, 0.20],
        order: [0, 2, 1],
        left_wall: false,
        chest_word: "drawer unit",
    },
    RoomStyle {
        name: "terracotta pine",
        wall: [0.78, 0.52, 0.40],
        floor: [0.60, 0.45, 0.28],
        body: [0.78, 0.60, 0.36],
        front: [0.72, 0.52, 0.30],
        handle: [0.25, 0.14, 0.08],
        handle_metallic: 0.0,
        table_top: [0.82, 0.66, 0.42],
        table_legs: [0.70, 0.54, 0.32],
        rug: [0.30, 0.40, 0.25],
        order: [2, 1, 0],
        left_wall: true,
        chest_word: "pine chest",
    },
    RoomStyle {
        name: "charcoal modern",
        wall: [0.62, 0.62, 0.60],
        floor: [0.18, 0.16, 0.15],
        body: [0.12, 0.12, 0.13],
        front: [0.22, 0.22, 0.24],
        handle: [0.70, 0.50, 0.30],
        handle_metallic: 1.0,
        table_top: [0.90, 0.90, 0.88],
        table_legs: [0.12, 0.12, 0.13],
        rug: [0.60, 0.48, 0.30],
        order: [1, 0, 2],
        left_wall: false,
        chest_word: "sideboard",
    },
];

pub const ROOM_STYLE_COUNT: usize = ROOM_STYLES.len();

/// What the hand acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Drawer,
    CabinetDoor,
    Mug,
    Apple,
    Bottle,
    Box,
    Book,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 7] = [
        ObjectKind::Drawer,
        ObjectKind::CabinetDoor,
        ObjectKind::Mug,
        ObjectKind::Apple,
        ObjectKind::Bottle,
        ObjectKind::Box,
        ObjectKind::Book,
    ];

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|&k| k == self).unwrap_or(0)
    }

    pub fn from_index(index: usize) -> ObjectKind {
        Self::ALL[index % Self::ALL.len()]
    }

    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::Drawer => "drawer",
            ObjectKind::CabinetDoor => "cabinet door",
            ObjectKind::Mug => "mug",
            ObjectKind::Apple => "apple",
            ObjectKind::Bottle => "bottle",
            ObjectKind::Box => "box",
            ObjectKind::Book => "book",
        }
    }
}

pub const OBJECT_KIND_COUNT: usize = ObjectKind::ALL.len();

/// How the target moves when acted on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Motion {
    /// Slides along `direction` (a drawer).
    Slide { direction: Vec3 },
    /// Turns about the vertical axis through `pivot`; `opening` (±1) is the sign of the angle that opens it.
    Hinge { pivot: Vec3, opening: f32 },
    /// A loose object on a table.
    Free,
}

/// How a hand holds the target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Grip {
    /// A horizontal bar facing the viewer (drawer handle): palm to the bar, fingers down behind it.
    HorizontalBar,
    /// A vertical bar facing the viewer (door handle), wrapped from the side.
    VerticalBar,
    /// A standing cylinder of this radius, wrapped from the side.
    Side { radius: f32 },
    /// From above, palm down, over an object whose top is `half_height` above the grasp point.
    Top { half_height: f32 },
}

/// The object the clip acts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub kind: ObjectKind,
    /// Words for the prompt: "top drawer of the chest", "mug".
    pub description: String,
    /// The scene parts that move together.
    pub parts: Vec<usize>,
    pub motion: Motion,
    pub grip: Grip,
    /// Where the hand closes (world): handle centre, or the object's centre at grasp height.
    pub grasp_point: Vec3,
    /// Horizontal unit vector from the target towards where a person stands.
    pub facing: Vec3,
    /// Loose objects: the table's usable top, (x_min, x_max, z_min, z_max), and the object's half width.
    pub table: Option<(f32, f32, f32, f32)>,
    pub half_width: f32,
}

/// A built room: the scene and the target.
#[derive(Clone, Debug)]
pub struct Room {
    pub scene: ProceduralScene,
    pub target: Target,
    /// Every drawer of the chest, top to bottom (the target among them when it is a drawer): the other targets
    /// of `handtwin synth --alternatives K` in a drawer room.
    pub drawers: Vec<Target>,
}

fn at(x: f32, y: f32, z: f32) -> Affine3A {
    Affine3A::from_translation(Vec3::new(x, y, z))
}

/// A loose object's mesh (origin at the bottom centre), its half width and height.
fn object_mesh(kind: ObjectKind) -> (TriMesh, f32, f32) {
    match kind {
        ObjectKind::Mug => {
            let mut mesh = frustum(0.045, 0.048, 0.10, 32);
            mesh.append(
                &torus(0.032, 0.009, 20, 8),
                Quat::IDENTITY,
                Vec3::new(0.055, 0.05, 0.0),
            );
            (mesh, 0.048, 0.10)
        }
        ObjectKind::Apple => {
            let mut mesh = TriMesh::default();
            mesh.append(
                &ellipsoid(Vec3::new(0.045, 0.042, 0.045), 12, 18),
                Quat::IDENTITY,
                Vec3::new(0.0, 0.042, 0.0),
            );
            mesh.append(
                &frustum(0.004, 0.003, 0.02, 6),
                Quat::IDENTITY,
                Vec3::new(0.0, 0.08, 0.0),
            );
            (mesh, 0.045, 0.084)
        }
        ObjectKind::Bottle => {
            let mut mesh = frustum(0.038, 0.038, 0.17, 24);
            mesh.append(
                &frustum(0.038, 0.014, 0.04, 24),
                Quat::IDENTITY,
                Vec3::new(0.0, 0.17, 0.0),
            );
            mesh.append(
                &frustum(0.014, 0.014, 0.04, 12),
                Quat::IDENTITY,
                Vec3::new(0.0, 0.21, 0.0),
            );
            (mesh, 0.038, 0.25)
        }
        ObjectKind::Box => {
            let mut mesh = TriMesh::default();
            mesh.append(
                &cuboid(Vec3::new(0.13, 0.09, 0.11)),
                Quat::IDENTITY,
                Vec3::new(0.0, 0.045, 0.0),
            );
            (mesh, 0.065, 0.09)
        }
        ObjectKind::Book | ObjectKind::Drawer | ObjectKind::CabinetDoor => {
            let mut mesh = TriMesh::default();
            mesh.append(
                &cuboid(Vec3::new(0.22, 0.04, 0.16)),
                Quat::IDENTITY,
                Vec3::new(0.0, 0.02, 0.0),
            );
            (mesh, 0.11, 0.04)
        }
    }
}

/// Bright object colours (linear RGB).
const OBJECT_COLORS: [[f32; 3]; 10] = [
    [0.70, 0.08, 0.05],
    [0.05, 0.25, 0.65],
    [0.85, 0.75, 0.10],
    [0.10, 0.50, 0.15],
    [0.85, 0.85, 0.82],
    [0.60, 0.25, 0.60],
    [0.90, 0.40, 0.05],
    [0.05, 0.45, 0.50],
    [0.15, 0.15, 0.15],
    [0.55, 0.35, 0.20],
];

fn object_color(kind: ObjectKind, rng: &mut Rng) -> [f32; 3] {
    match kind {
        ObjectKind::Apple => {
            let choices = [[0.60, 0.04, 0.03], [0.35, 0.60, 0.08], [0.80, 0.55, 0.05]];
            let choice = choices[rng.below(choices.len())];
            rng.jitter_color(choice, 0.1)
        }
        ObjectKind::Box => rng.jitter_color([0.60, 0.42, 0.22], 0.15),
        _ => {
            let choice = OBJECT_COLORS[rng.below(OBJECT_COLORS.len())];
            rng.jitter_color(choice, 0.1)
        }
    }
}

/// Builds room `style` with the target `kind`, for a hand on `acting` side (a door opens away from it).
pub fn build_room(style: usize, kind: ObjectKind, acting: Side, rng: &mut Rng) -> Room {
    let s = ROOM_STYLES[style % ROOM_STYLE_COUNT];
    let mut scene = ProceduralScene::default();
    let jitter = |rng: &mut Rng, c: [f32; 3]| rng.jitter_color(c, 0.12);

    // Shell.
    let wall = PartMaterial::matte(jitter(rng, s.wall));
    let floor = PartMaterial {
        roughness: 0.6,
        ..PartMaterial::matte(jitter(rng, s.floor))
    };
    let side_x: f32 = if s.left_wall { -2.0 } else { 2.0 };
    scene.add(
        "floor",
        cuboid(Vec3::new(4.2, 0.02, 3.6)),
        floor,
        at(0.0, -0.01, WALL_Z + 1.8),
    );
    scene.add(
        "back_wall",
        cuboid(Vec3::new(4.2, 2.6, 0.1)),
        wall,
        at(0.0, 1.3, WALL_Z - 0.05),
    );
    scene.add(
        "side_wall",
        cuboid(Vec3::new(0.1, 2.6, 3.6)),
        wall,
        at(side_x + side_x.signum() * 0.05, 1.3, WALL_Z + 1.8),
    );
    scene.add(
        "baseboard",
        cuboid(Vec3::new(4.0, 0.09, 0.015)),
        PartMaterial::matte([0.85, 0.85, 0.83]),
        at(0.0, 0.045, WALL_Z + 0.008),
    );
    scene.add(
        "rug",
        cuboid(Vec3::new(rng.range(1.4, 2.2), 0.008, rng.range(1.0, 1.5))),
        PartMaterial {
            roughness: 0.95,
            ..PartMaterial::matte(jitter(rng, s.rug))
        },
        at(rng.range(-0.5, 0.5), 0.004, WALL_Z + 1.1),
    );
    let picture_x = rng.range(-0.8, 0.8);
    scene.add(
        "picture_frame",
        cuboid(Vec3::new(0.6, 0.42, 0.024)),
        PartMaterial::matte([0.04, 0.04, 0.04]),
        at(picture_x, 1.6, WALL_Z + 0.012),
    );
    scene.add(
        "picture",
        cuboid(Vec3::new(0.52, 0.34, 0.024)),
        PartMaterial::matte(OBJECT_COLORS[rng.below(OBJECT_COLORS.len())]),
        at(picture_x, 1.6, WALL_Z + 0.016),
    );

    // Furniture widths, then positions left to right with random gaps.
    let chest = (rng.range(0.8, 1.0), rng.range(0.78, 0.9), 0.45);
    let cabinet = (rng.range(0.45, 0.58), rng.range(0.72, 0.9), 0.42);
    let table = (
        rng.range(1.0, 1.25),
        rng.range(0.62, 0.75),
        rng.range(0.72, 0.78),
    );
    let widths = [chest.0, cabinet.0, table.0];
    let mut x = -(widths.iter().sum::<f32>() + 0.5) * 0.5 + rng.range(-0.15, 0.15);
    let mut centres = [0.0f32; 3];
    for &item in &s.order {
        centres[item] = x + widths[item] * 0.5;
        x += widths[item] + rng.range(0.15, 0.3);
    }

    let body = PartMaterial {
        roughness: 0.55,
        ..PartMaterial::matte(jitter(rng, s.body))
    };
    let front = PartMaterial {
        roughness: 0.5,
        ..PartMaterial::matte(jitter(rng, s.front))
    };
    let handle = PartMaterial {
        base_color: s.handle,
        metallic: s.handle_metallic,
        roughness: 0.35,
    };
    let interior = PartMaterial::matte(rng.jitter_color([0.75, 0.62, 0.45], 0.1));

    // Chest of drawers: a solid body, three drawers that slide along +z.
    let (cw, ch, cd) = chest;
    let foot = 0.06;
    let chest_back = WALL_Z + 0.02;
    let chest_front = chest_back + cd;
    let cx = centres[0];
    scene.add(
        "chest/body",
        cuboid(Vec3::new(cw, ch, cd)),
        body,
        at(cx, foot + ch * 0.5, chest_back + cd * 0.5),
    );
    scene.add(
        "chest/top",
        cuboid(Vec3::new(cw + 0.04, 0.03, cd + 0.03)),
        body,
        at(cx, foot + ch + 0.015, chest_back + cd * 0.5 + 0.01),
    );
    for (i, dx) in [-1.0f32, 1.0].into_iter().enumerate() {
        scene.add(
            format!("chest/plinth_{i}"),
            cuboid(Vec3::new(0.06, foot, cd - 0.04)),
            body,
            at(
                cx + dx * (cw * 0.5 - 0.05),
                foot * 0.5,
                chest_back + cd * 0.5,
            ),
        );
    }
    let drawer_height = (ch - 0.06) / 3.0;
    let target_drawer = rng.below(2); // 0 top, 1 middle: in reach and in view
    let mut drawers = Vec::with_capacity(3);
    for i in 0..3 {
        let y = foot + ch - 0.03 - drawer_height * (i as f32 + 0.5);
        let z = chest_front + 0.011;
        let mut parts = Vec::new();
        let fw = cw - 0.05;
        let fh = drawer_height - 0.022;
        parts.push(scene.add(
            format!("chest/drawer_{}/front", i + 1),
            cuboid(Vec3::new(fw, fh, 0.022)),
            front,
            at(cx, y, z),
        ));
        let mut bar = TriMesh::default();
        bar.append(
            &cuboid(Vec3::new(0.16, 0.018, 0.016)),
            Quat::IDENTITY,
            Vec3::new(0.0, 0.0, 0.045),
        );
        for hx in [-0.07, 0.07] {
            bar.append(
                &cuboid(Vec3::new(0.014, 0.014, 0.04)),
                Quat::IDENTITY,
                Vec3::new(hx, 0.0, 0.025),
            );
        }
        parts.push(scene.add(
            format!("chest/drawer_{}/handle", i + 1),
            bar,
            handle,
            at(cx, y, z),
        ));
        // The box behind the front: hidden inside the body until pulled out.
        let box_depth = cd - 0.08;
        let box_height = fh - 0.05;
        let box_z = z - 0.011 - box_depth * 0.5;
        for (name, size, offset) in [
            (
                "left",
                Vec3::new(0.015, box_height, box_depth),
                Vec3::new(-(fw * 0.5 - 0.03), 0.0, 0.0),
            ),
            (
                "right",
                Vec3::new(0.015, box_height, box_depth),
                Vec3::new(fw * 0.5 - 0.03, 0.0, 0.0),
            ),
            (
                "bottom",
                Vec3::new(fw - 0.06, 0.012, box_depth),
                Vec3::new(0.0, -box_height * 0.5, 0.0),
            ),
            (
                "back",
                Vec3::new(fw - 0.06, box_height, 0.015),
                Vec3::new(0.0, 0.0, -box_depth * 0.5),
            ),
        ] {
            parts.push(scene.add(
                format!("chest/drawer_{}/{name}", i + 1),
                cuboid(size),
                interior,
                at(cx + offset.x, y - 0.01 + offset.y, box_z + offset.z),
            ));
        }
        drawers.push(Target {
            kind: ObjectKind::Drawer,
            description: format!(
                "{} drawer of the {}",
                ["top", "middle", "bottom"][i],
                s.chest_word
            ),
            parts,
            motion: Motion::Slide { direction: Vec3::Z },
            grip: Grip::HorizontalBar,
            grasp_point: Vec3::new(cx, y, z + 0.045),
            facing: Vec3::Z,
            table: None,
            half_width: fw * 0.5,
        });
    }
    let drawer_target = drawers.get(target_drawer).cloned();
    // Something on the chest.
    let deco_x = cx + rng.range(-0.25, 0.25) * cw;
    scene.add(
        "chest/vase",
        frustum(0.05, 0.035, rng.range(0.12, 0.25), 20),
        PartMaterial::matte(OBJECT_COLORS[rng.below(OBJECT_COLORS.len())]),
        at(deco_x, foot + ch + 0.03, chest_back + cd * 0.5),
    );

    // Cabinet: hollow, with a shelf and a jar inside, and one hinged door.
    let (kw, kh, kd) = cabinet;
    let kx = centres[1];
    let kb = WALL_Z + 0.02;
    let t = 0.02;
    let legs = 0.08;
    for (name, size, centre) in [
        (
            "back",
            Vec3::new(kw, kh, t),
            Vec3::new(kx, legs + kh * 0.5, kb + t * 0.5),
        ),
        (
            "left",
            Vec3::new(t, kh, kd),
            Vec3::new(kx - kw * 0.5 + t * 0.5, legs + kh * 0.5, kb + kd * 0.5),
        ),
        (
            "right",
            Vec3::new(t, kh, kd),
            Vec3::new(kx + kw * 0.5 - t * 0.5, legs + kh * 0.5, kb + kd * 0.5),
        ),
        (
            "top",
            Vec3::new(kw + 0.02, t, kd + 0.01),
            Vec3::new(kx, legs + kh - t * 0.5, kb + kd * 0.5),
        ),
        (
            "bottom",
            Vec3::new(kw, t, kd),
            Vec3::new(kx, legs + t * 0.5, kb + kd * 0.5),
        ),
        (
            "shelf",
            Vec3::new(kw - 2.0 * t, t, kd - t),
            Vec3::new(kx, legs + kh * 0.5, kb + kd * 0.5),
        ),
        (
            "plinth",
            Vec3::new(kw - 0.04, legs, kd - 0.04),
            Vec3::new(kx, legs * 0.5, kb + kd * 0.5),
        ),
    ] {
        let material = if name == "back" || name == "shelf" {
            interior
        } else {
            body
        };
        scene.add(
            format!("cabinet/{name}"),
            cuboid(size),
            material,
            Affine3A::from_translation(centre),
        );
    }
    scene.add(
        "cabinet/jar",
        frustum(0.05, 0.05, 0.12, 20),
        PartMaterial::matte(OBJECT_COLORS[rng.below(OBJECT_COLORS.len())]),
        at(
            kx + rng.range(-0.1, 0.1),
            legs + kh * 0.5 + t * 0.5,
            kb + kd * 0.5,
        ),
    );
    // The door opens away from the acting hand's side: hinge on the left for the right hand.
    let hinge_left = acting == Side::Right;
    let door_front = kb + kd + 0.012;
    let door_w = kw - 0.01;
    let door_h = kh - 0.02;
    let door_y = legs + kh * 0.5;
    let hinge_x = if hinge_left {
        kx - kw * 0.5
    } else {
        kx + kw * 0.5
    };
    let free_dir = if hinge_left { 1.0 } else { -1.0 };
    let handle_x = hinge_x + free_dir * (door_w - 0.06);
    let door_panel = scene.add(
        "cabinet/door",
        cuboid(Vec3::new(door_w, door_h, 0.02)),
        front,
        at(hinge_x + free_dir * door_w * 0.5, door_y, door_front),
    );
    let mut vbar = TriMesh::default();
    vbar.append(
        &cuboid(Vec3::new(0.016, 0.14, 0.016)),
        Quat::IDENTITY,
        Vec3::new(0.0, 0.0, 0.04),
    );
    for hy in [-0.06, 0.06] {
        vbar.append(
            &cuboid(Vec3::new(0.014, 0.014, 0.035)),
            Quat::IDENTITY,
            Vec3::new(0.0, hy, 0.02),
        );
    }
    let handle_y = door_y + rng.range(-0.05, 0.1);
    let door_handle = scene.add(
        "cabinet/door_handle",
        vbar,
        handle,
        at(handle_x, handle_y, door_front),
    );
    let door_target = Target {
        kind: ObjectKind::CabinetDoor,
        description: "cabinet door".into(),
        parts: vec![door_panel, door_handle],
        motion: Motion::Hinge {
            pivot: Vec3::new(hinge_x, door_y, door_front),
            // Opening swings the free edge towards the viewer (+z).
            opening: if hinge_left { -1.0 } else { 1.0 },
        },
        grip: Grip::VerticalBar,
        grasp_point: Vec3::new(handle_x, handle_y, door_front + 0.04),
        facing: Vec3::Z,
        table: None,
        half_width: door_w * 0.5,
    };

    // Table with objects.
    let (tw, td, th) = table;
    let tx = centres[2];
    let tz = WALL_Z + 0.06 + td * 0.5;
    let top_y = th + 0.04;
    scene.add(
        "table/top",
        cuboid(Vec3::new(tw, 0.04, td)),
        PartMaterial {
            roughness: 0.45,
            ..PartMaterial::matte(jitter(rng, s.table_top))
        },
        at(tx, th + 0.02, tz),
    );
    let legs_material = PartMaterial::matte(jitter(rng, s.table_legs));
    for (i, (lx, lz)) in [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)]
        .into_iter()
        .enumerate()
    {
        scene.add(
            format!("table/leg_{i}"),
            cuboid(Vec3::new(0.05, th, 0.05)),
            legs_material,
            at(
                tx + lx * (tw * 0.5 - 0.06),
                th * 0.5,
                tz + lz * (td * 0.5 - 0.06),
            ),
        );
    }
    let table_bounds = (
        tx - tw * 0.5 + 0.08,
        tx + tw * 0.5 - 0.08,
        tz - td * 0.5 + 0.08,
        tz + td * 0.5 - 0.06,
    );
    // The target sits in the front half, near the middle; distractors along the back half.
    let mut table_target = None;
    let loose_kinds = [
        ObjectKind::Mug,
        ObjectKind::Apple,
        ObjectKind::Bottle,
        ObjectKind::Box,
        ObjectKind::Book,
    ];
    if loose_kinds.contains(&kind) {
        let (mesh, half_width, height) = object_mesh(kind);
        let x = tx + rng.range(-0.12, 0.12);
        let z = tz + td * 0.5 - 0.2 + rng.range(-0.03, 0.03);
        let yaw = rng.range(-0.6, 0.6);
        let part = scene.add(
            format!("table/{}", kind.noun()),
            mesh,
            PartMaterial {
                roughness: rng.range(0.25, 0.7),
                ..PartMaterial::matte(object_color(kind, rng))
            },
            Affine3A::from_rotation_translation(Quat::from_rotation_y(yaw), Vec3::new(x, top_y, z)),
        );
        let grip = match kind {
            ObjectKind::Mug | ObjectKind::Bottle => Grip::Side { radius: half_width },
            _ => Grip::Top {
                half_height: height * 0.5,
            },
        };
        let grasp_height = match kind {
            ObjectKind::Bottle => 0.09,
            _ => height * 0.5,
        };
        table_target = Some(Target {
            kind,
            description: kind.noun().into(),
            parts: vec![part],
            motion: Motion::Free,
            grip,
            grasp_point: Vec3::new(x, top_y + grasp_height, z),
            facing: Vec3::Z,
            table: Some(table_bounds),
            half_width,
        });
    }
    let distractors = 2 + rng.below(3);
    for i in 0..distractors {
        let choice = [
            ObjectKind::Mug,
            ObjectKind::Apple,
            ObjectKind::Bottle,
            ObjectKind::Box,
            ObjectKind::Book,
        ][rng.below(5)];
        let (mesh, _, _) = object_mesh(choice);
        let fraction = (i as f32 + rng.range(0.2, 0.8)) / distractors as f32;
        let x = table_bounds.0 + (table_bounds.1 - table_bounds.0) * fraction;
        let z = tz - td * 0.5 + rng.range(0.1, 0.2);
        scene.add(
            format!("table/distractor_{i}"),
            mesh,
            PartMaterial::matte(object_color(choice, rng)),
            Affine3A::from_rotation_translation(
                Quat::from_rotation_y(rng.range(-1.5, 1.5)),
                Vec3::new(x, top_y, z),
            ),
        );
    }

    // Light: a sun from the front, a warm ceiling light, ambient.
    let sun_direction = Vec3::new(
        rng.range(-0.7, 0.7),
        rng.range(-0.9, -0.4),
        rng.range(-0.9, -0.3),
    )
    .normalize();
    scene.lights.push(SceneLight::Directional {
        direction: sun_direction,
        color: rng.jitter_color([1.0, 0.95, 0.88], 0.08),
        illuminance_lux: rng.range(1500.0, 4500.0),
    });
    scene.lights.push(SceneLight::Point {
        position: Vec3::new(rng.range(-1.0, 1.0), 2.3, WALL_Z + rng.range(0.6, 1.4)),
        color: rng.jitter_color([1.0, 0.85, 0.7], 0.1),
        intensity_lumens: rng.range(1500.0, 6000.0),
        range: 8.0,
    });
    scene.ambient_color = rng.jitter_color([1.0, 1.0, 1.0], 0.08);
    scene.ambient_brightness = rng.range(150.0, 450.0);

    let target = match kind {
        ObjectKind::Drawer => drawer_target,
        ObjectKind::CabinetDoor => Some(door_target.clone()),
        _ => table_target,
    }
    // Every kind has a target built above; the door is a harmless fallback.
    .unwrap_or(door_target);
    Room {
        scene,
        target,
        drawers,
    }
}
