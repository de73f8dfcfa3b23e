//! Shared by the flows crate's test files.

use std::path::{Path, PathBuf};

/// The public datasets: `FRONTLINE_SHARED_DATA`, or `../shared/data` beside the repository.
pub fn shared_data() -> PathBuf {
    std::env::var("FRONTLINE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}
