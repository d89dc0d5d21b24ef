//! MANO forward model against the `smplx` package (fixtures by tools/make_mano_fixtures.py: a random MANO-shaped
//! model posed by smplx in float64), and the bundled hand's mesh checks.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use glam::{Mat3, Vec3};
use handtwin::hand::npz::{NpyData, read_npz};
use handtwin::hand::topology::{closing_faces, signed_volume, topology_report};
use handtwin::hand::{FingerPose, HandModels, ManoInput, ManoModel, ManoPose, Preset, Side};
use serde_json::Value;
use std::path::Path;

const FIXTURES: &str = "tests/fixtures/mano";

fn numbers(value: &Value) -> Vec<f32> {
    match value {
        Value::Array(items) => items.iter().flat_map(numbers).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        other => panic!("not a number: {other}"),
    }
}

fn vec3(value: &Value) -> Vec3 {
    Vec3::from_slice(&numbers(value))
}

fn rotation(axis_angle: Vec3) -> Mat3 {
    handtwin::hand::rotation::mat3_from_axis_angle(axis_angle)
}

#[test]
fn mano_matches_smplx_for_every_input_kind() {
    let dir = Path::new(FIXTURES);
    let right = ManoModel::load_npz(&dir.join("random_right.npz"), Side::Right).unwrap();
    let left = right.mirrored();
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let expected = read_npz(&dir.join("expected.npz")).unwrap();
    let array = |name: &str| match &expected.arrays[name].data {
        NpyData::Float(v) => v.clone(),
        NpyData::Int(_) => panic!("{name} is not float"),
    };
    let mut kinds = std::collections::BTreeSet::new();
    for case in cases["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let model = match case["side"].as_str().unwrap() {
            "right" => &right,
            _ => &left,
        };
        let flat_hand_mean = case["flat_hand_mean"].as_bool().unwrap_or(true);
        let fingers = match case["kind"].as_str().unwrap() {
            "axis_angle" => {
                let flat = numbers(&case["hand_pose"]);
                let mut pose = [[0.0; 3]; 15];
                for (joint, chunk) in pose.iter_mut().zip(flat.chunks_exact(3)) {
                    joint.copy_from_slice(chunk);
                }
                if flat_hand_mean {
                    FingerPose::AxisAngle(pose)
                } else {
                    FingerPose::AxisAngleFromMean(pose)
                }
            }
            "pca" => FingerPose::Pca {
                coefficients: numbers(&case["pca"]),
                flat_hand_mean,
            },
            "matrices" => {
                let mut matrices = [Mat3::IDENTITY; 15];
                for (m, rows) in matrices
                    .iter_mut()
                    .zip(case["matrices"].as_array().unwrap())
                {
                    *m = Mat3::from_cols_slice(&numbers(rows)).transpose();
                }
                FingerPose::Matrices(Box::new(matrices))
            }
            other => panic!("unknown kind {other}"),
        };
        kinds.insert(format!(
            "{} {} {}",
            case["side"].as_str().unwrap(),
            case["kind"].as_str().unwrap(),
            flat_hand_mean
        ));
        let input = ManoInput {
            global_orient: rotation(vec3(&case["global_orient"])),
            fingers,
            betas: numbers(&case["betas"]),
            transl: vec3(&case["transl"]),
        };
        let output = model.forward(&input).unwrap();
        let vertices = array(&format!("{name}_vertices"));
        let joints = array(&format!("{name}_joints"));
        let mut worst = 0.0f64;
        for (ours, theirs) in output.vertices.iter().zip(vertices.chunks_exact(3)) {
            for (a, b) in ours.to_array().iter().zip(theirs) {
                worst = worst.max((*a as f64 - b).abs());
            }
        }
        for (ours, theirs) in output.joints.iter().zip(joints.chunks_exact(3)) {
            for (a, b) in ours.to_array().iter().zip(theirs) {
                worst = worst.max((*a as f64 - b).abs());
            }
        }
        assert_eq!(output.vertices.len() * 3, vertices.len());
        println!("{name}: worst |ours − smplx| = {worst:.2e} m");
        assert!(worst < 1e-5, "{name}: worst error {worst:e} m");
    }
    println!("kinds covered: {kinds:?}");
    assert!(kinds.len() >= 6);
}

#[test]
fn bundled_hand_is_closed_at_all_but_the_wrist_and_has_no_degenerate_triangles() {
    let models = HandModels::bundled().unwrap();
    for side in [Side::Left, Side::Right] {
        let model = models.get(side);
        for preset in Preset::ALL {
            let pose = preset.controls().pose_for(side);
            let mesh = model.pose_mesh(&pose, &[]).unwrap();
            // The model's own faces leave the wrist open; pose_mesh draws them with the closing faces.
            assert_eq!(mesh.faces(), model.closed_faces());
            let report = topology_report(mesh.vertices(), model.faces());
            assert_eq!(
                report.boundary_loops.len(),
                1,
                "{side:?} {preset:?}: only the wrist is open"
            );
            assert_eq!(report.repeated_directed_edges, 0, "{side:?} {preset:?}");
            assert_eq!(report.degenerate_faces, 0, "{side:?} {preset:?}");
            let mut closed = model.faces().to_vec();
            closed.extend(closing_faces(model.faces()));
            let closed_report = topology_report(mesh.vertices(), &closed);
            assert!(closed_report.boundary_loops.is_empty());
            assert_eq!(closed_report.repeated_directed_edges, 0);
            // Outward normals on both hands (the mirrored left is rewound).
            let volume = signed_volume(mesh.vertices(), &closed);
            assert!(volume > 1e-4, "{side:?} {preset:?}: volume {volume}");
        }
    }
}

#[test]
fn bundled_left_hand_is_the_mirrored_right_hand() {
    let models = HandModels::bundled().unwrap();
    let pose = Preset::Pinch.right_hand_pose();
    let right = models.right.pose_mesh(&pose, &[]).unwrap();
    let left = models.left.pose_mesh(&pose.mirrored(), &[]).unwrap();
    for (r, l) in right.vertices().iter().zip(left.vertices()) {
        assert!((Vec3::new(-r.x, r.y, r.z) - *l).length() < 1e-6);
    }
    // Zero pose gives the template (about the wrist).
    let flat = models.right.pose_mesh(&ManoPose::FLAT, &[]).unwrap();
    let (_, joints) = models.right.shaped(&[]).unwrap();
    for (a, b) in flat.vertices().iter().zip(models.right.template()) {
        assert!((*a - (*b - joints[0])).length() < 1e-6);
    }
}
