//! The flows crate's integration tests, one binary (one link, one process) for all of
//! them; each module is one subject.

mod abcd;
mod checks;
mod common;
mod engine;
mod flow_tests;
mod locales;
mod properties;
