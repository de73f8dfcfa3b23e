//! The inbound queue: a webhook's verified, parsed message is written here before the webhook
//! is acknowledged, then a worker runs its turn. A provider redelivering the same message id
//! finds it already queued; a crash between acknowledging and answering loses nothing.

use crate::db::query;
use crate::{from_millis, parse_json, to_json, to_millis, DeliveryAttempt, Result, Store};
use frontline_domain::{Channel, InboundMessage, Timestamp};

/// A queued inbound message.
#[derive(Clone, Debug, PartialEq)]
pub struct QueuedMessage {
    /// The message.
    pub message: InboundMessage,
    /// Turns attempted so far.
    pub attempts: i64,
    /// When the webhook was accepted.
    pub accepted_at: Timestamp,
}

impl Store {
    /// Queue a message for its turn, after every message its sender queued before. Returns
    /// false if this provider message was queued before (a redelivery), in which case nothing
    /// changes.
    pub async fn accept_inbound(&self, message: &InboundMessage, now: Timestamp) -> Result<bool> {
        let inserted = query(
            "INSERT INTO inbound_queue (channel, channel_message_id, payload, accepted_at, \
             next_attempt_at, sender, position) VALUES ($1, $2, $3, $4, $4, $5, \
             COALESCE((SELECT MAX(position) FROM inbound_queue WHERE sender = $5), 0) + 1) \
             ON CONFLICT (channel, channel_message_id) DO NOTHING",
        )
        .bind(message.channel.as_str())
        .bind(message.channel_message_id.clone())
        .bind(to_json(message))
        .bind(to_millis(now))
        .bind(message.sender.to_string())
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Queued messages due at `now`, in the order they were accepted, at most one per sender:
    /// a sender's message is only handed out once every earlier one of theirs is done (or set
    /// aside), so workers on several replicas still run each customer's turns in order. A
    /// sender whose oldest message waits for a retry waits with it.
    pub async fn due_inbound(&self, now: Timestamp, limit: i64) -> Result<Vec<QueuedMessage>> {
        query(
            "SELECT payload, attempts, accepted_at FROM inbound_queue q \
             WHERE done_at IS NULL AND next_attempt_at <= $1 \
             AND NOT EXISTS (SELECT 1 FROM inbound_queue o \
                 WHERE o.sender = q.sender AND o.done_at IS NULL \
                 AND (o.position < q.position OR (o.position = q.position \
                      AND o.channel_message_id < q.channel_message_id))) \
             ORDER BY accepted_at, channel_message_id LIMIT $2",
        )
        .bind(to_millis(now))
        .bind(limit)
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(|row| {
            Ok(QueuedMessage {
                message: parse_json("inbound_queue", &row.get::<String>(0))?,
                attempts: row.get(1),
                accepted_at: from_millis("inbound_queue", row.get(2))?,
            })
        })
        .collect()
    }

    /// Record how a queued message's turn went: `Delivered` = the turn ran (done), `Retry` =
    /// try again later, `Failed` = give up (kept with its error for an operator).
    pub async fn record_inbound_attempt(
        &self,
        channel: Channel,
        channel_message_id: &str,
        attempt: &DeliveryAttempt,
        now: Timestamp,
    ) -> Result<()> {
        let query = match attempt {
            DeliveryAttempt::Delivered { .. } => query(
                "UPDATE inbound_queue SET attempts = attempts + 1, done_at = $1, last_error = NULL \
                 WHERE channel = $2 AND channel_message_id = $3",
            )
            .bind(to_millis(now)),
            DeliveryAttempt::Retry {
                next_attempt_at,
                error,
            } => query(
                "UPDATE inbound_queue SET attempts = attempts + 1, next_attempt_at = $1, \
                 last_error = $2 WHERE channel = $3 AND channel_message_id = $4",
            )
            .bind(to_millis(*next_attempt_at))
            .bind(error.clone()),
            // Failed entries stay for an operator, out of the due set (done, with the error).
            DeliveryAttempt::Failed { error } => query(
                "UPDATE inbound_queue SET attempts = attempts + 1, done_at = $1, last_error = $2 \
                 WHERE channel = $3 AND channel_message_id = $4",
            )
            .bind(to_millis(now))
            .bind(error.clone()),
        };
        query
            .bind(channel.as_str())
            .bind(channel_message_id.to_string())
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// How many queued messages still wait for their turn (a readiness and metrics figure).
    pub async fn inbound_backlog(&self) -> Result<i64> {
        self.count("SELECT COUNT(*) FROM inbound_queue WHERE done_at IS NULL")
            .await
    }

    /// How many replies wait for delivery (neither delivered nor given up on).
    pub async fn outbox_backlog(&self) -> Result<i64> {
        self.count("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL")
            .await
    }

    /// How many handoffs wait for delivery to the helpdesk.
    pub async fn handoff_backlog(&self) -> Result<i64> {
        self.count("SELECT COUNT(*) FROM handoffs WHERE delivered_at IS NULL AND failed_at IS NULL")
            .await
    }

    async fn count(&self, sql: &'static str) -> Result<i64> {
        let row = query(sql).fetch_one(&self.db).await?;
        Ok(row.get(0))
    }
}
