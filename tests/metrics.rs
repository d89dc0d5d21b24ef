//! The perceptual metrics against the reference Python packages, on the pairs in tests/fixtures/metrics
//! (tools/make_lpips_fixtures.py: lpips 0.1.4 with the converted backbones, scikit-image 0.26, torchmetrics 1.9).
//! `cargo test --test metrics -- --nocapture` prints the largest differences.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use candle_core::Device;
use handtwin::eval::lpips::{Backbone, Lpips, weights_path};
use handtwin::eval::metrics::{
    RegionMask, SsimKind, mean_over, ssim_map_clip, ssim_map_clip_of, ssim_skimage,
    ssim_torchmetrics, ssim_torchmetrics_cropped,
};
use handtwin::video::{Frames, psnr};
use serde_json::Value;
use std::path::{Path, PathBuf};

const TOLERANCE: f64 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics")
}

struct Pair {
    name: String,
    a: Frames,
    b: Frames,
    expected: Value,
}

fn image(name: &str) -> image::RgbImage {
    image::open(fixtures().join(name)).unwrap().to_rgb8()
}

fn pairs() -> Vec<Pair> {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    let expected: Value = serde_json::from_str(&text).unwrap();
    expected["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| Pair {
            name: entry["name"].as_str().unwrap().to_string(),
            a: Frames::from_images(vec![image(entry["a"].as_str().unwrap())], 8.0).unwrap(),
            b: Frames::from_images(vec![image(entry["b"].as_str().unwrap())], 8.0).unwrap(),
            expected: entry.clone(),
        })
        .collect()
}

fn number(value: &Value, key: &str) -> f64 {
    value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("expected.json lacks {key}"))
}

/// Checks `ours` against the fixture's `key`, returning the absolute difference.
fn close(pair: &Pair, key: &str, ours: f64) -> f64 {
    let reference = number(&pair.expected, key);
    let diff = (ours - reference).abs();
    assert!(
        diff <= TOLERANCE,
        "{}: {key} ours {ours} reference {reference}",
        pair.name
    );
    diff
}

#[test]
fn ssim_matches_scikit_image_and_torchmetrics() {
    let mut worst = std::collections::BTreeMap::<&str, f64>::new();
    for pair in pairs() {
        let (a, b) = (&pair.a, &pair.b);
        let full = RegionMask::full(1, a.width() as usize, a.height() as usize);
        let map = ssim_map_clip(a, b).unwrap();
        let checks = [
            ("ssim_skimage", ssim_skimage(a, b).unwrap()),
            // The map's border pixels are scikit-image's reflected ones (its `full=True` image).
            (
                "ssim_skimage_full_map_mean",
                mean_over(&map, &full).unwrap(),
            ),
            ("ssim_torchmetrics", ssim_torchmetrics(a, b).unwrap()),
            (
                "ssim_torchmetrics_cropped",
                ssim_torchmetrics_cropped(a, b).unwrap(),
            ),
        ];
        for (key, ours) in checks {
            let diff = close(&pair, key, ours);
            let slot = worst.entry(key).or_default();
            *slot = slot.max(diff);
        }
        // The whole-frame mean of the map without its 3-pixel border is scikit-image's number.
        let interior = mean_over(&map, &full.without_border(3)).unwrap();
        close(&pair, "ssim_skimage", interior);
        let torch_map = ssim_map_clip_of(SsimKind::Torchmetrics, a, b).unwrap();
        close(
            &pair,
            "ssim_torchmetrics",
            mean_over(&torch_map, &full).unwrap(),
        );
        close(&pair, "psnr", psnr(a, b).unwrap());
        // Identical inputs give 1, swapped inputs the same value.
        assert!((ssim_skimage(a, a).unwrap() - 1.0).abs() < 1e-12);
        assert!((ssim_torchmetrics(b, b).unwrap() - 1.0).abs() < 1e-12);
        assert!((ssim_skimage(b, a).unwrap() - ssim_skimage(a, b).unwrap()).abs() < 1e-12);
        assert!(
            (ssim_torchmetrics(b, a).unwrap() - ssim_torchmetrics(a, b).unwrap()).abs() < 1e-12
        );
    }
    println!("SSIM max |ours − reference| over the pairs: {worst:?}");
}

fn check_lpips(backbone: Backbone) {
    let model = Lpips::load(backbone, &Device::Cpu).unwrap();
    let key = format!("lpips_{}", backbone.name());
    let mut worst: Vec<(String, f64, f64)> = Vec::new();
    for pair in pairs() {
        let value = model.frames(&pair.a, &pair.b).unwrap()[0];
        let diff = close(&pair, &key, value);
        let map = model.frames_spatial(&pair.a, &pair.b).unwrap();
        let width = pair.a.width() as usize;
        let full = RegionMask::full(1, width, pair.a.height() as usize);
        let spatial_diff = close(
            &pair,
            &format!("{key}_spatial_mean"),
            mean_over(&map, &full).unwrap(),
        );
        for probe in pair.expected[format!("{key}_spatial_probes")]
            .as_array()
            .unwrap()
        {
            let (x, y) = (
                probe[0].as_u64().unwrap() as usize,
                probe[1].as_u64().unwrap() as usize,
            );
            let reference = probe[2].as_f64().unwrap();
            let ours = f64::from(map[y * width + x]);
            assert!(
                (ours - reference).abs() <= TOLERANCE,
                "{}: spatial {key} at ({x}, {y}) ours {ours} reference {reference}",
                pair.name
            );
        }
        // Identical inputs give 0, swapped inputs the same value.
        assert_eq!(model.frames(&pair.a, &pair.a).unwrap()[0], 0.0);
        let swapped = model.frames(&pair.b, &pair.a).unwrap()[0];
        assert!(
            (swapped - value).abs() < 1e-6,
            "{}: {swapped} vs {value}",
            pair.name
        );
        worst.push((pair.name.clone(), diff, spatial_diff));
    }
    for (name, diff, spatial) in &worst {
        println!("{key} {name}: |ours − reference| {diff:.2e} (spatial mean {spatial:.2e})");
    }
}

#[test]
fn lpips_alex_matches_the_reference() {
    check_lpips(Backbone::Alex);
}

#[test]
fn lpips_vgg_matches_the_reference_when_its_weights_are_present() {
    if let Err(missing) = weights_path(Backbone::Vgg) {
        println!("skipped: {missing}");
        return;
    }
    check_lpips(Backbone::Vgg);
}

/// Frames of one clip go through the network in batches; each frame's value is its own pair's.
#[test]
fn per_frame_lpips_of_a_clip_is_each_pairs_lpips() {
    let model = Lpips::load(Backbone::Alex, &Device::Cpu).unwrap();
    let same_size: Vec<Pair> = pairs()
        .into_iter()
        .filter(|p| p.a.width() == 64 && p.a.height() == 64)
        .collect();
    assert_eq!(same_size.len(), 2);
    let join = |pick: fn(&Pair) -> &Frames| {
        let mut data = Vec::new();
        for pair in &same_size {
            data.extend_from_slice(pick(pair).as_bytes());
        }
        Frames::new(64, 64, 8.0, data).unwrap()
    };
    let (a, b) = (join(|p| &p.a), join(|p| &p.b));
    let values = model.frames(&a, &b).unwrap();
    for (pair, value) in same_size.iter().zip(values) {
        close(pair, "lpips_alex", value);
    }
}
