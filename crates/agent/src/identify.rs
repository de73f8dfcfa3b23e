//! The intake stage's identity work: which identities a message vouches for (and which the
//! business system links to them), raising the assurance of those a proven message carries,
//! and recording how each was established.

use crate::error::AgentError;
use crate::pending::Pending;
use frontline_domain::{Event, EventKind, IdentityDirectory, InboundMessage};
use frontline_store::Store;

/// What identifying works with: the store and the identity directory, if one is configured.
pub(crate) struct Identify<'a> {
    pub store: &'a Store,
    pub directory: Option<&'a dyn IdentityDirectory>,
}

impl Identify<'_> {
    /// The identities a message resolves its customer by. A proven sender brings the message's
    /// other identities and what the directory links to them (the account id, the account's
    /// email and phone); a directory failure costs only the links. A claimed sender (an email
    /// without an SPF or DKIM pass) vouches for nothing else, and when its handle belongs to a
    /// customer with a proven identity, it is served as a guest of its own
    /// ([`crate::verify::guest`]): a stranger never joins that customer's conversations.
    pub async fn vouched_identities(
        &self,
        message: &InboundMessage,
    ) -> Result<Vec<frontline_domain::Identity>, AgentError> {
        if !message.assurance.is_verified() {
            let sender = message.sender.clone();
            if let Some(owner) = self.store.identity_owner(&sender).await? {
                let owner = self.store.customer(owner).await?;
                if owner.identities.iter().any(|r| r.verified) {
                    return Ok(vec![crate::verify::guest(&sender)]);
                }
            }
            return Ok(vec![sender]);
        }
        let mut identities: Vec<_> = message.identities().cloned().collect();
        let Some(directory) = self.directory else {
            return Ok(identities);
        };
        for identity in message.identities() {
            match directory.linked(identity).await {
                Ok(linked) => {
                    for found in linked {
                        if !identities.contains(&found) {
                            identities.push(found);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(%identity, error = %e, "identity directory failed; continuing without its links")
                }
            }
        }
        Ok(identities)
    }

    /// Raise the stored assurance of the identities a proven message vouched for to its level;
    /// returns those raised. Only the first message at a level writes anything.
    pub async fn assure_identities(
        &self,
        customer: &mut frontline_domain::Customer,
        identities: &[frontline_domain::Identity],
        assurance: frontline_domain::Assurance,
    ) -> Result<Vec<frontline_domain::Identity>, AgentError> {
        let mut raised = Vec::new();
        if !assurance.is_verified() {
            return Ok(raised);
        }
        for record in customer.identities.iter_mut() {
            if record.assurance < assurance && identities.contains(&record.identity) {
                self.store
                    .assure_identity(&record.identity, assurance)
                    .await?;
                record.assurance = assurance;
                record.verified = true;
                raised.push(record.identity.clone());
            }
        }
        Ok(raised)
    }
}

/// Log each identity's assurance the first time it appears in this conversation, and again
/// when the message raised it.
pub(crate) fn record_assurance(
    pending: &Pending,
    history: &[Event],
    message: &InboundMessage,
    identities: &[frontline_domain::Identity],
    raised: &[frontline_domain::Identity],
) {
    for identity in identities {
        let logged = history.iter().any(
            |e| matches!(&e.kind, EventKind::IdentityAssured { identity: i, .. } if i == identity),
        );
        if logged && !raised.contains(identity) {
            continue;
        }
        let how = if identity == &message.sender || message.also_known_as.contains(identity) {
            match message.assurance {
                frontline_domain::Assurance::Claimed => {
                    format!("claimed on {}: the channel proves nothing", message.channel)
                }
                _ => format!("proven by the {} channel", message.channel),
            }
        } else if message.assurance.is_verified() {
            format!("on the account of {}", message.sender)
        } else {
            format!("stands in for {} until it is proven", message.sender)
        };
        pending.log(EventKind::IdentityAssured {
            identity: identity.clone(),
            assurance: message.assurance,
            how,
        });
    }
}
