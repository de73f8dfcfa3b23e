//! The compose stage: the one reply a turn sends, from what the decision says (joined into one
//! message, since SMS and email want one), the handoff notice when a person takes over, or,
//! when nothing in the message could be acted on, what the loaded flows can do.

use crate::decide::Decision;
use frontline_flows::FlowSet;

/// The reply when nothing in the message could be acted on: what the loaded flows can do.
pub(crate) fn not_understood(flows: &FlowSet) -> String {
    flows
        .wording()
        .say("not_understood", &[("capabilities", &flows.capabilities())])
}

/// The reply's text: what the decision says, followed by `handoff_notice` when the decision
/// hands off.
pub(crate) fn compose(
    decision: &Decision,
    flows: &FlowSet,
    handoff_notice: impl FnOnce() -> String,
) -> String {
    if decision.handoff.is_some() {
        let mut parts = decision.texts.clone();
        parts.push(handoff_notice());
        parts.join("\n\n")
    } else if decision.texts.is_empty() {
        not_understood(flows)
    } else {
        decision.texts.join("\n\n")
    }
}
