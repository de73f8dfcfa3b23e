//! How sure the agent is that a customer owns a handle: what a channel proves, what a one-time
//! code proves, and what is merely claimed.

use serde::{Deserialize, Serialize};

/// The slot a flow's `verify` step asks for: the one-time code the customer types. Its asks
/// are bounded by the code's own attempts and lock-out, not by the escalation policy.
pub const VERIFICATION_CODE_SLOT: &str = "verification_code";

/// How an identity was proven to belong to the person writing. Ordered: a stronger level
/// compares greater.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Assurance {
    /// Typed in the conversation, or sent on a channel that proves nothing about the sender
    /// (an email without an SPF or DKIM pass, an anonymous web chat visitor). Never enough to
    /// act on an account or to see its data.
    #[default]
    Claimed,
    /// Proven by the channel: a WhatsApp or SMS sender from a signed provider webhook, a web
    /// chat visitor whose identity hash checks out, an inbound email whose provider reports an
    /// SPF or DKIM pass, or an authenticated integration on the REST channel.
    Channel,
    /// Proven by a one-time code sent to the email or phone on the account.
    Code,
}

crate::wire::wire_names!(Assurance, "assurance", {
    Claimed => "claimed",
    Channel => "channel",
    Code => "code",
});

impl Assurance {
    /// Whether it proves ownership (by the channel or by a code).
    pub fn is_verified(self) -> bool {
        self != Assurance::Claimed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_order_and_read_back() {
        assert!(Assurance::Claimed < Assurance::Channel && Assurance::Channel < Assurance::Code);
        assert!(!Assurance::Claimed.is_verified());
        assert!(Assurance::Channel.is_verified() && Assurance::Code.is_verified());
        for level in Assurance::ALL {
            assert_eq!(level.as_str().parse::<Assurance>().unwrap(), *level);
            let json = serde_json::to_string(level).unwrap();
            assert_eq!(json, format!("\"{}\"", level.as_str()));
        }
        assert!("maybe".parse::<Assurance>().is_err());
    }
}
