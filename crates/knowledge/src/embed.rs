//! Embeddings for the knowledge base: the encoder's [`Embedder`] trait and its local model
//! ([`frontline_encoder`]), and the wrappers the knowledge base and evals put around any
//! embedder: a file cache for evals, and a memory of recent single texts for serving.

pub use frontline_encoder::{cosine, EmbedError, Embedder, MiniLm};
use std::path::{Path, PathBuf};

/// An embedder that remembers: vectors are kept in a file keyed by a hash of the model name and
/// the text, so evals over tens of thousands of sentences embed each one once per machine.
/// Never used for serving; the file lives in a cache folder, not the repository.
pub struct CachedEmbedder {
    inner: std::sync::Arc<dyn Embedder>,
    path: PathBuf,
    known: std::sync::Mutex<std::collections::HashMap<[u8; 16], Vec<f32>>>,
}

impl CachedEmbedder {
    /// Wrap `inner`, reading what `path` already holds (a missing or torn file is fine).
    pub fn open(inner: std::sync::Arc<dyn Embedder>, path: &Path) -> Self {
        let dimension = inner.dimension();
        let record = 16 + 4 * dimension;
        let mut known = std::collections::HashMap::new();
        if let Ok(bytes) = std::fs::read(path) {
            for chunk in bytes.chunks_exact(record) {
                let mut key = [0u8; 16];
                key.copy_from_slice(&chunk[..16]);
                let vector = chunk[16..]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                known.insert(key, vector);
            }
        }
        Self {
            inner,
            path: path.to_path_buf(),
            known: std::sync::Mutex::new(known),
        }
    }

    fn key(&self, text: &str) -> [u8; 16] {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(self.inner.name().as_bytes())
            .chain_update([0u8])
            .chain_update(text.as_bytes())
            .finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        key
    }
}

#[async_trait::async_trait]
impl Embedder for CachedEmbedder {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let keys: Vec<[u8; 16]> = texts.iter().map(|t| self.key(t)).collect();
        let missing: Vec<(usize, String)> = {
            let known = self.known.lock().expect("embedding cache lock");
            texts
                .iter()
                .enumerate()
                .filter(|(i, _)| !known.contains_key(&keys[*i]))
                .map(|(i, t)| (i, t.clone()))
                .collect()
        };
        if !missing.is_empty() {
            let fresh = self
                .inner
                .embed(&missing.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>())
                .await?;
            let mut bytes = Vec::with_capacity(fresh.len() * (16 + 4 * self.dimension()));
            let mut known = self.known.lock().expect("embedding cache lock");
            for ((i, _), vector) in missing.iter().zip(fresh) {
                bytes.extend_from_slice(&keys[*i]);
                for x in &vector {
                    bytes.extend_from_slice(&x.to_le_bytes());
                }
                known.insert(keys[*i], vector);
            }
            drop(known);
            // A cache that cannot be written only costs time next run.
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            use std::io::Write;
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .and_then(|mut f| f.write_all(&bytes));
            if let Err(e) = written {
                tracing::warn!(path = %self.path.display(), error = %e, "could not write the embedding cache");
            }
        }
        let known = self.known.lock().expect("embedding cache lock");
        Ok(keys.iter().map(|k| known[k].clone()).collect())
    }
}

/// Remembers the vectors of the latest single texts it embedded, in memory. One message is
/// embedded by several steps of its turn (the router, the knowledge probe's search, the answer's
/// search): with this in front of the model they share one forward pass (or one HTTP call, for
/// an embeddings endpoint). Calls with several texts (ingest, building the router) go straight
/// through and are not remembered. At most `capacity` texts are kept; the oldest goes first.
pub struct RecentEmbeddings {
    inner: std::sync::Arc<dyn Embedder>,
    capacity: usize,
    recent: std::sync::Mutex<RecentVectors>,
}

#[derive(Default)]
struct RecentVectors {
    vectors: std::collections::HashMap<String, Vec<f32>>,
    order: std::collections::VecDeque<String>,
}

impl RecentEmbeddings {
    /// How many texts are kept by default: enough for every turn in flight on a busy replica
    /// to find its message again between its first and last step (about 1.5 MB at 384 floats).
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// Remember up to `capacity` single texts embedded by `inner`.
    pub fn new(inner: std::sync::Arc<dyn Embedder>, capacity: usize) -> Self {
        Self {
            inner,
            capacity: capacity.max(1),
            recent: std::sync::Mutex::default(),
        }
    }

    /// How many texts are remembered now.
    pub fn len(&self) -> usize {
        self.recent
            .lock()
            .expect("recent embeddings lock")
            .order
            .len()
    }

    /// Whether nothing is remembered yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget every text (benchmarks measure each message as if never seen).
    pub fn forget(&self) {
        *self.recent.lock().expect("recent embeddings lock") = RecentVectors::default();
    }
}

#[async_trait::async_trait]
impl Embedder for RecentEmbeddings {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let [text] = texts else {
            return self.inner.embed(texts).await;
        };
        if let Some(vector) = self
            .recent
            .lock()
            .expect("recent embeddings lock")
            .vectors
            .get(text)
        {
            return Ok(vec![vector.clone()]);
        }
        let vectors = self.inner.embed(texts).await?;
        let mut recent = self.recent.lock().expect("recent embeddings lock");
        if let (Some(vector), false) = (vectors.first(), recent.vectors.contains_key(text)) {
            if recent.order.len() >= self.capacity {
                if let Some(oldest) = recent.order.pop_front() {
                    recent.vectors.remove(&oldest);
                }
            }
            recent.order.push_back(text.clone());
            recent.vectors.insert(text.clone(), vector.clone());
        }
        Ok(vectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the texts it is asked to embed; each text's vector is its length.
    #[derive(Default)]
    struct Counting(std::sync::atomic::AtomicUsize);

    #[async_trait::async_trait]
    impl Embedder for Counting {
        fn name(&self) -> String {
            "counting".into()
        }
        fn dimension(&self) -> usize {
            1
        }
        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.0
                .fetch_add(texts.len(), std::sync::atomic::Ordering::Relaxed);
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        }
    }

    #[tokio::test]
    async fn recent_single_texts_are_embedded_once_and_batches_pass_through() {
        let counting = std::sync::Arc::new(Counting::default());
        let memo = RecentEmbeddings::new(counting.clone(), 2);
        let embedded = || counting.0.load(std::sync::atomic::Ordering::Relaxed);
        let one = |t: &str| vec![t.to_string()];
        assert_eq!(memo.embed(&one("refund?")).await.unwrap(), vec![vec![7.0]]);
        assert_eq!(memo.embed(&one("refund?")).await.unwrap(), vec![vec![7.0]]);
        assert_eq!(embedded(), 1, "the second ask is answered from memory");
        // A batch is embedded whole and not remembered.
        let batch = vec!["a".to_string(), "refund?".to_string()];
        assert_eq!(memo.embed(&batch).await.unwrap().len(), 2);
        assert_eq!((embedded(), memo.len()), (3, 1));
        // Bounded: a third text pushes out the oldest.
        memo.embed(&one("hello")).await.unwrap();
        memo.embed(&one("shipping")).await.unwrap();
        assert_eq!(memo.len(), 2);
        memo.embed(&one("refund?")).await.unwrap();
        assert_eq!(
            embedded(),
            6,
            "the oldest text was forgotten and embedded again"
        );
        assert_eq!(memo.name(), "counting");
    }
}
