//! Conversations: finding the customer's open one (whatever channel it started on) or opening one.

use crate::batch::Write;
use crate::db::{query, Row};
use crate::{from_millis, parse_field, parse_json, to_json, to_millis, Result, Store, StoreError};
use chrono::Duration;
use frontline_domain::{
    Channel, Conversation, ConversationId, ConversationStatus, CustomerId, Timestamp,
};

const COLUMNS: &str = "id, customer_id, status, opened_at, last_activity_at, channels_seen";

impl Store {
    /// The conversation a new message from `customer_id` on `channel` belongs to.
    ///
    /// Continuity rule: the channel's own hint (an email `reply+<id>@` address, …) wins if it is
    /// the customer's and not resolved; otherwise the customer's most recent unresolved
    /// conversation active within `continuity_window`; otherwise a new one. The channel is added
    /// to `channels_seen` and the activity time moves to `now`.
    pub async fn open_conversation(
        &self,
        customer_id: CustomerId,
        channel: Channel,
        hint: Option<ConversationId>,
        continuity_window: Duration,
        now: Timestamp,
    ) -> Result<Conversation> {
        let mut found = None;
        if let Some(hint) = hint {
            if let Some(c) = self.find_conversation(hint).await? {
                if c.customer_id == customer_id && c.status != ConversationStatus::Resolved {
                    found = Some(c);
                }
            }
        }
        if found.is_none() {
            let row = query(format!(
                "SELECT {COLUMNS} FROM conversations \
                 WHERE customer_id = $1 AND status <> 'resolved' AND last_activity_at >= $2 \
                 ORDER BY last_activity_at DESC LIMIT 1"
            ))
            .bind(customer_id.to_string())
            .bind(to_millis(now - continuity_window))
            .fetch_optional(&self.db)
            .await?;
            found = row.as_ref().map(decode).transpose()?;
        }
        match found {
            Some(mut conversation) => {
                if !conversation.channels_seen.contains(&channel) {
                    conversation.channels_seen.push(channel);
                }
                conversation.last_activity_at = now.max(conversation.last_activity_at);
                query(
                    "UPDATE conversations SET channels_seen = $1, last_activity_at = $2 WHERE id = $3",
                )
                .bind(to_json(&conversation.channels_seen))
                .bind(to_millis(conversation.last_activity_at))
                .bind(conversation.id.to_string())
                .execute(&self.db)
                .await?;
                Ok(conversation)
            }
            None => {
                let conversation = Conversation {
                    id: ConversationId::new(),
                    customer_id,
                    status: ConversationStatus::Bot,
                    opened_at: now,
                    last_activity_at: now,
                    channels_seen: vec![channel],
                };
                query(format!(
                    "INSERT INTO conversations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
                ))
                .bind(conversation.id.to_string())
                .bind(customer_id.to_string())
                .bind(conversation.status.as_str())
                .bind(to_millis(now))
                .bind(to_millis(now))
                .bind(to_json(&conversation.channels_seen))
                .execute(&self.db)
                .await?;
                Ok(conversation)
            }
        }
    }

