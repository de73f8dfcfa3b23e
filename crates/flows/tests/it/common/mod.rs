//! Shared by the flows crate's test files (each uses only some of it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The vendored public datasets: `evals/datasets`, or `FRONTLINE_SHARED_DATA` when set.
pub fn datasets() -> PathBuf {
    std::env::var("FRONTLINE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../evals/datasets"))
}

/// Load a folder of flows against `catalog`, or fail the test listing every diagnostic.
pub fn load_flows(
    dir: &Path,
    catalog: &[frontline_domain::ActionSpec],
) -> frontline_flows::FlowSet {
    frontline_flows::FlowSet::load(dir, catalog).unwrap_or_else(|d| {
        panic!(
            "{}",
            d.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

/// The repository's demo flows, checked against the demo shop.
pub fn demo_flows() -> frontline_flows::FlowSet {
    load_flows(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows"),
        &frontline_shop::actions::catalog(),
    )
}
