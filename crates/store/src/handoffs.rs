//! The handoff outbox: every escalation bound for a helpdesk is written here in the turn that
//! decides it, then delivered (and retried) by a worker, with the steps already done kept in
//! `progress`.

use crate::batch::Write;
use crate::db::{query, Row};
use crate::{
    from_millis, parse_field, parse_json, to_millis, DeliveryAttempt, Result, Store, StoreError,
};
use frontline_domain::{ConversationId, Timestamp};

/// A handoff in the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct HandoffEntry {
    /// Its id (the idempotency key sent to the helpdesk).
    pub id: String,
    /// The conversation handed off.
    pub conversation_id: ConversationId,
    /// The target it goes to (`chatwoot`, `zendesk`, …).
    pub target: String,
    /// The request (summary and note).
    pub request: serde_json::Value,
    /// Delivery steps done so far.
    pub progress: serde_json::Map<String, serde_json::Value>,
    /// Attempts so far.
    pub attempts: i64,
    /// When it was written.
    pub created_at: Timestamp,
    /// When the next attempt is due.
    pub next_attempt_at: Timestamp,
    /// When it was delivered.
    pub delivered_at: Option<Timestamp>,
    /// When it was given up on.
    pub failed_at: Option<Timestamp>,
    /// The helpdesk's reference (ticket or conversation id), once delivered.
    pub reference: Option<String>,
    /// The last failure.
    pub last_error: Option<String>,
}

const COLUMNS: &str = "id, conversation_id, target, request, progress, attempts, created_at, \
     next_attempt_at, delivered_at, failed_at, reference, last_error";

impl Store {
    /// Write a handoff to the outbox, due now. Writing the same id again is a no-op.
    pub async fn enqueue_handoff(
        &self,
        id: &str,
        conversation_id: ConversationId,
        target: &str,
        request: &serde_json::Value,
        now: Timestamp,
    ) -> Result<()> {
        self.write_one(&Write::Handoff {
            id: id.to_string(),
            conversation_id,
            target: target.to_string(),
            request: request.clone(),
            at: now,
        })
        .await
    }

    /// Handoffs neither delivered nor given up on, due at `now`, oldest first.
    pub async fn due_handoffs(&self, now: Timestamp, limit: i64) -> Result<Vec<HandoffEntry>> {
        query(format!(
            "SELECT {COLUMNS} FROM handoffs WHERE delivered_at IS NULL AND failed_at IS NULL \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        ))
        .bind(to_millis(now))
        .bind(limit)
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    /// Every handoff of a conversation, oldest first.
    pub async fn handoffs_of(&self, conversation_id: ConversationId) -> Result<Vec<HandoffEntry>> {
        query(format!(
            "SELECT {COLUMNS} FROM handoffs WHERE conversation_id = $1 ORDER BY created_at, id"
        ))
        .bind(conversation_id.to_string())
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    /// The conversation whose handoff to `target` became the ticket `reference`, if any (the
    /// latest, should a helpdesk reuse a ticket).
    pub async fn conversation_of_ticket(
        &self,
        target: &str,
        reference: &str,
    ) -> Result<Option<ConversationId>> {
        let row = query(
            "SELECT conversation_id FROM handoffs WHERE target = $1 AND reference = $2 \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(target.to_string())
        .bind(reference.to_string())
        .fetch_optional(&self.db)
        .await?;
        row.map(|row| parse_field("handoffs", "conversation_id", &row.get::<String>(0)))
            .transpose()
    }

    /// Record an attempt: its progress (always kept, even on failure) and how it went.
    pub async fn record_handoff_attempt(
        &self,
        id: &str,
        progress: &serde_json::Map<String, serde_json::Value>,
        attempt: &DeliveryAttempt,
        now: Timestamp,
    ) -> Result<()> {
        let progress = serde_json::Value::Object(progress.clone()).to_string();
        let query = match attempt {
            DeliveryAttempt::Delivered { reference } => query(
                "UPDATE handoffs SET progress = $1, attempts = attempts + 1, delivered_at = $2, \
                 reference = $3, last_error = NULL WHERE id = $4",
            )
            .bind(progress)
            .bind(to_millis(now))
            .bind(reference.clone()),
            DeliveryAttempt::Retry {
                next_attempt_at,
                error,
            } => query(
                "UPDATE handoffs SET progress = $1, attempts = attempts + 1, next_attempt_at = $2, \
                 last_error = $3 WHERE id = $4",
            )
            .bind(progress)
            .bind(to_millis(*next_attempt_at))
            .bind(error.clone()),
            DeliveryAttempt::Failed { error } => query(
                "UPDATE handoffs SET progress = $1, attempts = attempts + 1, failed_at = $2, \
                 last_error = $3 WHERE id = $4",
            )
            .bind(progress)
            .bind(to_millis(now))
            .bind(error.clone()),
        };
        let n = query.bind(id).execute(&self.db).await?.rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("handoff {id}")));
        }
        Ok(())
    }
}

fn decode(row: &Row) -> Result<HandoffEntry> {
    const T: &str = "handoffs";
    let progress = match parse_json::<serde_json::Value>(T, &row.get::<String>(4))? {
        serde_json::Value::Object(map) => map,
        other => {
            return Err(StoreError::Corrupt {
                table: T,
                reason: format!("progress is not an object: {other}"),
            })
        }
    };
    let optional_time = |i: usize| {
        row.get::<Option<i64>>(i)
            .map(|ms| from_millis(T, ms))
            .transpose()
    };
    Ok(HandoffEntry {
        id: row.get(0),
        conversation_id: parse_field(T, "conversation_id", &row.get::<String>(1))?,
        target: row.get(2),
        request: parse_json(T, &row.get::<String>(3))?,
        progress,
        attempts: row.get(5),
        created_at: from_millis(T, row.get(6))?,
        next_attempt_at: from_millis(T, row.get(7))?,
        delivered_at: optional_time(8)?,
        failed_at: optional_time(9)?,
        reference: row.get(10),
        last_error: row.get(11),
    })
}
