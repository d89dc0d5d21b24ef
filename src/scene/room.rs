//! The bundled default scene: a furnished room corner, built by our own code and shipped as
//! `assets/scenes/room_corner.glb` (regenerate with `cargo run --example make_default_scene`).
//!
//! World frame: +Y up, metres. The floor is y = 0; the back wall is the plane z = −2.5 and the left wall
//! x = −2.0, so a viewer standing near the origin looking down −Z sees the corner. Node names are stable
//! (`chest/drawer_1`, `table/mug`, …) so later code can move parts (drawers slide along +Z).

use super::glb::{Light, Material, Node, write_glb};
use super::primitives::{TriMesh, cuboid, ellipsoid, frustum, torus};
use glam::{Quat, Vec3};

/// The room's materials, in document order; `M::*` index them.
struct M;
impl M {
    const FLOOR: usize = 0;
    const WALL: usize = 1;
    const TRIM: usize = 2;
    const WALNUT: usize = 3;
    const DRAWER: usize = 4;
    const METAL: usize = 5;
    const OAK: usize = 6;
    const RUG: usize = 7;
    const CERAMIC: usize = 8;
    const APPLE: usize = 9;
    const BOOK_RED: usize = 10;
    const BOOK_BLUE: usize = 11;
    const GLASS_GREEN: usize = 12;
    const SHADE: usize = 13;
    const TERRACOTTA: usize = 14;
    const LEAVES: usize = 15;
    const FRAME: usize = 16;
    const CANVAS: usize = 17;
    const BOWL: usize = 18;
}

fn materials() -> Vec<Material> {
    let m = |name: &str, rgb: [f32; 3], metallic: f32, roughness: f32| Material {
        name: name.into(),
        base_color: [rgb[0], rgb[1], rgb[2], 1.0],
        metallic,
        roughness,
    };
    vec![
        m("floor_wood", [0.42, 0.27, 0.16], 0.0, 0.62),
        m("wall_paint", [0.80, 0.78, 0.72], 0.0, 0.9),
        m("trim_white", [0.88, 0.88, 0.86], 0.0, 0.5),
        m("walnut", [0.20, 0.11, 0.06], 0.0, 0.55),
        m("drawer_front", [0.33, 0.19, 0.10], 0.0, 0.5),
        m("brushed_metal", [0.80, 0.78, 0.74], 1.0, 0.35),
        m("oak", [0.55, 0.38, 0.22], 0.0, 0.5),
        m("rug_wool", [0.12, 0.18, 0.32], 0.0, 0.95),
        m("ceramic_white", [0.85, 0.85, 0.82], 0.0, 0.25),
        m("apple_red", [0.55, 0.04, 0.03], 0.0, 0.4),
        m("book_red", [0.45, 0.06, 0.05], 0.0, 0.7),
        m("book_blue", [0.06, 0.14, 0.40], 0.0, 0.7),
        m("bottle_glass", [0.06, 0.30, 0.12], 0.0, 0.15),
        m("lamp_shade", [0.90, 0.84, 0.66], 0.0, 0.8),
        m("terracotta", [0.55, 0.22, 0.11], 0.0, 0.85),
        m("leaves", [0.10, 0.30, 0.08], 0.0, 0.75),
        m("frame_black", [0.03, 0.03, 0.03], 0.0, 0.4),
        m("canvas_print", [0.25, 0.45, 0.60], 0.0, 0.8),
        m("bowl_glaze", [0.70, 0.52, 0.20], 0.0, 0.3),
    ]
}

const BACK_WALL_Z: f32 = -2.5;
const LEFT_WALL_X: f32 = -2.0;

fn block(name: &str, centre: Vec3, size: Vec3, material: usize) -> Node {
    Node::mesh(name, centre, cuboid(size), material)
}

/// A chest of three drawers against the back wall. Each drawer is its own node (front + handle) so it can slide.
fn chest_of_drawers() -> Node {
    let (width, height, depth) = (0.9_f32, 0.8_f32, 0.45_f32);
    let foot = 0.06;
    let front_z = depth * 0.5;
    let mut children = vec![block(
        "body",
        Vec3::new(0.0, foot + height * 0.5, 0.0),
        Vec3::new(width, height, depth),
        M::WALNUT,
    )];
    children.push(block(
        "top",
        Vec3::new(0.0, foot + height + 0.015, 0.01),
        Vec3::new(width + 0.04, 0.03, depth + 0.03),
        M::WALNUT,
    ));
    for (i, (x, z)) in [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)]
        .into_iter()
        .enumerate()
    {
        let centre = Vec3::new(
            x * (width * 0.5 - 0.05),
            foot * 0.5,
            z * (depth * 0.5 - 0.05),
        );
        children.push(block(
            &format!("foot_{}", i + 1),
            centre,
            Vec3::new(0.05, foot, 0.05),
            M::WALNUT,
        ));
    }
    let drawer_height = (height - 0.08) / 3.0;
    for i in 0..3 {
        let y = foot + 0.04 + drawer_height * (i as f32 + 0.5);
        let front = block(
            "front",
            Vec3::ZERO,
            Vec3::new(width - 0.06, drawer_height - 0.025, 0.02),
            M::DRAWER,
        );
        let mut handle = TriMesh::default();
        handle.append(
            &cuboid(Vec3::new(0.20, 0.018, 0.014)),
            Quat::IDENTITY,
            Vec3::new(0.0, 0.0, 0.045),
        );
        for x in [-0.09, 0.09] {
            handle.append(
                &cuboid(Vec3::new(0.014, 0.014, 0.035)),
                Quat::IDENTITY,
                Vec3::new(x, 0.0, 0.025),
            );
        }
        let handle = Node::mesh("handle", Vec3::ZERO, handle, M::METAL);
        // Drawer 1 is the top one, as people count them.
        children.push(Node::group(
            &format!("drawer_{}", 3 - i),
            Vec3::new(0.0, y, front_z + 0.01),
            vec![front, handle],
        ));
    }
    Node::group(
        "chest",
        Vec3::new(-0.9, 0.0, BACK_WALL_Z + depth * 0.5 + 0.02),
        children,
    )
}

