//! The T5 tokenizer CogVideoX uses, from whatever the model directory ships: a `tokenizer.json` (Hugging Face
//! fast tokenizer), or the SentencePiece `spiece.model` CogVideoX repositories carry — read here directly (a
//! small protobuf reader), turned into the equivalent Unigram tokenizer, with no Python step.
//!
//! Prompts are tokenized as the pipeline does: up to `max_length − 1` tokens, then `</s>`, then padding with
//! the pad id (0) to exactly `max_length` (226 for CogVideoX).

use std::path::{Path, PathBuf};
use thiserror::Error;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{Precompiled, Replace, Sequence};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::{AddedToken, NormalizerWrapper, Tokenizer};

#[derive(Debug, Error)]
pub enum TokenizerError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{dir}: no tokenizer found (expected tokenizer.json or spiece.model)")]
    Missing { dir: PathBuf },
}

fn file_error(path: &Path, reason: impl ToString) -> TokenizerError {
    TokenizerError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

pub struct T5Tokenizer {
    tokenizer: Tokenizer,
    eos_id: u32,
    pad_id: u32,
}

impl T5Tokenizer {
    /// Loads `dir/tokenizer.json` if present, else `dir/spiece.model`.
    pub fn from_dir(dir: &Path) -> Result<Self, TokenizerError> {
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            let tokenizer = Tokenizer::from_file(&json).map_err(|e| file_error(&json, e))?;
            let id = |token: &str| tokenizer.token_to_id(token);
            let eos_id = id("</s>").ok_or_else(|| file_error(&json, "has no </s> token"))?;
            let pad_id = id("<pad>").unwrap_or(0);
            return Ok(Self {
                tokenizer,
                eos_id,
                pad_id,
            });
        }
        let model = dir.join("spiece.model");
        if model.is_file() {
            return Self::from_sentencepiece(&model, 100);
        }
        Err(TokenizerError::Missing {
            dir: dir.to_path_buf(),
        })
    }

    /// Builds the tokenizer from a SentencePiece model, with T5's `extra_ids` sentinel tokens (`<extra_id_0>`
    /// is the last id, as in transformers' T5Tokenizer).
    pub fn from_sentencepiece(path: &Path, extra_ids: usize) -> Result<Self, TokenizerError> {
        let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
        Self::from_sentencepiece_bytes(path, &bytes, extra_ids)
    }

    /// [`from_sentencepiece`](Self::from_sentencepiece) on the file's bytes (`path` names it in errors).
    pub fn from_sentencepiece_bytes(
        path: &Path,
        bytes: &[u8],
        extra_ids: usize,
    ) -> Result<Self, TokenizerError> {
        let model = parse_model_proto(bytes)
            .map_err(|reason| file_error(path, format!("not a SentencePiece model: {reason}")))?;
        if model.model_type != 1 {
            return Err(file_error(
                path,
                format!(
                    "SentencePiece model type {} is not Unigram (T5 uses Unigram)",
                    model.model_type
                ),
            ));
        }
        let unk_id = model
            .pieces
            .iter()
            .position(|p| p.kind == 2)
            .unwrap_or(model.unk_id as usize);
        let eos_id = model
            .pieces
            .iter()
            .position(|p| p.piece == "</s>")
            .ok_or_else(|| file_error(path, "has no </s> piece"))?;
        let pad_id = model
            .pieces
            .iter()
            .position(|p| p.piece == "<pad>")
            .unwrap_or(0);
        let vocab: Vec<(String, f64)> = model
            .pieces
            .iter()
            .map(|p| (p.piece.clone(), p.score as f64))
            .collect();
        let piece_count = vocab.len();
        let unigram = Unigram::from(vocab, Some(unk_id), model.byte_fallback)
            .map_err(|e| file_error(path, e))?;
        let mut tokenizer = Tokenizer::new(unigram);
        let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
        if !model.precompiled_charsmap.is_empty() {
            let precompiled = Precompiled::from(&model.precompiled_charsmap)
                .map_err(|e| file_error(path, format!("bad normalisation table: {e}")))?;
            normalizers.push(precompiled.into());
        }
        // SentencePiece's remove_extra_whitespaces: collapse runs of spaces, strip both ends.
        let collapse = Replace::new(
            tokenizers::normalizers::replace::ReplacePattern::Regex(" {2,}".into()),
            " ",
        )
        .map_err(|e| file_error(path, e))?;
        normalizers.push(collapse.into());
        normalizers.push(tokenizers::normalizers::Strip::new(true, true).into());
        tokenizer
            .with_normalizer(Some(Sequence::new(normalizers)))
            .map_err(|e| file_error(path, e))?;
        tokenizer.with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::Always, true)));
        // T5's sentinels come after the pieces, <extra_id_0> last.
        let sentinels: Vec<AddedToken> = (0..extra_ids)
            .rev()
            .map(|i| AddedToken::from(format!("<extra_id_{i}>"), true))
            .collect();
        tokenizer
            .add_special_tokens(sentinels)
            .map_err(|e| file_error(path, e))?;
        debug_assert_eq!(tokenizer.get_vocab_size(true), piece_count + extra_ids);
        Ok(Self {
            tokenizer,
            eos_id: eos_id as u32,
            pad_id: pad_id as u32,
        })
    }

    /// Token ids for a prompt: at most `max_length − 1` tokens, `</s>`, then padding to `max_length`.
    pub fn encode_padded(
        &self,
        prompt: &str,
        max_length: usize,
    ) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self
            .tokenizer
            .encode(prompt, false)
            .map_err(|e| TokenizerError::File {
                path: PathBuf::from("<prompt>"),
                reason: e.to_string(),
            })?;
        let mut ids: Vec<u32> = encoding
            .get_ids()
            .iter()
            .copied()
            .take(max_length.saturating_sub(1))
            .collect();
        ids.push(self.eos_id);
        ids.resize(max_length, self.pad_id);
        Ok(ids)
    }
}

