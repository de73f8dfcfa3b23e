//! The channels crate's integration tests: every provider's webhook fixtures read into
//! snapshots.

mod fixtures;