    /// One conversation, or `NotFound`.
    pub async fn conversation(&self, id: ConversationId) -> Result<Conversation> {
        self.find_conversation(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("conversation {id}")))
    }

    async fn find_conversation(&self, id: ConversationId) -> Result<Option<Conversation>> {
        let row = query(format!("SELECT {COLUMNS} FROM conversations WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.db)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    /// All of a customer's conversations, newest activity first.
    pub async fn conversations_of(&self, customer_id: CustomerId) -> Result<Vec<Conversation>> {
        query(format!(
            "SELECT {COLUMNS} FROM conversations WHERE customer_id = $1 \
             ORDER BY last_activity_at DESC"
        ))
        .bind(customer_id.to_string())
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    /// The conversations opened in `[from, to)`, oldest first.
    pub async fn conversations_opened(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Conversation>> {
        query(format!(
            "SELECT {COLUMNS} FROM conversations WHERE opened_at >= $1 AND opened_at < $2 \
             ORDER BY opened_at, id"
        ))
        .bind(to_millis(from))
        .bind(to_millis(to))
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    /// The conversations matching `filter`, most recently active first, each with the reason
    /// code of its latest escalation (for the console's list). At most `filter.limit` rows.
    pub async fn list_conversations(
        &self,
        filter: &ConversationFilter,
    ) -> Result<Vec<ListedConversation>> {
        let mut sql = format!(
            "SELECT {COLUMNS}, (SELECT e.payload FROM events e WHERE e.conversation_id = c.id \
             AND e.kind = 'escalated' ORDER BY e.seq DESC LIMIT 1), \
             (SELECT t.payload FROM events t WHERE t.conversation_id = c.id \
             AND t.kind = 'tier_changed' ORDER BY t.seq DESC LIMIT 1), \
             (SELECT l.payload FROM events l WHERE l.conversation_id = c.id \
             AND l.kind = 'language_changed' ORDER BY l.seq DESC LIMIT 1) \
             FROM conversations c WHERE 1 = 1"
        );
        let mut binds: Vec<Bind> = vec![];
        let mut param = |sql: &mut String, clause: &str, bind: Bind| {
            binds.push(bind);
            sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
        };
        if let Some(status) = filter.status {
            param(&mut sql, " AND status = ?", Bind::Text(status.to_string()));
        }
        if let Some(channel) = filter.channel {
            // channels_seen is a JSON array of channel names.
            param(
                &mut sql,
                " AND channels_seen LIKE ?",
                Bind::Text(format!("%\"{channel}\"%")),
            );
        }
        if let Some(from) = filter.active_from {
            param(
                &mut sql,
                " AND last_activity_at >= ?",
                Bind::Int(to_millis(from)),
            );
        }
        if let Some(to) = filter.active_to {
            param(
                &mut sql,
                " AND last_activity_at < ?",
                Bind::Int(to_millis(to)),
            );
        }
        if filter.escalation.is_some() {
            sql.push_str(" AND EXISTS (SELECT 1 FROM events x WHERE x.conversation_id = c.id AND x.kind = 'escalated')");
        }
        // The reason code, the tier and the language live inside the events' JSON; rows of
        // other ones are dropped below, so read a few more than asked.
        let fetch =
            if filter.escalation.is_some() || filter.tier.is_some() || filter.language.is_some() {
                filter.limit.saturating_mul(4)
            } else {
                filter.limit
            };
        param(
            &mut sql,
            " ORDER BY last_activity_at DESC, id LIMIT ?",
            Bind::Int(fetch as i64),
        );
        let mut query = query(&sql);
        for bind in binds {
            query = match bind {
                Bind::Text(t) => query.bind(t),
                Bind::Int(i) => query.bind(i),
            };
        }
        let mut out = vec![];
        for row in query.fetch_all(&self.db).await? {
            let conversation = decode(&row)?;
            let escalation = match row.get::<Option<String>>(6) {
                Some(payload) => {
                    match parse_json::<frontline_domain::EventKind>("events", &payload)? {
                        frontline_domain::EventKind::Escalated { summary } => Some(summary.trigger),
                        _ => None,
                    }
                }
                None => None,
            };
            if filter.escalation.is_some() && escalation != filter.escalation {
                continue;
            }
            let tier = match row.get::<Option<String>>(7) {
                Some(payload) => {
                    match parse_json::<frontline_domain::EventKind>("events", &payload)? {
                        frontline_domain::EventKind::TierChanged { to, .. } => Some(to),
                        _ => None,
                    }
                }
                None => None,
            };
            if filter.tier.is_some() && tier != filter.tier {
                continue;
            }
            let language = match row.get::<Option<String>>(8) {
                Some(payload) => {
                    match parse_json::<frontline_domain::EventKind>("events", &payload)? {
                        frontline_domain::EventKind::LanguageChanged { to, .. } => Some(to),
                        _ => None,
                    }
                }
                None => None,
            };
            if filter.language.is_some() && language != filter.language {
                continue;
            }
            out.push(ListedConversation {
                conversation,
                escalation,
                tier,
                language,
            });
            if out.len() >= filter.limit {
                break;
            }
        }
        Ok(out)
    }

    /// Change who handles a conversation; returns the previous status.
    pub async fn set_status(
        &self,
        id: ConversationId,
        status: ConversationStatus,
    ) -> Result<ConversationStatus> {
        let previous = self.conversation(id).await?.status;
        self.write_one(&Write::Status {
            conversation_id: id,
            status,
        })
        .await?;
        Ok(previous)
    }
}

/// Which conversations [`Store::list_conversations`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct ConversationFilter {
    /// Only these.
    pub status: Option<ConversationStatus>,
    /// Only those that used this channel.
    pub channel: Option<Channel>,
    /// Only those escalated for this reason.
    pub escalation: Option<frontline_domain::EscalationTrigger>,
    /// Only those in this tier now (`informational`, `transactional`, `complex`, `emotional`).
    pub tier: Option<String>,
    /// Only those speaking this language now (ISO 639-1).
    pub language: Option<String>,
    /// Last activity at or after.
    pub active_from: Option<Timestamp>,
    /// Last activity before.
    pub active_to: Option<Timestamp>,
    /// At most this many.
    pub limit: usize,
}

impl Default for ConversationFilter {
    fn default() -> Self {
        Self {
            status: None,
            channel: None,
            escalation: None,
            tier: None,
            language: None,
            active_from: None,
            active_to: None,
            limit: 100,
        }
    }
}

/// A conversation as listed, with the reason code of its latest escalation.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedConversation {
    /// The conversation.
    pub conversation: Conversation,
    /// Why it was last handed to a person, if it ever was.
    pub escalation: Option<frontline_domain::EscalationTrigger>,
    /// The tier it is in now, as last recorded.
    pub tier: Option<String>,
    /// The language it speaks now, as last recorded.
    pub language: Option<String>,
}

enum Bind {
    Text(String),
    Int(i64),
}

fn decode(row: &Row) -> Result<Conversation> {
    const T: &str = "conversations";
    Ok(Conversation {
        id: parse_field(T, "id", &row.get::<String>(0))?,
        customer_id: parse_field(T, "customer_id", &row.get::<String>(1))?,
        status: parse_field(T, "status", &row.get::<String>(2))?,
        opened_at: from_millis(T, row.get(3))?,
        last_activity_at: from_millis(T, row.get(4))?,
        channels_seen: parse_json(T, &row.get::<String>(5))?,
    })
}