struct Piece {
    piece: String,
    score: f32,
    kind: u64,
}

struct ModelProto {
    pieces: Vec<Piece>,
    precompiled_charsmap: Vec<u8>,
    model_type: u64,
    byte_fallback: bool,
    unk_id: u64,
}

/// A minimal protobuf reader: (field number, wire type, value) for each field of a message.
enum Value<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64,
    Bytes(&'a [u8]),
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at).ok_or("truncated varint")?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint too long".into())
}

fn fields(bytes: &[u8]) -> Result<Vec<(u64, Value<'_>)>, String> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        let key = read_varint(bytes, &mut at)?;
        let (field, wire) = (key >> 3, key & 7);
        let value = match wire {
            0 => Value::Varint(read_varint(bytes, &mut at)?),
            1 => {
                at += 8;
                Value::Fixed64
            }
            2 => {
                let len = read_varint(bytes, &mut at)? as usize;
                let end = at
                    .checked_add(len)
                    .filter(|&end| end <= bytes.len())
                    .ok_or("truncated field")?;
                let slice = &bytes[at..end];
                at = end;
                Value::Bytes(slice)
            }
            5 => {
                let word = bytes.get(at..at + 4).ok_or("truncated fixed32")?;
                at += 4;
                Value::Fixed32(u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        if at > bytes.len() {
            return Err("truncated message".into());
        }
        out.push((field, value));
    }
    Ok(out)
}

/// The pieces and settings of a SentencePiece `ModelProto` (protobuf): what the tokenizer is built from. Public
/// so the parser can be fuzzed alone (tests/parser_fuzz.rs); the number of pieces it read comes back.
pub fn parse_sentencepiece_proto(bytes: &[u8]) -> Result<usize, String> {
    parse_model_proto(bytes).map(|model| model.pieces.len())
}

fn parse_model_proto(bytes: &[u8]) -> Result<ModelProto, String> {
    let mut model = ModelProto {
        pieces: Vec::new(),
        precompiled_charsmap: Vec::new(),
        model_type: 1,
        byte_fallback: false,
        unk_id: 0,
    };
    for (field, value) in fields(bytes)? {
        match (field, value) {
            (1, Value::Bytes(message)) => {
                let mut piece = Piece {
                    piece: String::new(),
                    score: 0.0,
                    kind: 1,
                };
                for (field, value) in fields(message)? {
                    match (field, value) {
                        (1, Value::Bytes(text)) => {
                            piece.piece = String::from_utf8(text.to_vec())
                                .map_err(|_| "a piece is not UTF-8")?
                        }
                        (2, Value::Fixed32(bits)) => piece.score = f32::from_bits(bits),
                        (3, Value::Varint(kind)) => piece.kind = kind,
                        _ => {}
                    }
                }
                model.pieces.push(piece);
            }
            (2, Value::Bytes(trainer)) => {
                for (field, value) in fields(trainer)? {
                    match (field, value) {
                        (3, Value::Varint(kind)) => model.model_type = kind,
                        (35, Value::Varint(flag)) => model.byte_fallback = flag != 0,
                        (40, Value::Varint(id)) => model.unk_id = id,
                        _ => {}
                    }
                }
            }
            (3, Value::Bytes(normalizer)) => {
                for (field, value) in fields(normalizer)? {
                    if let (2, Value::Bytes(map)) = (field, value) {
                        model.precompiled_charsmap = map.to_vec();
                    }
                }
            }
            _ => {}
        }
    }
    if model.pieces.is_empty() {
        return Err("no pieces".into());
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Case {
        prompt: String,
        ids: Vec<u32>,
    }

    /// Ids of the slow T5Tokenizer (the SentencePiece library) on a small model trained for the test:
    /// `tools/make_tokenizer_fixture.py`.
    #[test]
    fn matches_the_slow_t5_tokenizer() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer");
        let tokenizer = T5Tokenizer::from_sentencepiece(&dir.join("spiece.model"), 100).unwrap();
        let cases: Vec<Case> =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        assert!(cases.len() >= 5);
        for case in cases {
            let ids = tokenizer
                .encode_padded(&case.prompt, case.ids.len())
                .unwrap();
            assert_eq!(ids, case.ids, "prompt {:?}", case.prompt);
        }
    }

    #[test]
    fn rejects_files_that_are_not_sentencepiece_models() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spiece.model");
        std::fs::write(&path, b"\x0a\xff\xff\xff").unwrap();
        let error = T5Tokenizer::from_dir(dir.path()).err().unwrap().to_string();
        assert!(
            error.contains("spiece.model") && error.contains("not a SentencePiece model"),
            "{error}"
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            T5Tokenizer::from_dir(empty.path()),
            Err(TokenizerError::Missing { .. })
        ));
    }
}
