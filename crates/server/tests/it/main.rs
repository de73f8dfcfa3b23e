//! The server crate's integration tests, one binary (one link, one process) for all of
//! them; each module is one subject.

mod api;
mod channels;
mod common;
mod console;
mod continuity_eval;
mod deliver;
mod helpdesk;
mod survey_links;
