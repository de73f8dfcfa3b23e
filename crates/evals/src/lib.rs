//! Offline evals for frontline: conversations written as YAML suites (`evals/suites/`), played
//! step by step or by a scripted persona on the real agent (flows, understanding, knowledge base,
//! shop, SQLite), checked by assertions after any step, and summed up in one set of figures:
//! pass rates, command precision/recall, flow and step coverage, escalation precision/recall,
//! groundedness, automation, repeat asks, context transfer, latency and LLM cost. Reports go to
//! the terminal, `report.json` and a self-contained `report.html`; a baseline comparison turns a
//! run into a CI gate.

pub mod case;
pub mod html;
pub mod metrics;
pub mod persona;
pub mod report;
pub mod run;
pub mod simulated;
pub mod tau2;

pub use case::{load_suite, load_suites, parse_suite, Assertion, Case, Suite};
pub use metrics::{figures, Figures};
pub use report::{compare, Baseline, Comparison, Report};
pub use run::{run_case, run_suites, CaseRun, StepRun, World};

use frontline_flows::load::Diagnostic;
use std::path::PathBuf;

/// Why an eval could not run (a failing case is not an error: it is a result).
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Suite files are malformed; each problem names file:line:col.
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
    /// The world a case needs could not be set up.
    #[error("{0}")]
    Setup(String),
}
