//! The understanding crate's integration tests, one binary (one link, one process) for all of
//! them; each module is one subject.

mod common;
mod intents;
mod llm_server;
mod local;
mod sentiment;
mod slots;
