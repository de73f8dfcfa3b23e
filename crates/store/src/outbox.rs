//! The outbox: every reply is written here before it is delivered, so a crash between deciding
//! and delivering never loses it; a delivery worker drains due entries.

use crate::{from_millis, parse_field, parse_json, to_json, to_millis, Result, Store, StoreError};
use frontline_domain::{ConversationId, OutboundMessage, OutboxId, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;

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
}

const COLUMNS: &str = "id, payload, attempts, created_at, next_attempt_at, delivered_at";

impl Store {
    /// Write a reply to the outbox, due now.
    pub async fn enqueue_outbox(
        &self,
        message: &OutboundMessage,
        now: Timestamp,
    ) -> Result<OutboxId> {
        let id = OutboxId::new();
        sqlx::query(
            "INSERT INTO outbox (id, conversation_id, channel, payload, attempts, created_at, \
             next_attempt_at) VALUES ($1, $2, $3, $4, 0, $5, $5)",
        )
        .bind(id.to_string())
        .bind(message.conversation_id.to_string())
        .bind(message.channel.as_str())
        .bind(to_json(message))
        .bind(to_millis(now))
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Mark an entry delivered (idempotent).
    pub async fn mark_delivered(&self, id: OutboxId, now: Timestamp) -> Result<()> {
        let n = sqlx::query(
            "UPDATE outbox SET delivered_at = COALESCE(delivered_at, $1), attempts = attempts + 1 \
             WHERE id = $2",
        )
        .bind(to_millis(now))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("outbox entry {id}")));
        }
        Ok(())
    }

    /// Undelivered entries due at `now`, oldest first.
    pub async fn due_outbox(&self, now: Timestamp, limit: i64) -> Result<Vec<OutboxEntry>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2"
        ))
        .bind(to_millis(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    /// Every outbox entry of a conversation, oldest first.
    pub async fn outbox_of(&self, conversation_id: ConversationId) -> Result<Vec<OutboxEntry>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE conversation_id = $1 ORDER BY created_at, id"
        ))
        .bind(conversation_id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }
}

fn decode(row: &AnyRow) -> Result<OutboxEntry> {
    const T: &str = "outbox";
    Ok(OutboxEntry {
        id: parse_field(T, "id", &row.get::<String, _>(0))?,
        message: parse_json(T, &row.get::<String, _>(1))?,
        attempts: row.get(2),
        created_at: from_millis(T, row.get(3))?,
        next_attempt_at: from_millis(T, row.get(4))?,
        delivered_at: row
            .get::<Option<i64>, _>(5)
            .map(|ms| from_millis(T, ms))
            .transpose()?,
    })
}
