//! Conversation logs kept in memory between turns, so a turn reads only what was appended since
//! the last one instead of the whole log (a long conversation's log is hundreds of events, so
//! reading and parsing all of it made every turn slower the longer the conversation ran).
//!
//! The log in the store stays the truth. Events are only ever appended, with gap-free sequence
//! numbers, so a kept log is a prefix of the stored one, and reading the events after its last
//! sequence number brings it up to date, whoever appended them (another replica, a person's
//! message, a release). A turn *takes* the log out (no copy) and puts it back only after its
//! commit succeeded; a turn that fails drops it, and the next one reads it from the store. The
//! memory is bounded by a number of events: past it, the least recently used logs go.

use frontline_domain::{ConversationId, Event};
use frontline_store::{Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The kept logs.
pub(crate) struct Logs {
    capacity: usize,
    inner: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    logs: HashMap<ConversationId, (Vec<Event>, u64)>,
    /// Last use → conversation, oldest first.
    by_use: BTreeMap<u64, ConversationId>,
    events: usize,
    clock: u64,
}

impl Logs {
    /// Keep at most `capacity` events in all (0 keeps nothing: every turn reads its whole log).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::default(),
        }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        // Nothing panics while holding the lock, so it cannot be poisoned.
        self.inner.lock().expect("kept logs lock")
    }

    /// The conversation's whole log, up to date: the kept part (taken out) and what the store
    /// holds after it.
    pub async fn take(
        &self,
        store: &Store,
        conversation_id: ConversationId,
    ) -> Result<Vec<Event>, StoreError> {
        let mut log = self.kept().remove(conversation_id).unwrap_or_default();
        let after = log.last().map_or(0, |e| e.seq);
        log.extend(store.events_after(conversation_id, after).await?);
        Ok(log)
    }

    /// Keep `log`, which the store now holds (its operation committed).
    pub fn put_back(&self, conversation_id: ConversationId, log: Vec<Event>) {
        if log.len() > self.capacity {
            return;
        }
        let mut kept = self.kept();
        kept.remove(conversation_id);
        kept.clock += 1;
        let tick = kept.clock;
        kept.events += log.len();
        kept.by_use.insert(tick, conversation_id);
        kept.logs.insert(conversation_id, (log, tick));
        while kept.events > self.capacity {
            let Some((_, oldest)) = kept.by_use.pop_first() else {
                break;
            };
            if let Some((log, _)) = kept.logs.remove(&oldest) {
                kept.events -= log.len();
            }
        }
    }

    /// How many events are kept now.
    #[cfg(test)]
    fn events(&self) -> usize {
        self.kept().events
    }
}

impl Kept {
    fn remove(&mut self, conversation_id: ConversationId) -> Option<Vec<Event>> {
        let (log, tick) = self.logs.remove(&conversation_id)?;
        self.by_use.remove(&tick);
        self.events -= log.len();
        Some(log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontline_domain::{ConversationStatus, EventKind, Timestamp};

    fn status_change(conversation_id: ConversationId, seq: i64) -> Event {
        Event {
            conversation_id,
            seq,
            at: Timestamp::default(),
            kind: EventKind::StatusChanged {
                from: ConversationStatus::Bot,
                to: ConversationStatus::HandedOff,
            },
        }
    }

    #[test]
    fn least_recently_used_logs_go_first_and_the_count_stays_within_capacity() {
        let logs = Logs::new(5);
        let (a, b, c) = (
            ConversationId::new(),
            ConversationId::new(),
            ConversationId::new(),
        );
        let log = |id, n| (1..=n).map(|s| status_change(id, s)).collect::<Vec<_>>();
        logs.put_back(a, log(a, 2));
        logs.put_back(b, log(b, 2));
        assert_eq!(logs.events(), 4);
        // Using `a` again makes `b` the oldest; `c` needs room.
        let taken = logs.kept().remove(a).unwrap();
        logs.put_back(a, taken);
        logs.put_back(c, log(c, 3));
        assert_eq!(logs.events(), 5);
        assert!(logs.kept().logs.contains_key(&a) && logs.kept().logs.contains_key(&c));
        assert!(!logs.kept().logs.contains_key(&b));
        // A log longer than the whole capacity is not kept at all.
        logs.put_back(b, log(b, 6));
        assert!(!logs.kept().logs.contains_key(&b));
        assert_eq!(logs.events(), 5);
        // Taking a log out leaves nothing behind for it.
        assert_eq!(logs.kept().remove(c).map(|l| l.len()), Some(3));
        assert_eq!(logs.events(), 2);
    }
}
