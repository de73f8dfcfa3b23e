//! A customer: one person behind any number of identities.

use crate::{CustomerId, Identity, Timestamp};
use serde::{Deserialize, Serialize};

/// An identity attached to a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRecord {
    /// The normalised handle.
    #[serde(flatten)]
    pub identity: Identity,
    /// Whether ownership was proven (by the channel or a one-time code): `assurance` is
    /// more than claimed.
    pub verified: bool,
    /// How ownership was established.
    #[serde(default)]
    pub assurance: crate::Assurance,
    /// When it was first seen.
    pub first_seen_at: Timestamp,
}

/// A customer and every identity known for them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Its id.
    pub id: CustomerId,
    /// A name to address them by, if known.
    pub display_name: Option<String>,
    /// When the customer record was created.
    pub created_at: Timestamp,
    /// Set when this record was merged into another one.
    pub merged_into: Option<CustomerId>,
    /// Every identity attached to them.
    pub identities: Vec<IdentityRecord>,
}
