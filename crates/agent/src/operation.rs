//! One conversation operation, the shape of every write to a conversation: the turn, a release
//! to the bot, a person's message and the handoff of an undeliverable reply. The customer's
//! turn lock is held throughout; the log is read from the kept logs (and what the store holds
//! after them); the operation's writes gather in a [`Pending`] and are committed once, at the
//! end; and the log, now with them, is kept for the next operation.

use crate::error::AgentError;
use crate::locks::{CustomerLocks, TurnGuard};
use crate::logs::Logs;
use crate::pending::Clock;
use crate::pending::Pending;
use frontline_domain::{Conversation, ConversationId, CustomerId, Event};
use frontline_store::{Store, Write};

/// Where conversation operations begin and commit: the store, the customers' turn locks and
/// the kept logs.
pub(crate) struct Conversations {
    store: Store,
    locks: CustomerLocks,
    logs: Logs,
}

/// A conversation's log and the writes gathered on it, between [`Conversations::begin`] and
/// [`Conversations::commit`].
pub(crate) struct Operation {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Its whole log, up to date when the operation began.
    pub log: Vec<Event>,
    /// Where the operation's writes gather.
    pub pending: Pending,
}

impl Conversations {
    /// Operations on `store`, keeping up to `kept_log_events` events of recent logs in memory.
    pub fn new(store: Store, kept_log_events: usize) -> Self {
        Self {
            store,
            locks: CustomerLocks::default(),
            logs: Logs::new(kept_log_events),
        }
    }

    /// Wait for the customer's turn lock.
    pub async fn lock_customer(&self, customer: CustomerId) -> TurnGuard<'_> {
        self.locks.lock(customer).await
    }

    /// Lock the conversation's customer and read the conversation under the lock (a turn may
    /// have changed it meanwhile).
    pub async fn lock_conversation(
        &self,
        conversation_id: ConversationId,
    ) -> Result<(TurnGuard<'_>, Conversation), AgentError> {
        let customer = self.store.conversation(conversation_id).await?.customer_id;
        let guard = self.locks.lock(customer).await;
        let conversation = self.store.conversation(conversation_id).await?;
        Ok((guard, conversation))
    }

    /// Begin an operation on `conversation` (its customer's lock held): its log, from the kept
    /// logs, and an empty set of writes stamped by `clock`.
    pub async fn begin(
        &self,
        conversation: &Conversation,
        clock: &Clock,
    ) -> Result<Operation, AgentError> {
        let log = self.logs.take(&self.store, conversation.id).await?;
        let pending = Pending::new(conversation.id, conversation.status, &log, clock.clone());
        Ok(Operation {
            conversation_id: conversation.id,
            log,
            pending,
        })
    }

    /// Commit what the operation gathered, with `last` (a turn's inbox record) in the same
    /// transaction, and keep the log. Returns the events it appended. An operation dropped
    /// without a commit writes nothing, and its log is read again next time.
    pub async fn commit(
        &self,
        operation: Operation,
        last: Option<Write>,
    ) -> Result<Vec<Event>, AgentError> {
        let Operation {
            conversation_id,
            mut log,
            pending,
        } = operation;
        let appended = pending.appended();
        self.store.apply(&pending.finish(last)).await?;
        log.extend(appended.iter().cloned());
        self.logs.put_back(conversation_id, log);
        Ok(appended)
    }
}
