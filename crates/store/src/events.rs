//! The append-only event log. Sequence numbers are per conversation and gap-free.

use crate::db::query;
use crate::{from_millis, parse_json, to_json, to_millis, Result, Store};
use frontline_domain::{ConversationId, Event, EventKind, Timestamp};

impl Store {
    /// Append one event to a conversation's log and return it with its sequence number.
    ///
    /// The sequence is computed in the INSERT itself; two writers racing on one conversation
    /// collide on the primary key rather than interleave silently (the agent serialises turns
    /// per conversation, so this is a guard, not a path).
    pub async fn append_event(
        &self,
        conversation_id: ConversationId,
        at: Timestamp,
        kind: EventKind,
    ) -> Result<Event> {
        let seq: i64 = query(
            "INSERT INTO events (conversation_id, seq, at, kind, payload) \
             SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4 FROM events WHERE conversation_id = $1 \
             RETURNING seq",
        )
        .bind(conversation_id.to_string())
        .bind(to_millis(at))
        .bind(kind.name())
        .bind(to_json(&kind))
        .fetch_one(&self.db)
        .await?
        .get(0);
        Ok(Event {
            conversation_id,
            seq,
            at,
            kind,
        })
    }

    /// A conversation's whole log, in order.
    pub async fn events(&self, conversation_id: ConversationId) -> Result<Vec<Event>> {
        self.events_after(conversation_id, 0).await
    }

    /// The events after `seq` (exclusive), in order: for incremental readers and SSE resume.
    pub async fn events_after(
        &self,
        conversation_id: ConversationId,
        seq: i64,
    ) -> Result<Vec<Event>> {
        query(
            "SELECT seq, at, payload FROM events WHERE conversation_id = $1 AND seq > $2 \
             ORDER BY seq",
        )
        .bind(conversation_id.to_string())
        .bind(seq)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| {
            Ok(Event {
                conversation_id,
                seq: row.get(0),
                at: from_millis("events", row.get(1))?,
                kind: parse_json("events", &row.get::<String>(2))?,
            })
        })
        .collect()
    }

    /// How many events a conversation has (used by tests and metrics).
    pub async fn event_count(&self, conversation_id: ConversationId) -> Result<i64> {
        Ok(
            query("SELECT COUNT(*) FROM events WHERE conversation_id = $1")
                .bind(conversation_id.to_string())
                .fetch_one(&self.db)
                .await?
                .get(0),
        )
    }
}
