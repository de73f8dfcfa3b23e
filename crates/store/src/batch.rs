//! Write batches: what one turn writes (its events, a status change, its replies, a handoff, the
//! inbox record that it ran) lands in one transaction, so a crash anywhere leaves all of it or
//! none of it, and the message's turn simply runs again.
//!
//! Events in a batch carry the sequence numbers their writer expects (the log's last one, plus
//! one for each). If another writer appended to the same conversation meanwhile, the insert
//! collides on the primary key and the whole batch is refused with [`StoreError::Conflict`]:
//! optimistic concurrency, so two replicas can never interleave one conversation's turns.

use crate::db::{query, On};
use crate::{to_json, to_millis, Result, Store, StoreError};
use frontline_domain::{
    Channel, ConversationId, ConversationStatus, EventKind, OutboundMessage, OutboxId, Timestamp,
};

/// One write of a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// Append an event at an expected sequence number.
    Event {
        /// The conversation.
        conversation_id: ConversationId,
        /// Its sequence number (the log's last plus one, and so on).
        seq: i64,
        /// When it happened.
        at: Timestamp,
        /// What happened.
        kind: EventKind,
    },
    /// Set a conversation's status.
    Status {
        /// The conversation.
        conversation_id: ConversationId,
        /// The new status.
        status: ConversationStatus,
    },
    /// Write a reply to the outbox.
    Outbox {
        /// Its id (chosen by the writer, so events can name it).
        id: OutboxId,
        /// The reply.
        message: OutboundMessage,
        /// When it was written.
        at: Timestamp,
        /// True when the reply already reached the customer (a REST response).
        delivered: bool,
        /// Not to be sent before this (a survey asked a while after the resolution); `None`:
        /// due when written.
        not_before: Option<Timestamp>,
    },
    /// Give up an outbox entry not yet delivered (a survey the customer wrote before, or a
    /// person took over before, it was due); a delivered entry stays as it is.
    OutboxWithdraw {
        /// The entry.
        id: OutboxId,
        /// Why, kept as its last error (`withdrawn: …`).
        reason: String,
        /// When.
        at: Timestamp,
    },
    /// Write a handoff to the handoff outbox (a no-op when its id is there already).
    Handoff {
        /// Its id (the idempotency key sent to the helpdesk).
        id: String,
        /// The conversation handed off.
        conversation_id: ConversationId,
        /// The target it goes to.
        target: String,
        /// The request (summary and note).
        request: serde_json::Value,
        /// When it was written.
        at: Timestamp,
    },
    /// Record that an inbound message's turn ran, with what a redelivery should get.
    InboxDone {
        /// The channel.
        channel: Channel,
        /// The provider's message id.
        channel_message_id: String,
        /// The conversation it landed in.
        conversation_id: Option<ConversationId>,
        /// The stored result.
        result: serde_json::Value,
        /// When.
        at: Timestamp,
    },
}

/// Writes that land together or not at all, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteBatch {
    /// The writes.
    pub writes: Vec<Write>,
}

