//! The knowledge crate's integration tests, one binary (one link, one process) for all of
//! them; each module is one subject.

mod conformance;
mod knowledge_base;
