//! Drafts: the text of an answer while the LLM is still writing it, for channels that show a
//! reply as it forms (the web chat). Turns publish the pieces; a channel's live connection
//! subscribes and forwards the ones addressed to its customer. A draft is never the reply: the
//! finished, checked answer goes through the outbox as every reply does, and replaces it.

use frontline_domain::Identity;
use tokio::sync::broadcast;

/// One piece of an answer being written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// Who the answer is for (the address its reply will go to).
    pub recipient: Identity,
    /// The next piece of text.
    pub delta: String,
}

/// The hub turns publish drafts to. Cloning shares it. Slow subscribers miss pieces rather
/// than slow the turn (the finished reply still arrives whole).
#[derive(Clone, Debug)]
pub struct Drafts {
    sender: broadcast::Sender<Draft>,
}

impl Default for Drafts {
    fn default() -> Self {
        Self::with_capacity(1024)
    }
}

impl Drafts {
    /// A hub keeping up to `capacity` pieces for a subscriber that lags.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity).0,
        }
    }

    /// Every draft published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Draft> {
        self.sender.subscribe()
    }

    /// Publish a piece (dropped when nobody listens).
    pub fn publish(&self, recipient: &Identity, delta: &str) {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(Draft {
                recipient: recipient.clone(),
                delta: delta.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontline_domain::IdentityKind;

    #[tokio::test]
    async fn subscribers_get_the_pieces_published_after_they_joined() {
        let drafts = Drafts::default();
        let ada = Identity {
            kind: IdentityKind::WebSession,
            value: "s1".into(),
        };
        drafts.publish(&ada, "lost: nobody listens");
        let mut rx = drafts.subscribe();
        drafts.publish(&ada, "Refunds ");
        drafts.publish(&ada, "take 5 days.");
        assert_eq!(rx.recv().await.unwrap().delta, "Refunds ");
        let second = rx.recv().await.unwrap();
        assert_eq!(
            (second.recipient, second.delta.as_str()),
            (ada, "take 5 days.")
        );
        assert!(rx.try_recv().is_err());
    }
}
