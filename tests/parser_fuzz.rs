//! Mutation fuzz of the binary and JSON readers that take a user's (or a download's) file and are not covered by
//! the action and splat fuzzes: the restricted pickle reader (ARCTIC `.mano.npy`), the npz/npy reader (MANO
//! models, HaMeR output), the SentencePiece protobuf reader (and the tokenizer built from it), and the safetensors
//! header and shard-index readers.
//!
//! Each case is a valid seed changed by one to four mutations — bit flips, bytes set to edge values, truncation,
//! insertions and deletions, a chunk duplicated, a huge little-endian count written over four or eight bytes,
//! part of another seed spliced in — or plain random bytes. A parser must return `Ok` or an error (the path-taking
//! ones must name the file), never panic; counts are checked before allocating, so a huge count must not abort the
//! process either. Cases per parser: `HANDTWIN_FUZZ_CASES` (default 2000, so `cargo test` stays quick); the long
//! campaign sets it to 1000000 (`docs/fuzzing.md`). Seed: `HANDTWIN_FUZZ_SEED`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "common/fuzz.rs"]
mod fuzz_common;

use fuzz_common::Rng;

fn cases() -> usize {
    fuzz_common::env_or("HANDTWIN_FUZZ_CASES", 2000) as usize
}

fn seed() -> u64 {
    fuzz_common::env_or("HANDTWIN_FUZZ_SEED", 0x00F0_22ED_5EED)
}

const EDGE_BYTES: [u8; 8] = [0x00, 0xFF, 0x7F, 0x80, 0x01, b'{', b'"', b'.'];
const HUGE: [u64; 6] = [
    u64::MAX,
    u32::MAX as u64,
    1 << 31,
    1 << 40,
    0x7FFF_FFFF_FFFF_FFFF,
    100_000_001,
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], base: &[u8]) -> Vec<u8> {
    if rng.below(20) == 0 {
        return (0..rng.below(256)).map(|_| rng.next() as u8).collect();
    }
    let mut bytes = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = bytes.len();
        let at = rng.below(len + 1);
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                bytes[i] = EDGE_BYTES[rng.below(EDGE_BYTES.len())];
            }
            2 => bytes.truncate(at),
            3 => {
                let n = 1 + rng.below(16);
                let insert: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                bytes.splice(at..at, insert);
            }
            4 => {
                let end = (at + 1 + rng.below(64)).min(len);
                bytes.drain(at..end);
            }
            5 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(256)).min(len);
                let chunk = bytes[start..end].to_vec();
                bytes.splice(at..at, chunk);
            }
            6 | 7 => {
                let value = HUGE[rng.below(HUGE.len())];
                let width = if rng.below(2) == 0 { 4 } else { 8 };
                for (k, byte) in value.to_le_bytes().into_iter().take(width).enumerate() {
                    if let Some(b) = bytes.get_mut(at + k) {
                        *b = byte;
                    }
                }
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let start = rng.below(other.len());
                    let end = (start + 1 + rng.below(512)).min(other.len());
                    bytes.splice(at..at, other[start..end].iter().copied());
                }
            }
        }
    }
    bytes
}

