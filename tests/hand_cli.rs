//! `handtwin hand export` writes the posed mesh in the model's vertex order: checked against smplx's vertices
//! for the random MANO-shaped fixture model, and its errors name the file and the problem.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use handtwin::hand::npz::{NpyData, read_npz};
use std::process::Command;

/// A MANO folder holding the random MANO-shaped fixture as both hands (the licensed model's stand-in: same
/// arrays, same PCA layout).
fn fake_mano_dir(dir: &std::path::Path) -> std::path::PathBuf {
    let mano = dir.join("mano");
    std::fs::create_dir(&mano).unwrap();
    for name in ["MANO_RIGHT.npz", "MANO_LEFT.npz"] {
        std::fs::copy("tests/fixtures/mano/random_right.npz", mano.join(name)).unwrap();
    }
    mano
}

fn handtwin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_handtwin"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn exported_obj_matches_smplx_vertex_by_vertex() {
    let dir = tempfile::tempdir().unwrap();
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("tests/fixtures/mano/cases.json").unwrap())
            .unwrap();
    let case = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "pca_6_mean")
        .unwrap();
    let pose = serde_json::json!({
        "global_orient": case["global_orient"],
        "hand_pose_pca": case["pca"],
        "flat_hand_mean": false,
        "betas": case["betas"],
        "transl": case["transl"],
    });
    let pose_path = dir.path().join("pose.json");
    std::fs::write(&pose_path, pose.to_string()).unwrap();
    let out = dir.path().join("hand.obj");
    let result = handtwin(&[
        "hand",
        "export",
        "--model",
        "tests/fixtures/mano/random_right.npz",
        "--side",
        "right",
        "--pose",
        pose_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let obj = std::fs::read_to_string(&out).unwrap();
    let vertices: Vec<f64> = obj
        .lines()
        .filter_map(|l| l.strip_prefix("v "))
        .flat_map(|l| l.split_whitespace().map(|x| x.parse::<f64>().unwrap()))
        .collect();
    let expected = read_npz(std::path::Path::new("tests/fixtures/mano/expected.npz")).unwrap();
    let NpyData::Float(reference) = &expected.arrays["pca_6_mean_vertices"].data else {
        panic!()
    };
    assert_eq!(vertices.len(), reference.len());
    let worst = vertices
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5, "worst {worst}");
    assert_eq!(obj.lines().filter(|l| l.starts_with("f ")).count(), 1538);
}

