//! Flows: the YAML format CX teams write transactions in, its JSON Schema, a loader whose every
//! error says `file:line:col`, semantic checks, and the decision engine that runs flows as a
//! pure state machine.

pub mod load;
pub mod spec;
pub mod yaml;

pub use load::{load_dir, parse_flow, Diagnostic, SourceFlow};
pub use spec::{FlowSpec, Outcome, Tier};
pub mod candidates;
pub mod compile;
pub mod expr;
pub mod graph;
mod literals;
pub mod locale;
pub mod template;

pub use compile::{CompiledFlow, FlowSet};
pub mod engine;
pub mod slots;
pub mod wording;

pub use engine::{Effect, Engine, Env, Input};
pub mod testing;
