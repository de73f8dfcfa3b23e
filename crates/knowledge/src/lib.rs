//! The shared knowledge base every channel answers from: markdown documents written by CX
//! teams, split into heading-aware chunks within a token budget, each with a stable id so that
//! re-ingesting embeds only what changed.
//!
//! This crate does the reading and chunking; embeddings and the vector index build on it.

pub mod chunk;
pub mod document;
pub mod embed;
pub mod plan;

pub use chunk::{Chunk, Chunker};
pub use document::{load_dir, Document, DocumentError, Loaded};
pub use embed::{EmbedError, Embedder, MiniLm};
pub use plan::IngestPlan;
