//! The shared knowledge base every channel answers from: markdown documents written by CX
//! teams, split into heading-aware chunks within a token budget, each with a stable id so that
//! re-ingesting embeds only what changed; embedded (MiniLM in-process, or any OpenAI-compatible
//! endpoint) and stored with BM25 term vectors in Qdrant (embedded qdrant-edge, or a server),
//! searched with hybrid retrieval, and answered with citations behind a relevance gate.

pub mod base;
pub mod chunk;
pub mod document;
pub mod edge;
pub mod embed;
pub mod eval;
pub mod index;
pub mod openai;
pub mod server;
#[cfg(feature = "testing")]
pub mod testing;

pub use base::{
    extractive_answer, link_source, Answer, Bm25, Citation, IndexedDocument, IngestEvent,
    IngestReport, KnowledgeBase, KnowledgeError, KnowledgeSettings, Passage, SearchResult,
};
pub use chunk::{Chunk, Chunker};
pub use document::{load_dir, Document, DocumentError, Loaded};
pub use edge::EdgeIndex;
pub use embed::{CachedEmbedder, EmbedError, Embedder, MiniLm, RecentEmbeddings};
pub use frontline_encoder::bert;
pub use index::{IndexError, IndexHit, IndexQuery, IndexedChunk, SearchFilter, VectorIndex};
pub use openai::OpenAiEmbedder;
pub use server::QdrantServerIndex;