/// Runs `parse` on `cases()` mutations of the seeds; panics name the case's seed. Returns (accepted, refused).
fn fuzz(
    name: &str,
    seeds: &[Vec<u8>],
    parse: impl Fn(&[u8]) -> Result<(), String>,
    path_in_errors: Option<&str>,
) -> (usize, usize) {
    for s in seeds {
        parse(s).unwrap_or_else(|e| panic!("{name}: a valid seed was refused: {e}"));
    }
    let mut rng = Rng(seed() ^ (name.len() as u64 * 0x9E37_79B9));
    let (mut accepted, mut refused) = (0, 0);
    let start = Instant::now();
    let total = cases();
    for case in 0..total {
        let state = rng.0;
        let base = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seeds, base);
        match catch_unwind(AssertUnwindSafe(|| parse(&input))) {
            Ok(Ok(())) => accepted += 1,
            Ok(Err(message)) => {
                if let Some(path) = path_in_errors {
                    assert!(
                        message.contains(path),
                        "{name}: case {case} (rng state {state:#x}): the error does not name the file: {message}"
                    );
                }
                refused += 1;
            }
            Err(_) => panic!(
                "{name}: case {case} panicked (replay: HANDTWIN_FUZZ_SEED, rng state {state:#x}, {} bytes)",
                input.len()
            ),
        }
    }
    println!(
        "{name}: {total} inputs, {accepted} accepted, {refused} refused, {:.1} s",
        start.elapsed().as_secs_f64()
    );
    (accepted, refused)
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn pickle_reader_never_panics() {
    use handtwin::action::import::pickle::{parse_object_npy, parse_pickle};
    let seeds = vec![
        fixture("tests/fixtures/action/arctic_s01_box_grab_01.mano.npy"),
        fixture("tests/fixtures/action/arctic_protocol3.mano.npy"),
    ];
    let (accepted, refused) = fuzz(
        "pickle (.mano.npy)",
        &seeds,
        |bytes| parse_object_npy(bytes).map(|_| ()),
        None,
    );
    assert!(refused > 0 && accepted + refused == cases());
    // The pickle stream alone, past the npy header.
    let streams: Vec<Vec<u8>> = seeds
        .iter()
        .map(|s| {
            let header_len = u16::from_le_bytes([s[8], s[9]]) as usize;
            s[10 + header_len..].to_vec()
        })
        .collect();
    fuzz(
        "pickle stream",
        &streams,
        |bytes| parse_pickle(bytes).map(|_| ()),
        None,
    );
}

/// An npz holding `arrays` stored uncompressed, so mutations reach the npy headers and data.
fn stored_npz(arrays: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, npy) in arrays {
        zip.start_file(*name, options).unwrap();
        zip.write_all(npy).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

#[test]
fn npz_reader_never_panics() {
    use handtwin::hand::npz::{parse_npy, parse_npz};
    let floats: Vec<u8> = (0..24)
        .flat_map(|i| (i as f32 * 0.5).to_le_bytes())
        .collect();
    let ints: Vec<u8> = (0..6).flat_map(|i| (i as i64).to_le_bytes()).collect();
    let a = npy("<f4", &[2, 3, 4], &floats);
    let b = npy("<i8", &[6], &ints);
    let c = npy("<f8", &[3], &[0u8; 24]);
    let seeds = vec![
        stored_npz(&[("v.npy", &a), ("f.npy", &b)]),
        stored_npz(&[("x.npy", &c)]),
        fixture("tests/fixtures/action/hamer_stacked.npz"),
    ];
    let path = Path::new("/fuzz/hand.npz");
    fuzz(
        "npz",
        &seeds,
        |bytes| {
            parse_npz(path, bytes)
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
        Some("/fuzz/hand.npz"),
    );
    fuzz(
        "npy",
        &[a, b, c],
        |bytes| parse_npy(bytes).map(|_| ()),
        None,
    );
}

#[test]
fn sentencepiece_reader_never_panics() {
    use handtwin::world_model::tokenizer::{T5Tokenizer, parse_sentencepiece_proto};
    let model = fixture("tests/fixtures/tokenizer/spiece.model");
    // The protobuf reader on the whole model and on a small model cut from it (its trainer and normaliser
    // messages, and its first pieces), so that most mutations land somewhere that matters.
    let small = small_sentencepiece(&model, 40);
    assert!(parse_sentencepiece_proto(&small).unwrap() >= 3);
    let seeds = vec![small, small_sentencepiece(&model, 400)];
    fuzz(
        "sentencepiece protobuf",
        &seeds,
        |bytes| parse_sentencepiece_proto(bytes).map(|_| ()),
        None,
    );
    // The tokenizer built from the whole model (the tokenizers crate's Unigram and normaliser included): fewer
    // cases, as each builds a tokenizer of the fixture's 1,000 pieces.
    let path = PathBuf::from("/fuzz/spiece.model");
    let built_cases = (cases() / 20).clamp(50, 5000);
    let mut rng = Rng(seed() ^ 0x5E7E);
    let whole = [model];
    for case in 0..built_cases {
        let input = mutate(&mut rng, &whole, &whole[0]);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            T5Tokenizer::from_sentencepiece_bytes(&path, &input, 100)
                .map(|t| t.encode_padded("open the top drawer", 16).map(|_| ()))
        }));
        match outcome {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => assert!(e.to_string().contains("/fuzz/spiece.model"), "{e}"),
            Err(_) => panic!("the tokenizer built from mutated case {case} panicked"),
        }
    }
}

