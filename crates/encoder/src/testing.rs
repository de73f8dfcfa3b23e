//! Test and benchmark support (feature `testing`): where the tests find the model that
//! `scripts/model.sh` installed, from the same variables the binary's configuration reads.

use crate::MiniLm;
use std::path::PathBuf;

/// The model folder the environment names (`FRONTLINE_EMBEDDING_MODEL_DIR`,
/// `FRONTLINE_MODEL_CACHE`, `HOME`), as [`MiniLm::install_dir`] resolves them.
pub fn model_dir() -> PathBuf {
    let var = |name: &str| std::env::var(name).ok();
    MiniLm::install_dir(
        var("FRONTLINE_EMBEDDING_MODEL_DIR").as_deref(),
        var("FRONTLINE_MODEL_CACHE").as_deref(),
        var("HOME").as_deref(),
    )
}
