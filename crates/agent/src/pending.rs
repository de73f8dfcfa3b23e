//! What one agent operation (a turn, the handoff of an undeliverable reply, a person's message,
//! a release) writes, gathered while it runs and committed in one transaction at its end
//! ([`frontline_store::Store::apply`]). A crash leaves all of it or none of it, so a message
//! whose turn did not commit simply runs again, and is never half-answered or answered twice.

use frontline_domain::{
    ConversationId, ConversationStatus, Event, EventKind, OutboundMessage, OutboxId, Timestamp,
};
use frontline_store::{Write, WriteBatch};
use std::sync::{Arc, Mutex};

/// A source of "now"; injectable so tests and evals are deterministic.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The writes of one operation on one conversation, not yet committed, each stamped by the
/// operation's clock.
pub(crate) struct Pending {
    conversation_id: ConversationId,
    clock: Clock,
    inner: Mutex<Inner>,
}

struct Inner {
    next_seq: i64,
    status: ConversationStatus,
    appended: Vec<Event>,
    batch: WriteBatch,
}

impl Pending {
    /// Start on a conversation whose log (as read) is `log` and whose status is `status`.
    pub fn new(
        conversation_id: ConversationId,
        status: ConversationStatus,
        log: &[Event],
        clock: Clock,
    ) -> Self {
        Self {
            conversation_id,
            clock,
            inner: Mutex::new(Inner {
                next_seq: log.last().map_or(0, |e| e.seq) + 1,
                status,
                appended: vec![],
                batch: WriteBatch::default(),
            }),
        }
    }

    /// The conversation written to.
    pub fn conversation_id(&self) -> ConversationId {
        self.conversation_id
    }

    /// Now, by the operation's clock.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock, so it cannot be poisoned.
        self.inner.lock().expect("pending writes lock")
    }

    /// Append an event (at the next sequence number), stamped now.
    pub fn log(&self, kind: EventKind) -> Event {
        let at = self.now();
        let mut inner = self.inner();
        let event = Event {
            conversation_id: self.conversation_id,
            seq: inner.next_seq,
            at,
            kind,
        };
        inner.next_seq += 1;
        inner.batch.push(Write::Event {
            conversation_id: event.conversation_id,
            seq: event.seq,
            at,
            kind: event.kind.clone(),
        });
        inner.appended.push(event.clone());
        event
    }

    /// The events appended so far.
    pub fn appended(&self) -> Vec<Event> {
        self.inner().appended.clone()
    }

    /// The conversation's status, with this operation's change.
    pub fn status(&self) -> ConversationStatus {
        self.inner().status
    }

    /// Set the conversation's status and log the change; returns the status it had.
    pub fn change_status(&self, to: ConversationStatus) -> ConversationStatus {
        let from = {
            let mut inner = self.inner();
            let from = std::mem::replace(&mut inner.status, to);
            inner.batch.push(Write::Status {
                conversation_id: self.conversation_id,
                status: to,
            });
            from
        };
        self.log(EventKind::StatusChanged { from, to });
        from
    }

    /// Put a reply in the outbox; `delivered` when it reaches the customer in a response.
    pub fn reply(&self, message: OutboundMessage, delivered: bool) -> OutboxId {
        self.queue(message, delivered, None)
    }

    /// Put a message in the outbox, not to be sent before `not_before`.
    pub fn reply_later(&self, message: OutboundMessage, not_before: Timestamp) -> OutboxId {
        self.queue(message, false, Some(not_before))
    }

    fn queue(
        &self,
        message: OutboundMessage,
        delivered: bool,
        not_before: Option<Timestamp>,
    ) -> OutboxId {
        let (id, at) = (OutboxId::new(), self.now());
        self.inner().batch.push(Write::Outbox {
            id,
            message,
            at,
            delivered,
            not_before,
        });
        id
    }

    /// Give up an outbox entry that has not gone out yet.
    pub fn withdraw(&self, id: OutboxId, reason: &str) {
        let at = self.now();
        self.inner().batch.push(Write::OutboxWithdraw {
            id,
            reason: reason.to_string(),
            at,
        });
    }

    /// Put a handoff in the handoff outbox.
    pub fn handoff(&self, id: String, target: &str, request: serde_json::Value) {
        let at = self.now();
        self.inner().batch.push(Write::Handoff {
            id,
            conversation_id: self.conversation_id,
            target: target.to_string(),
            request,
            at,
        });
    }

    /// Add a last write (the inbox record) and hand over the batch.
    pub fn finish(self, last: Option<Write>) -> WriteBatch {
        let mut batch = self.inner.into_inner().expect("pending writes lock").batch;
        if let Some(write) = last {
            batch.push(write);
        }
        batch
    }
}