/// The top-level fields of a SentencePiece model other than its pieces, and its first `pieces` pieces.
fn small_sentencepiece(model: &[u8], pieces: usize) -> Vec<u8> {
    fn varint(bytes: &[u8], at: &mut usize) -> u64 {
        let mut value = 0;
        for shift in (0..64).step_by(7) {
            let byte = bytes[*at];
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        value
    }
    let (mut at, mut kept, mut out) = (0, 0, Vec::new());
    while at < model.len() {
        let start = at;
        let key = varint(model, &mut at);
        assert_eq!(key & 7, 2, "top-level fields of a ModelProto are messages");
        let len = varint(model, &mut at) as usize;
        at += len;
        if key >> 3 != 1 || kept < pieces {
            out.extend_from_slice(&model[start..at]);
            kept += usize::from(key >> 3 == 1);
        }
    }
    out
}

fn safetensors(tensors: &[(&str, &str, &[usize])]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, dtype, shape) in tensors {
        let size = shape.iter().product::<usize>() * if *dtype == "BF16" { 2 } else { 4 };
        header.insert(
            name.to_string(),
            serde_json::json!({ "dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size] }),
        );
        offset += size;
    }
    header.insert("__metadata__".into(), serde_json::json!({ "format": "pt" }));
    let json = serde_json::to_vec(&header).unwrap();
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    out.extend(vec![0u8; offset]);
    out
}

#[test]
fn safetensors_header_and_index_readers_never_panic() {
    use handtwin::world_model::checkpoint::{parse_header, parse_index};
    let seeds = [
        safetensors(&[("w", "F32", &[2, 3]), ("b", "F32", &[3])]),
        safetensors(&[("transformer.proj.weight", "BF16", &[4, 4, 1])]),
        fixture("models/lpips/alex.safetensors")[..4096].to_vec(),
    ];
    let path = Path::new("/fuzz/model.safetensors");
    let (accepted, _) = fuzz(
        "safetensors header",
        &seeds[..2],
        |bytes| {
            parse_header(path, bytes)
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
        Some("/fuzz/model.safetensors"),
    );
    assert!(accepted > 0);
    // The real file's first 4 KiB: its header runs past them, so it must be refused, naming the file.
    let error = parse_header(path, &seeds[2]).unwrap_err().to_string();
    assert!(error.contains("/fuzz/model.safetensors"), "{error}");

    let index = serde_json::json!({
        "metadata": { "total_size": 1024 },
        "weight_map": {
            "a.weight": "model-00001-of-00002.safetensors",
            "b.weight": "model-00002-of-00002.safetensors",
            "c.bias": "model-00001-of-00002.safetensors",
        }
    })
    .to_string()
    .into_bytes();
    let index_path = Path::new("/fuzz/model.safetensors.index.json");
    fuzz(
        "safetensors index",
        &[index],
        |bytes| {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| "/fuzz/model.safetensors.index.json: not UTF-8".to_string())?;
            parse_index(index_path, text)
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
        Some("/fuzz/model.safetensors.index.json"),
    );
}
