//! The outbox: every reply is written here before it is delivered, so a crash between deciding
//! and delivering never loses it; a delivery worker drains due entries.

use crate::batch::Write;
use crate::db::{query, Row};
use crate::{
    from_millis, parse_field, parse_json, to_millis, DeliveryAttempt, Result, Store, StoreError,
};
use frontline_domain::{ConversationId, OutboundMessage, OutboxId, Timestamp};

/// A reply in the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxEntry {
    /// Its id (also the provider idempotency key where one is supported).
    pub id: OutboxId,
    /// The reply.
    pub message: OutboundMessage,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// When it was written.
    pub created_at: Timestamp,
    /// When the next attempt is due.
    pub next_attempt_at: Timestamp,
    /// When it was delivered, if it was.
    pub delivered_at: Option<Timestamp>,
    /// When it was given up on, if it was.
    pub failed_at: Option<Timestamp>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The provider's id for the delivered message.
    pub reference: Option<String>,
}

const COLUMNS: &str = "id, payload, attempts, created_at, next_attempt_at, delivered_at, \
                       failed_at, last_error, reference";

impl Store {
    /// Write a reply to the outbox, due now.
    pub async fn enqueue_outbox(
        &self,
        message: &OutboundMessage,
        now: Timestamp,
    ) -> Result<OutboxId> {
        let id = OutboxId::new();
        self.write_one(&Write::Outbox {
            id,
            message: message.clone(),
            at: now,
            delivered: false,
            not_before: None,
        })
        .await?;
        Ok(id)
    }

    /// Mark an entry delivered (idempotent).
    pub async fn mark_delivered(&self, id: OutboxId, now: Timestamp) -> Result<()> {
        let n = query(
            "UPDATE outbox SET delivered_at = COALESCE(delivered_at, $1), attempts = attempts + 1 \
             WHERE id = $2",
        )
        .bind(to_millis(now))
        .bind(id.to_string())
        .execute(&self.db)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("outbox entry {id}")));
        }
        Ok(())
    }

    /// Undelivered entries due at `now`, oldest first.
    pub async fn due_outbox(&self, now: Timestamp, limit: i64) -> Result<Vec<OutboxEntry>> {
        query(format!(
            "SELECT {COLUMNS} FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL \
             AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2"
        ))
        .bind(to_millis(now))
        .bind(limit)
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    /// Record how a delivery attempt went.
    pub async fn record_outbox_attempt(
        &self,
        id: OutboxId,
        attempt: &DeliveryAttempt,
        now: Timestamp,
    ) -> Result<()> {
        let query = match attempt {
            DeliveryAttempt::Delivered { reference } => query(
                "UPDATE outbox SET attempts = attempts + 1, delivered_at = $1, reference = $2, \
                 last_error = NULL WHERE id = $3",
            )
            .bind(to_millis(now))
            .bind(reference.clone()),
            DeliveryAttempt::Retry {
                next_attempt_at,
                error,
            } => query(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 \
                 WHERE id = $3",
            )
            .bind(to_millis(*next_attempt_at))
            .bind(error.clone()),
            DeliveryAttempt::Failed { error } => query(
                "UPDATE outbox SET attempts = attempts + 1, failed_at = $1, last_error = $2 \
                 WHERE id = $3",
            )
            .bind(to_millis(now))
            .bind(error.clone()),
        };
        let n = query
            .bind(id.to_string())
            .execute(&self.db)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("outbox entry {id}")));
        }
        Ok(())
    }

    /// Keep a provider's delivery receipt (`sent`, `delivered`, `read`, `failed`, …); the same
    /// receipt twice is one.
    pub async fn record_delivery_status(
        &self,
        channel: frontline_domain::Channel,
        provider_message_id: &str,
        status: &str,
        detail: Option<&str>,
        at: Timestamp,
    ) -> Result<()> {
        query(
            "INSERT INTO delivery_statuses (channel, provider_message_id, status, at, detail) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (channel, provider_message_id, status) DO NOTHING",
        )
        .bind(channel.as_str())
        .bind(provider_message_id.to_string())
        .bind(status.to_string())
        .bind(to_millis(at))
        .bind(detail.map(str::to_string))
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// The receipts recorded for a provider message, oldest first: `(status, at)`.
    pub async fn delivery_statuses(
        &self,
        channel: frontline_domain::Channel,
        provider_message_id: &str,
    ) -> Result<Vec<(String, Timestamp)>> {
        query(
            "SELECT status, at FROM delivery_statuses WHERE channel = $1 \
             AND provider_message_id = $2 ORDER BY at, status",
        )
        .bind(channel.as_str())
        .bind(provider_message_id.to_string())
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(|r| Ok((r.get(0), from_millis("delivery_statuses", r.get(1))?)))
        .collect()
    }

    /// Replies on `channel` for `recipient` written after the entry `after` (all of them
    /// without one), oldest first: what a web chat session has not seen yet.
    pub async fn outbox_for_recipient(
        &self,
        channel: frontline_domain::Channel,
        recipient: &frontline_domain::Identity,
        after: Option<OutboxId>,
    ) -> Result<Vec<OutboxEntry>> {
        let entries: Vec<OutboxEntry> = query(format!(
            "SELECT {COLUMNS} FROM outbox WHERE channel = $1 AND recipient = $2 \
             ORDER BY created_at, id"
        ))
        .bind(channel.as_str())
        .bind(recipient.to_string())
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(decode)
        .collect::<Result<_>>()?;
        Ok(
            match after.and_then(|a| entries.iter().position(|e| e.id == a)) {
                Some(seen) => entries[seen + 1..].to_vec(),
                None => entries,
            },
        )
    }

    /// Every outbox entry of a conversation, oldest first.
    pub async fn outbox_of(&self, conversation_id: ConversationId) -> Result<Vec<OutboxEntry>> {
        query(format!(
            "SELECT {COLUMNS} FROM outbox WHERE conversation_id = $1 ORDER BY created_at, id"
        ))
        .bind(conversation_id.to_string())
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(decode)
        .collect()
    }
}

fn decode(row: &Row) -> Result<OutboxEntry> {
    const T: &str = "outbox";
    Ok(OutboxEntry {
        id: parse_field(T, "id", &row.get::<String>(0))?,
        message: parse_json(T, &row.get::<String>(1))?,
        attempts: row.get(2),
        created_at: from_millis(T, row.get(3))?,
        next_attempt_at: from_millis(T, row.get(4))?,
        delivered_at: row
            .get::<Option<i64>>(5)
            .map(|ms| from_millis(T, ms))
            .transpose()?,
        failed_at: row
            .get::<Option<i64>>(6)
            .map(|ms| from_millis(T, ms))
            .transpose()?,
        last_error: row.get(7),
        reference: row.get(8),
    })
}
