//! The action-runner interface the decide stage runs the engine through. The engine asks for an
//! action; the runner carries it out and records it, and the engine gets the outcome back. The
//! turn's runner ([`TurnActions`]) sends a `verify` step's calls to the one-time-code verifier
//! and every other call to the business backend, within the configured timeout.

use crate::pending::Pending;
use crate::verify::{self, Asker, Verifier};
use frontline_domain::{ActionBackend, ActionCall, ActionError, EventKind};
use serde_json::Value;
use std::time::Duration;

/// Carries out the actions a flow calls, recording each in the operation's writes.
pub(crate) trait ActionRunner {
    /// Run `call`; what the engine gets back.
    async fn run(&self, call: ActionCall, pending: &Pending) -> Result<Value, ActionError>;
}

/// The actions of one turn: the backend's (timed) and the `verify` step's.
pub(crate) struct TurnActions<'a> {
    pub backend: &'a dyn ActionBackend,
    pub timeout: Duration,
    pub verifier: Verifier<'a>,
    pub asker: Asker<'a>,
}

impl ActionRunner for TurnActions<'_> {
    async fn run(&self, call: ActionCall, pending: &Pending) -> Result<Value, ActionError> {
        if verify::is_verification(&call) {
            // The verifier records what happened itself (a code typed is never logged).
            return verify::answer(&self.verifier, &self.asker, &call).await;
        }
        let outcome = timed(self.backend, &call, self.timeout).await;
        pending.log(EventKind::ActionExecuted {
            call,
            outcome: outcome.clone(),
        });
        outcome
    }
}

/// Run an action within `timeout`; past it, it counts as a backend failure (retried where the
/// flow allows, then escalated).
async fn timed(
    backend: &dyn ActionBackend,
    call: &ActionCall,
    timeout: Duration,
) -> Result<Value, ActionError> {
    match tokio::time::timeout(timeout, backend.execute(call)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::warn!(action = %call.name, ?timeout, "action timed out");
            Err(ActionError::Backend {
                message: format!("`{}` timed out after {timeout:?}", call.name),
            })
        }
    }
}
