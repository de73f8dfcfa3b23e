//! The inbox: one row per provider message id, so a redelivered webhook is a no-op that returns
//! the first delivery's result instead of running a second turn.

use crate::batch::Write;
use crate::db::query;
use crate::{parse_field, parse_json, to_millis, Result, Store};
use chrono::Duration;
use frontline_domain::{Channel, ConversationId, Timestamp};

/// What to do with an inbound message after trying to claim it.
#[derive(Clone, Debug, PartialEq)]
pub enum InboxClaim {
    /// First delivery, or an earlier claim that never finished within its lease (the worker
    /// died): this caller runs the turn.
    Fresh,
    /// Processed before: here is what that turn produced.
    Done {
        /// The conversation it landed in, if it was attached to one.
        conversation_id: Option<ConversationId>,
        /// The stored turn result.
        result: serde_json::Value,
    },
    /// Another caller is running this message's turn right now.
    InProgress,
}

impl Store {
    /// Claim `(channel, channel_message_id)` for processing. A claim older than `lease` that
    /// was never completed is taken over, so a crash between claim and completion loses nothing.
    pub async fn claim_inbound(
        &self,
        channel: Channel,
        channel_message_id: &str,
        lease: Duration,
        now: Timestamp,
    ) -> Result<InboxClaim> {
        let inserted = query(
            "INSERT INTO inbox (channel, channel_message_id, received_at, claimed_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (channel, channel_message_id) DO NOTHING",
        )
        .bind(channel.as_str())
        .bind(channel_message_id.to_string())
        .bind(to_millis(now))
        .execute(&self.db)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(InboxClaim::Fresh);
        }
        let taken_over = query(
            "UPDATE inbox SET claimed_at = $1 WHERE channel = $2 AND channel_message_id = $3 \
             AND processed_at IS NULL AND claimed_at < $4",
        )
        .bind(to_millis(now))
        .bind(channel.as_str())
        .bind(channel_message_id.to_string())
        .bind(to_millis(now - lease))
        .execute(&self.db)
        .await?
        .rows_affected();
        if taken_over == 1 {
            tracing::warn!(%channel, channel_message_id, "taking over an expired inbox claim");
            return Ok(InboxClaim::Fresh);
        }
        let row = query(
            "SELECT processed_at, conversation_id, result FROM inbox \
             WHERE channel = $1 AND channel_message_id = $2",
        )
        .bind(channel.as_str())
        .bind(channel_message_id.to_string())
        .fetch_one(&self.db)
        .await?;
        if row.get::<Option<i64>>(0).is_none() {
            return Ok(InboxClaim::InProgress);
        }
        Ok(InboxClaim::Done {
            conversation_id: row
                .get::<Option<String>>(1)
                .map(|c| parse_field("inbox", "conversation_id", &c))
                .transpose()?,
            result: match row.get::<Option<String>>(2) {
                Some(raw) => parse_json("inbox", &raw)?,
                None => serde_json::Value::Null,
            },
        })
    }

    /// Record that the message's turn finished, with the result a redelivery should get.
    pub async fn complete_inbound(
        &self,
        channel: Channel,
        channel_message_id: &str,
        conversation_id: Option<ConversationId>,
        result: &serde_json::Value,
        now: Timestamp,
    ) -> Result<()> {
        self.write_one(&Write::InboxDone {
            channel,
            channel_message_id: channel_message_id.to_string(),
            conversation_id,
            result: result.clone(),
            at: now,
        })
        .await
    }
}

impl Store {
    /// When the customer last wrote on `channel` in the conversation: the latest message of
    /// theirs whose turn finished there. What a channel with a reply window needs (WhatsApp's
    /// and Messenger's 24 hours), read from the inbox's index for those two rather than
    /// searched for in the conversation's log (other channels are read without an index).
    pub async fn last_inbound(
        &self,
        conversation_id: ConversationId,
        channel: Channel,
    ) -> Result<Option<Timestamp>> {
        // The channel is written into the statement (a wire name, never input) so that the
        // planner sees it matches the partial index `inbox_last_inbound`.
        let indexed = matches!(channel, Channel::Whatsapp | Channel::Messenger);
        let sql = format!(
            "SELECT received_at FROM inbox WHERE conversation_id = $1 AND channel = '{}' {} \
             AND processed_at IS NOT NULL ORDER BY received_at DESC LIMIT 1",
            channel.as_str(),
            if indexed {
                "AND channel IN ('whatsapp', 'messenger')"
            } else {
                ""
            }
        );
        let row = query(sql)
            .bind(conversation_id.to_string())
            .fetch_optional(&self.db)
            .await?;
        row.map(|r| crate::from_millis("inbox", r.get(0)))
            .transpose()
    }

    /// Give up an unfinished claim (the turn failed), so a redelivery runs it at once instead of
    /// waiting for the lease.
    pub async fn release_inbound(&self, channel: Channel, channel_message_id: &str) -> Result<()> {
        query(
            "DELETE FROM inbox WHERE channel = $1 AND channel_message_id = $2 AND processed_at IS NULL",
        )
        .bind(channel.as_str())
        .bind(channel_message_id.to_string())
        .execute(&self.db)
        .await?;
        Ok(())
    }
}
