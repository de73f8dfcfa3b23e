//! Shared set-up: the repository's folders, the local model, the shared datasets.

#![allow(dead_code)]

use frontline_flows::FlowSet;
use frontline_knowledge::{CachedEmbedder, Embedder, MiniLm};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The flows in `dir` (relative to the repository), with the demo shop's actions.
pub fn flows(dir: &str) -> Arc<FlowSet> {
    Arc::new(
        FlowSet::load(&repo().join(dir), &frontline_shop::actions::catalog())
            .unwrap_or_else(|e| panic!("loading {dir}: {e:?}")),
    )
}

/// all-MiniLM-L6-v2, loaded once per test binary (`make test` installs it).
pub fn minilm() -> Arc<dyn Embedder> {
    static MODEL: OnceLock<Arc<MiniLm>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            Arc::new(
                MiniLm::load(&frontline_knowledge::testing::model_dir())
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .clone()
}

/// The model behind a cache of vectors kept in the build folder, so the dataset evals embed
/// each sentence once per machine.
pub fn cached_minilm(name: &str) -> Arc<dyn Embedder> {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("embeddings-{name}.bin"));
    Arc::new(CachedEmbedder::open(minilm(), &path))
}

/// The vendored public datasets: `evals/datasets`, or `FRONTLINE_SHARED_DATA` when set.
pub fn datasets() -> PathBuf {
    let dir = std::env::var("FRONTLINE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("evals/datasets"));
    assert!(
        dir.is_dir(),
        "the datasets are not at {} (they are vendored in evals/datasets; FRONTLINE_SHARED_DATA overrides)",
        dir.display()
    );
    dir
}
