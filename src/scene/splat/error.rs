//! What can go wrong while reading a splat file. Every variant names the file.

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SplatLoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A format we recognise but do not read (big-endian PLY, `.spz`, …).
    #[error("{path}: {format} is not supported; {advice}")]
    Unsupported {
        path: PathBuf,
        format: String,
        advice: &'static str,
    },
    #[error(
        "{path}: not a splat file handtwin reads (not a PLY file starting with \"ply\", an SPZ file or an antimatter15 \
         .splat file); use a 3DGS .ply, a PlayCanvas .compressed.ply, a .splat or a .spz"
    )]
    UnknownFormat { path: PathBuf },
    #[error("{path}: bad {format} header: {reason}")]
    Header {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    #[error(
        "{path}: {format} element `{element}` has no property `{property}`; the file is not a 3DGS splat file"
    )]
    MissingProperty {
        path: PathBuf,
        format: &'static str,
        element: String,
        property: String,
    },
    /// The file ends before the data its header (or its size) promises.
    #[error("{path}: truncated {format}: {what}; re-export or re-download the file")]
    Truncated {
        path: PathBuf,
        format: &'static str,
        what: String,
    },
    #[error(
        "{path}: {count} splats is more than handtwin loads (at most {limit}); the header is probably corrupt"
    )]
    TooManySplats {
        path: PathBuf,
        count: u64,
        limit: u64,
    },
    #[error("{path}: splat {index}, property `{property}`: {reason}")]
    Value {
        path: PathBuf,
        index: usize,
        property: String,
        reason: String,
    },
    #[error("{path}: chunk {chunk}, property `{property}`: {reason}")]
    ChunkValue {
        path: PathBuf,
        chunk: usize,
        property: String,
        reason: String,
    },
    /// A malformed line in the body of an ASCII PLY.
    #[error("{path}, line {line}: {reason}")]
    Syntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}
