//! The agent crate's integration tests, one binary (one link, one process) for all of
//! them; each module is one subject.

mod hostile_llm;
mod knowledge;
mod languages;
mod llm_mode;
mod pipeline;
mod turn_span;
mod verification;
mod wording;
