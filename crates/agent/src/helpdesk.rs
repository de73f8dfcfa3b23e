//! What a helpdesk reports about a handed-off conversation's ticket, read against the log: a
//! redelivered event is applied once, and a status change older than the last one applied is
//! stale (webhooks arrive out of order).

use frontline_domain::{Event, EventKind, HelpdeskChange, Timestamp};
use serde::Serialize;

/// What became of a helpdesk's event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HelpdeskApplied {
    /// It changed the conversation.
    Applied,
    /// The same event was applied before (a redelivery): nothing changed.
    Duplicate,
    /// A newer status change was applied already: this older one changes nothing.
    Stale,
    /// Recorded, but the conversation was already so (solved while the bot had it, say).
    Unchanged,
}

/// Whether `event_id` of `helpdesk` was seen, or a status change `at` is older than the last
/// status change applied from it.
pub(crate) fn verdict(
    log: &[Event],
    helpdesk: &str,
    event_id: &str,
    change: &HelpdeskChange,
    at: Timestamp,
) -> Option<HelpdeskApplied> {
    let mut latest_status: Option<Timestamp> = None;
    for event in log {
        if let EventKind::HelpdeskUpdated {
            helpdesk: h,
            event_id: id,
            change: c,
            at: when,
            applied,
        } = &event.kind
        {
            if h != helpdesk {
                continue;
            }
            if id == event_id {
                return Some(HelpdeskApplied::Duplicate);
            }
            if *applied && c != "person_wrote" {
                latest_status = latest_status.max(Some(*when));
            }
        }
    }
    (change.is_status() && latest_status.is_some_and(|latest| at < latest))
        .then_some(HelpdeskApplied::Stale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontline_domain::ConversationId;

    fn updated(id: &str, change: &str, at: Timestamp, applied: bool) -> Event {
        Event {
            conversation_id: ConversationId::new(),
            seq: 0,
            at,
            kind: EventKind::HelpdeskUpdated {
                helpdesk: "zendesk".into(),
                event_id: id.into(),
                change: change.into(),
                at,
                applied,
            },
        }
    }

    #[test]
    fn a_redelivery_is_a_duplicate_and_an_older_status_change_is_stale() {
        let t = |m: i64| chrono::DateTime::from_timestamp(1_800_000_000 + m * 60, 0).unwrap();
        let log = [
            updated("e1", "person_wrote", t(1), true),
            updated("e2", "solved", t(5), true),
            updated("e3", "reopened", t(9), false),
        ];
        let v = |id: &str, change: HelpdeskChange, at| verdict(&log, "zendesk", id, &change, at);
        assert_eq!(
            v("e1", HelpdeskChange::Solved, t(20)),
            Some(HelpdeskApplied::Duplicate)
        );
        // Older than the solve applied at 5: stale. A change not applied sets no bar.
        assert_eq!(
            v("e4", HelpdeskChange::Reopened, t(3)),
            Some(HelpdeskApplied::Stale)
        );
        assert_eq!(v("e5", HelpdeskChange::Reopened, t(7)), None);
        // A reply is never stale: a late reply still reaches the customer.
        let reply = HelpdeskChange::PersonWrote {
            author: "Sam".into(),
            text: "hello".into(),
            private: false,
        };
        assert_eq!(v("e6", reply, t(2)), None);
        // Another helpdesk's ids are its own.
        assert_eq!(
            verdict(&log, "freshdesk", "e1", &HelpdeskChange::Solved, t(2)),
            None
        );
    }
}