impl WriteBatch {
    /// Add a write.
    pub fn push(&mut self, write: Write) {
        self.writes.push(write);
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

impl Store {
    /// Apply every write of `batch` in one transaction. A write that collides (an event whose
    /// sequence number another writer took) refuses the whole batch with
    /// [`StoreError::Conflict`]; nothing of it is kept.
    pub async fn apply(&self, batch: &WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        // A turn's events stand together: one statement for all of them (they refer to no
        // other write of the batch, so inside the transaction they may go first), then the
        // other writes in order.
        let (events, others): (Vec<&Write>, Vec<&Write>) = batch
            .writes
            .iter()
            .partition(|w| matches!(w, Write::Event { .. }));
        for run in events.chunks(EVENTS_PER_STATEMENT) {
            insert_events(&mut tx, run).await?;
        }
        for write in others {
            execute(&mut tx, write).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The most events one INSERT carries (5 parameters each; far under either engine's limit).
const EVENTS_PER_STATEMENT: usize = 100;

/// Insert `events` (every one a [`Write::Event`]) with one statement, in order.
async fn insert_events<'c>(on: impl Into<On<'c>>, events: &[&Write]) -> Result<()> {
    let rows: Vec<String> = (0..events.len())
        .map(|i| {
            let n = 5 * i;
            format!(
                "(${}, ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO events (conversation_id, seq, at, kind, payload) VALUES {}",
        rows.join(", ")
    );
    let mut query = query(&sql);
    let mut described = None;
    for write in events {
        let Write::Event {
            conversation_id,
            seq,
            at,
            kind,
        } = write
        else {
            unreachable!("insert_events is given events only");
        };
        described.get_or_insert((*conversation_id, *seq));
        query = query
            .bind(conversation_id.to_string())
            .bind(*seq)
            .bind(to_millis(*at))
            .bind(kind.name())
            .bind(to_json(kind));
    }
    query.execute(on.into()).await.map_err(|e| {
        let (conversation_id, seq) = described.expect("at least one event");
        conflict_or(e, || {
            format!(
                "events {seq}–{} of conversation {conversation_id}: another turn wrote one of them",
                seq + events.len() as i64 - 1
            )
        })
    })?;
    Ok(())
}

/// A unique violation is another writer's turn ([`StoreError::Conflict`], saying `what`); any
/// other failure is the database's.
fn conflict_or(e: StoreError, what: impl FnOnce() -> String) -> StoreError {
    if e.is_unique_violation() {
        StoreError::Conflict(what())
    } else {
        e
    }
}

/// Run one write on the database or in an open transaction.
pub(crate) async fn execute<'c>(on: impl Into<On<'c>>, write: &Write) -> Result<()> {
    match write {
        Write::Event {
            conversation_id,
            seq,
            at,
            kind,
        } => {
            query(
                "INSERT INTO events (conversation_id, seq, at, kind, payload) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(conversation_id.to_string())
            .bind(*seq)
            .bind(to_millis(*at))
            .bind(kind.name())
            .bind(to_json(kind))
            .execute(on)
            .await
            .map_err(|e| {
                conflict_or(e, || {
                    format!(
                        "event {seq} of conversation {conversation_id} was written by another turn"
                    )
                })
            })?;
        }
        Write::Status {
            conversation_id,
            status,
        } => {
            query("UPDATE conversations SET status = $1 WHERE id = $2")
                .bind(status.as_str())
                .bind(conversation_id.to_string())
                .execute(on)
                .await?;
        }
        Write::Outbox {
            id,
            message,
            at,
            delivered,
            not_before,
        } => {
            query(
                "INSERT INTO outbox (id, conversation_id, channel, payload, attempts, created_at, \
                 next_attempt_at, recipient, delivered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id.to_string())
            .bind(message.conversation_id.to_string())
            .bind(message.channel.as_str())
            .bind(to_json(message))
            .bind(i64::from(*delivered))
            .bind(to_millis(*at))
            .bind(to_millis(not_before.unwrap_or(*at)))
            .bind(message.recipient.to_string())
            .bind(delivered.then(|| to_millis(*at)))
            .execute(on)
            .await?;
        }
        Write::OutboxWithdraw { id, reason, at } => {
            query(
                "UPDATE outbox SET failed_at = $1, last_error = $2 \
                 WHERE id = $3 AND delivered_at IS NULL AND failed_at IS NULL",
            )
            .bind(to_millis(*at))
            .bind(format!("withdrawn: {reason}"))
            .bind(id.to_string())
            .execute(on)
            .await?;
        }
        Write::Handoff {
            id,
            conversation_id,
            target,
            request,
            at,
        } => {
            query(
                "INSERT INTO handoffs (id, conversation_id, target, request, progress, attempts, \
                 created_at, next_attempt_at) VALUES ($1, $2, $3, $4, '{}', 0, $5, $5) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id.clone())
            .bind(conversation_id.to_string())
            .bind(target.clone())
            .bind(request.to_string())
            .bind(to_millis(*at))
            .execute(on)
            .await?;
        }
        Write::InboxDone {
            channel,
            channel_message_id,
            conversation_id,
            result,
            at,
        } => {
            query(
                "UPDATE inbox SET processed_at = $1, conversation_id = $2, result = $3 \
                 WHERE channel = $4 AND channel_message_id = $5",
            )
            .bind(to_millis(*at))
            .bind(conversation_id.map(|c| c.to_string()))
            .bind(to_json(result))
            .bind(channel.as_str())
            .bind(channel_message_id.clone())
            .execute(on)
            .await?;
        }
    }
    Ok(())
}
