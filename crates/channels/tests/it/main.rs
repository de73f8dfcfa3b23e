//! The channels crate's integration tests, one binary: delivery through the outbox worker
//! against provider doubles and a real SMTP server, and every provider's webhook fixtures read
//! into snapshots.

mod deliver;
mod fixtures;