/// A mug: a ceramic cylinder with a torus handle.
fn mug() -> TriMesh {
    let mut mesh = frustum(0.04, 0.043, 0.095, 32);
    mesh.append(
        &torus(0.03, 0.008, 24, 10),
        Quat::IDENTITY,
        Vec3::new(0.05, 0.05, 0.0),
    );
    mesh
}

fn table_with_objects() -> Node {
    let (width, depth, height, top) = (1.2_f32, 0.75_f32, 0.74_f32, 0.04_f32);
    let surface = height + top;
    let mut children = vec![block(
        "top",
        Vec3::new(0.0, height + top * 0.5, 0.0),
        Vec3::new(width, top, depth),
        M::OAK,
    )];
    for (i, (x, z)) in [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)]
        .into_iter()
        .enumerate()
    {
        let centre = Vec3::new(
            x * (width * 0.5 - 0.06),
            height * 0.5,
            z * (depth * 0.5 - 0.06),
        );
        children.push(block(
            &format!("leg_{}", i + 1),
            centre,
            Vec3::new(0.05, height, 0.05),
            M::OAK,
        ));
    }
    children.push(
        Node::mesh("mug", Vec3::new(-0.32, surface, 0.12), mug(), M::CERAMIC)
            .with_rotation(Quat::from_rotation_y(-0.6)),
    );
    let mut bowl = frustum(0.05, 0.095, 0.065, 40);
    bowl.append(
        &frustum(0.052, 0.052, 0.004, 40),
        Quat::IDENTITY,
        Vec3::new(0.0, 0.0, 0.0),
    );
    children.push(Node::mesh(
        "bowl",
        Vec3::new(0.05, surface, -0.1),
        bowl,
        M::BOWL,
    ));
    children.push(Node::mesh(
        "apple",
        Vec3::new(0.03, surface + 0.095, -0.09),
        ellipsoid(Vec3::new(0.038, 0.035, 0.038), 16, 24),
        M::APPLE,
    ));
    children.push(block(
        "book_1",
        Vec3::new(0.38, surface + 0.0175, 0.08),
        Vec3::new(0.24, 0.035, 0.17),
        M::BOOK_RED,
    ));
    children.push(
        block(
            "book_2",
            Vec3::new(0.39, surface + 0.0525, 0.07),
            Vec3::new(0.21, 0.035, 0.15),
            M::BOOK_BLUE,
        )
        .with_rotation(Quat::from_rotation_y(0.25)),
    );
    let mut bottle = frustum(0.034, 0.034, 0.19, 32);
    bottle.append(
        &frustum(0.034, 0.013, 0.04, 32),
        Quat::IDENTITY,
        Vec3::new(0.0, 0.19, 0.0),
    );
    bottle.append(
        &frustum(0.013, 0.013, 0.05, 24),
        Quat::IDENTITY,
        Vec3::new(0.0, 0.23, 0.0),
    );
    children.push(Node::mesh(
        "bottle",
        Vec3::new(-0.42, surface, -0.22),
        bottle,
        M::GLASS_GREEN,
    ));
    Node::group("table", Vec3::new(0.55, 0.0, -1.35), children)
}

fn decorations_on_chest(chest_top: f32) -> Vec<Node> {
    let mut lamp = frustum(0.07, 0.07, 0.02, 32);
    lamp.append(
        &frustum(0.01, 0.01, 0.30, 12),
        Quat::IDENTITY,
        Vec3::new(0.0, 0.02, 0.0),
    );
    let lamp_base = Node::mesh("base", Vec3::ZERO, lamp, M::METAL);
    let shade = Node::mesh(
        "shade",
        Vec3::new(0.0, 0.25, 0.0),
        frustum(0.12, 0.07, 0.15, 32),
        M::SHADE,
    );
    let lamp = Node::group(
        "lamp",
        Vec3::new(-1.17, chest_top, BACK_WALL_Z + 0.22),
        vec![lamp_base, shade],
    );
    let pot = Node::mesh(
        "pot",
        Vec3::ZERO,
        frustum(0.06, 0.08, 0.12, 32),
        M::TERRACOTTA,
    );
    let leaves = Node::mesh(
        "leaves",
        Vec3::new(0.0, 0.2, 0.0),
        ellipsoid(Vec3::new(0.11, 0.13, 0.11), 12, 18),
        M::LEAVES,
    );
    let plant = Node::group(
        "plant",
        Vec3::new(-0.62, chest_top, BACK_WALL_Z + 0.25),
        vec![pot, leaves],
    );
    vec![lamp, plant]
}

