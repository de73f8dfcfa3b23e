//! The repository's flow tests (`flows/tests/*.yaml`) pass and run every step of every flow.

use frontline_flows::testing::run_dir;
use frontline_flows::Engine;

use std::path::Path;
use std::sync::Arc;

use crate::common;

#[test]
fn every_demo_flow_test_passes_and_every_step_is_covered() {
    let flows_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows");
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let report = run_dir(&engine, &flows_dir.join("tests")).unwrap_or_else(|d| panic!("{d:?}"));
    let failed: Vec<String> = report
        .failed()
        .map(|c| {
            format!(
                "{}:{} {}: {}",
                c.file.display(),
                c.position.line,
                c.name,
                c.failures.join("; ")
            )
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(report.cases.len() >= 20, "{} cases", report.cases.len());
    let uncovered: Vec<String> = report
        .uncovered(&engine)
        .iter()
        .map(|(f, s, file, p)| format!("{}:{}: {f} step {s}", file.display(), p.line))
        .collect();
    assert!(
        uncovered.is_empty(),
        "steps no test runs:\n{}",
        uncovered.join("\n")
    );
    assert_eq!(report.step_coverage(&engine), 1.0);
}