#[test]
fn bundled_preset_export_and_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ply = dir.path().join("fist.ply");
    let result = handtwin(&[
        "hand",
        "export",
        "--preset",
        "fist",
        "--side",
        "left",
        "--close-wrist",
        "--out",
        ply.to_str().unwrap(),
    ]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let bytes = std::fs::read(&ply).unwrap();
    assert!(String::from_utf8_lossy(&bytes[..200]).contains("format binary_little_endian"));

    let bad_pose = dir.path().join("bad.json");
    std::fs::write(&bad_pose, r#"{"betas": [0, "tall"]}"#).unwrap();
    let result = handtwin(&[
        "hand",
        "export",
        "--pose",
        bad_pose.to_str().unwrap(),
        "--out",
        dir.path().join("x.obj").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(
        stderr.contains("bad.json") && stderr.contains("`betas`"),
        "{stderr}"
    );

    let truncated = dir.path().join("MANO_RIGHT.npz");
    let full = std::fs::read("tests/fixtures/mano/random_right.npz").unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let result = handtwin(&[
        "hand",
        "export",
        "--model",
        truncated.to_str().unwrap(),
        "--out",
        dir.path().join("x.obj").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(stderr.contains("MANO_RIGHT.npz"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn hot3d_import_reads_pca_poses_through_mano_and_refuses_the_bundled_hand() {
    let dir = tempfile::tempdir().unwrap();
    // The random MANO-shaped fixture stands in for the licensed model (same arrays, same PCA layout).
    let mano = fake_mano_dir(dir.path());
    let hot3d = "tests/fixtures/action/hot3d_mano_hand_pose_trajectory.jsonl";
    let out = dir.path().join("a.json");
    let result = handtwin(&[
        "action",
        "import",
        "--right",
        hot3d,
        "--hand-format",
        "hot3d",
        "--hand-model",
        mano.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let action = handtwin::action::Action::load(&out).unwrap();
    let right = action.right.as_ref().unwrap();
    // Poses are MANO's mean hand plus the PCA combination, so not flat.
    assert!(
        right
            .keyframes()
            .iter()
            .all(|k| k.pose.hand_pose != [[0.0; 3]; 15])
    );

    let result = handtwin(&[
        "action",
        "import",
        "--right",
        hot3d,
        "--hand-format",
        "hot3d",
        "--hand-model",
        "bundled",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        !result.status.success() && stderr.contains("PCA basis"),
        "{stderr}"
    );
}

#[test]
fn arctic_mano_npy_imports_through_mano_with_the_mean_hand_and_transl() {
    use handtwin::action::import::{SourceUp, arctic};
    use handtwin::hand::{ManoModel, Side};
    // The fixture was written by numpy's np.save of an ARCTIC-shaped dict (pickle protocol 4, float32 arrays).
    let file = std::path::Path::new("tests/fixtures/action/arctic_s01_box_grab_01.mano.npy");
    let model = ManoModel::load_npz(
        std::path::Path::new("tests/fixtures/mano/random_right.npz"),
        Side::Right,
    )
    .unwrap();
    let track = arctic::load_arctic(file, Side::Right, SourceUp::Y, 30.0, &model).unwrap();
    assert_eq!(track.keyframes().len(), 6);
    assert!((track.keyframes()[5].time - 5.0 / 30.0).abs() < 1e-9);
    assert_eq!(track.betas().len(), 10);
    // The wrist is MANO's rest wrist joint for the betas plus trans (frame 0's trans is about (0, 1, 0)).
    let (_, joints) = model.shaped(track.betas()).unwrap();
    let wrist = glam::Vec3::from_array(track.keyframes()[0].wrist_translation);
    assert!((wrist - joints[0] - glam::Vec3::new(0.0, 1.0, 0.0)).length() < 0.4);
    // Poses have the mean hand added: not the file's raw numbers.
    assert_ne!(track.keyframes()[0].pose.hand_pose, [[0.0; 3]; 15]);
    // The same data pickled with protocol 3 and numpy 1's module names (as older numpy writes) reads the same.
    let older = arctic::load_arctic(
        std::path::Path::new("tests/fixtures/action/arctic_protocol3.mano.npy"),
        Side::Right,
        SourceUp::Y,
        30.0,
        &model,
    )
    .unwrap();
    assert_eq!(older, track);

    // The CLI reads it with --hand-model, refuses the bundled hand, and errors name the file.
    let dir = tempfile::tempdir().unwrap();
    let mano = fake_mano_dir(dir.path());
    let out = dir.path().join("a.json");
    let result = handtwin(&[
        "action",
        "import",
        "--left",
        file.to_str().unwrap(),
        "--right",
        file.to_str().unwrap(),
        "--hand-format",
        "arctic",
        "--hand-model",
        mano.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let result = handtwin(&[
        "action",
        "import",
        "--right",
        file.to_str().unwrap(),
        "--hand-format",
        "arctic",
        "--hand-model",
        "bundled",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!result.status.success());
    let truncated = dir.path().join("cut.mano.npy");
    let bytes = std::fs::read(file).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = arctic::load_arctic(&truncated, Side::Right, SourceUp::Y, 30.0, &model)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cut.mano.npy") && err.contains("truncated"),
        "{err}"
    );
    // Random corruption never panics.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..3000 {
        let mut corrupt = bytes.clone();
        for _ in 0..3 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state as usize) % corrupt.len();
            corrupt[i] = (state >> 32) as u8;
        }
        arctic::parse_arctic(&corrupt, file, Side::Left, SourceUp::Y, 30.0, &model).ok();
    }
}
