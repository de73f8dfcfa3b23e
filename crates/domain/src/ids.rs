//! Typed identifiers. UUIDv7 so ids sort by creation time, which keeps indexes append-friendly.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// One person, however many identities (email, phone, …) they write from.
    CustomerId
);
uuid_id!(
    /// One support conversation; it spans every channel the customer uses while it is open.
    ConversationId
);
uuid_id!(
    /// One message waiting in (or delivered from) the outbox.
    OutboxId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings_and_sort_by_creation() {
        let a = ConversationId::new();
        let b = ConversationId::new();
        assert_eq!(a.to_string().parse::<ConversationId>().unwrap(), a);
        assert!(a < b, "v7 ids are time ordered");
        assert!("not-a-uuid".parse::<CustomerId>().is_err());
    }
}