fn room_shell() -> Vec<Node> {
    let (x0, x1, z0, z1, height) = (LEFT_WALL_X, 2.0_f32, BACK_WALL_Z, 1.5_f32, 2.6_f32);
    let (cx, cz) = ((x0 + x1) * 0.5, (z0 + z1) * 0.5);
    let (w, d) = (x1 - x0, z1 - z0);
    vec![
        block(
            "floor",
            Vec3::new(cx, -0.01, cz),
            Vec3::new(w + 0.2, 0.02, d + 0.2),
            M::FLOOR,
        ),
        block(
            "back_wall",
            Vec3::new(cx, height * 0.5, z0 - 0.05),
            Vec3::new(w + 0.2, height, 0.1),
            M::WALL,
        ),
        block(
            "left_wall",
            Vec3::new(x0 - 0.05, height * 0.5, cz),
            Vec3::new(0.1, height, d),
            M::WALL,
        ),
        block(
            "ceiling",
            Vec3::new(cx, height + 0.05, cz),
            Vec3::new(w + 0.2, 0.1, d + 0.2),
            M::TRIM,
        ),
        block(
            "back_baseboard",
            Vec3::new(cx, 0.05, z0 + 0.008),
            Vec3::new(w, 0.1, 0.016),
            M::TRIM,
        ),
        block(
            "left_baseboard",
            Vec3::new(x0 + 0.008, 0.05, cz),
            Vec3::new(0.016, 0.1, d),
            M::TRIM,
        ),
        block(
            "rug",
            Vec3::new(0.55, 0.004, -1.3),
            Vec3::new(1.9, 0.008, 1.4),
            M::RUG,
        ),
        Node::group(
            "picture",
            Vec3::new(0.45, 1.55, z0 + 0.012),
            vec![
                block("frame", Vec3::ZERO, Vec3::new(0.7, 0.5, 0.024), M::FRAME),
                block(
                    "canvas",
                    Vec3::new(0.0, 0.0, 0.004),
                    Vec3::new(0.62, 0.42, 0.024),
                    M::CANVAS,
                ),
            ],
        ),
    ]
}

fn lights() -> Vec<Node> {
    // Daylight through an imagined window behind and to the right of the viewer, plus a warm ceiling light.
    let sun_direction = Vec3::new(-0.6, -0.42, -0.68).normalize();
    let sun = Node {
        name: "sun".into(),
        rotation: Quat::from_rotation_arc(Vec3::NEG_Z, sun_direction),
        light: Some(Light::Directional {
            color: [1.0, 0.96, 0.9],
            illuminance_lux: 3000.0,
        }),
        ..Default::default()
    };
    let ceiling = Node {
        name: "ceiling_light".into(),
        translation: Vec3::new(0.0, 2.4, -1.0),
        light: Some(Light::Point {
            color: [1.0, 0.85, 0.7],
            intensity_candela: 260.0,
            range: 8.0,
        }),
        ..Default::default()
    };
    vec![sun, ceiling]
}

/// The room corner's scene tree and materials.
pub fn room_corner() -> (Node, Vec<Material>) {
    let mut children = room_shell();
    children.push(chest_of_drawers());
    children.extend(decorations_on_chest(0.06 + 0.8 + 0.03));
    children.push(table_with_objects());
    children.extend(lights());
    (
        Node::group("room_corner", Vec3::ZERO, children),
        materials(),
    )
}

/// The bundled default scene as GLB bytes (what `assets/scenes/room_corner.glb` holds).
pub fn room_corner_glb() -> Vec<u8> {
    let (root, materials) = room_corner();
    write_glb(&root, &materials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_asset_matches_the_generator() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/scenes/room_corner.glb");
        let committed = std::fs::read(path).expect("the bundled scene is committed");
        assert!(
            committed == room_corner_glb(),
            "assets/scenes/room_corner.glb is stale: run `cargo run --example make_default_scene`"
        );
    }

    #[test]
    fn room_has_furniture_and_lights() {
        let (root, materials) = room_corner();
        let names: Vec<&str> = root.children.iter().map(|n| n.name.as_str()).collect();
        for expected in ["floor", "chest", "table", "sun", "lamp", "plant"] {
            assert!(names.contains(&expected), "missing {expected}");
        }
        let (nodes, triangles) = root.statistics();
        assert!(
            nodes > 30 && triangles > 2000,
            "{nodes} nodes, {triangles} triangles"
        );
        assert_eq!(materials.len(), M::BOWL + 1);
    }
}
