//! The vector index behind one trait: embedded qdrant-edge by default ([`crate::EdgeIndex`]),
//! a Qdrant server or cluster when configured ([`crate::QdrantServerIndex`]). Both store each
//! chunk with a dense vector (the embedder's) and a BM25 sparse vector, and answer hybrid
//! queries fused by reciprocal rank fusion, with payload filters on locale and tags.

use crate::chunk::Chunk;
use async_trait::async_trait;
use std::collections::BTreeMap;

/// Name of the dense vector in every backend.
pub const DENSE: &str = "dense";
/// Name of the BM25 sparse vector in every backend.
pub const SPARSE: &str = "bm25";

/// Why the index failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The index could not be opened or created.
    #[error("vector index at {location}: {message}")]
    Open {
        /// Folder or URL.
        location: String,
        /// What went wrong.
        message: String,
    },
    /// A read or write failed.
    #[error("vector index ({backend}): {message}")]
    Operation {
        /// Which backend.
        backend: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The index holds vectors of another length than the embedder gives.
    #[error("vector index holds {found}-dimensional vectors but the embedder gives {expected}; delete the index folder (or collection) and ingest again")]
    Dimension {
        /// The embedder's.
        expected: usize,
        /// The index's.
        found: usize,
    },
}

/// A BM25 term-weight vector.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseVector {
    /// Term ids.
    pub indices: Vec<u32>,
    /// Weights, one per term id.
    pub values: Vec<f32>,
}

/// A chunk ready to store: its vectors and its payload.
#[derive(Clone, Debug)]
pub struct IndexedChunk {
    /// The passage and its metadata (stored as the point's payload).
    pub chunk: Chunk,
    /// Unit-length embedding.
    pub dense: Vec<f32>,
    /// BM25 document vector.
    pub sparse: SparseVector,
}

/// What is stored for one chunk, as the incremental ingest needs to see it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredRef {
    /// The chunk id.
    pub chunk_id: String,
    /// Its section anchor (to tell an edited section from a new one).
    pub anchor: String,
}

/// The payload fields [`SearchFilter`] matches on. Both backends give each a keyword index, so a
/// filtered search (every turn searches the conversation's locale) reads the index rather than
/// every point's payload.
pub const FILTERED_FIELDS: [&str; 2] = ["locale", "tags"];

/// Payload filters: every given condition must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchFilter {
    /// Only chunks of this locale.
    pub locale: Option<String>,
    /// Only chunks carrying at least one of these tags (none: no tag condition).
    pub tags: Vec<String>,
}

/// One hybrid query.
#[derive(Clone, Debug)]
pub struct IndexQuery {
    /// The query's embedding.
    pub dense: Vec<f32>,
    /// The query's BM25 vector.
    pub sparse: SparseVector,
    /// How many fused results to return.
    pub limit: usize,
    /// How many candidates each of dense and BM25 search contributes before fusion.
    pub candidates: usize,
    /// Payload conditions.
    pub filter: SearchFilter,
}

/// One result.
#[derive(Clone, Debug)]
pub struct IndexHit {
    /// The stored chunk.
    pub chunk: Chunk,
    /// Reciprocal-rank-fusion score (for ordering only; not comparable across queries).
    pub fused: f32,
    /// Cosine similarity between the query and the chunk's embedding: the calibrated evidence.
    pub similarity: f32,
}

/// A store of chunk vectors with hybrid search.
#[async_trait]
pub trait VectorIndex: Send + Sync {
    /// `qdrant-edge` or `qdrant-server`.
    fn backend(&self) -> &'static str;

    /// Insert or replace chunks, all in one write.
    async fn upsert(&self, chunks: Vec<IndexedChunk>) -> Result<(), IndexError>;

    /// Delete chunks by id (unknown ids are ignored).
    async fn delete(&self, chunk_ids: &[String]) -> Result<(), IndexError>;

    /// Every stored chunk, by document path.
    async fn stored(&self) -> Result<BTreeMap<String, Vec<StoredRef>>, IndexError>;

    /// Hybrid search: dense and BM25 candidates fused by reciprocal rank, best first.
    async fn search(&self, query: &IndexQuery) -> Result<Vec<IndexHit>, IndexError>;

    /// Compact and index after a large write (a no-op where the backend does it itself).
    async fn optimize(&self) -> Result<(), IndexError> {
        Ok(())
    }
}

/// The point id of a chunk: its 128-bit id read as a UUID (Qdrant ids are integers or UUIDs).
pub fn point_uuid(chunk_id: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(chunk_id).unwrap_or_else(|_| {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(chunk_id.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Uuid::from_bytes(bytes)
    })
}

/// The payload stored with a chunk.
pub(crate) fn payload(chunk: &Chunk) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(chunk) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

/// Refuse a batch holding a vector of another length than the index's (before any write).
pub(crate) fn check_dimensions(expected: usize, chunks: &[IndexedChunk]) -> Result<(), IndexError> {
    match chunks.iter().find(|c| c.dense.len() != expected) {
        Some(c) => Err(IndexError::Dimension {
            expected,
            found: c.dense.len(),
        }),
        None => Ok(()),
    }
}

/// A chunk read back from its payload.
pub(crate) fn chunk_from_payload(
    backend: &'static str,
    payload: serde_json::Value,
) -> Result<Chunk, IndexError> {
    serde_json::from_value(payload).map_err(|e| IndexError::Operation {
        backend,
        message: format!("a stored chunk has an unreadable payload: {e}"),
    })
}

/// The rank constant of reciprocal rank fusion (Qdrant's usual value; larger flattens ranks).
pub const RRF_K: usize = 60;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ids_are_their_own_point_ids() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(point_uuid(id).simple().to_string(), id);
        // Foreign ids still map to a stable UUID.
        assert_eq!(point_uuid("not-hex"), point_uuid("not-hex"));
        assert_ne!(point_uuid("not-hex"), point_uuid("other"));
    }
}
