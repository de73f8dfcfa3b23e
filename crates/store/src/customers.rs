//! Customers and identity resolution: which customer is behind a set of handles.

use crate::db::{query, Row};
use crate::{from_millis, parse_field, to_millis, Result, Store, StoreError};
use frontline_domain::{
    Assurance, Customer, CustomerId, Identity, IdentityKind, IdentityRecord, Timestamp,
};

/// How [`Store::resolve_customer`] found the customer.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolution {
    /// The customer (with all identities, including any just attached).
    pub customer: Customer,
    /// True if no identity was known and a new customer record was created.
    pub created: bool,
    /// Customers merged into this one because the message vouched for identities of both.
    pub merged: Vec<CustomerMerge>,
}

/// Two customer records that became one.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomerMerge {
    /// The record that remains.
    pub survivor: CustomerId,
    /// The record merged into it (kept, pointing at the survivor).
    pub merged: CustomerId,
    /// Why.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

/// Which identity decides the surviving record when a message ties two customers together:
/// the shop's account id, then email, then phone, then the channel handles.
fn merge_priority(kind: IdentityKind) -> u8 {
    match kind {
        IdentityKind::AccountId => 0,
        IdentityKind::Email => 1,
        IdentityKind::Phone => 2,
        IdentityKind::Whatsapp => 3,
        IdentityKind::ChatwootContact => 4,
        IdentityKind::Messenger | IdentityKind::Telegram => 4,
        IdentityKind::WebSession => 5,
    }
}

impl Store {
    /// Find the customer behind `identities` (the first is the sender), creating one if none of
    /// them is known. Unknown identities are attached to the customer found.
    ///
    /// When the identities belong to *different* customers, the message ties them together:
    /// the others are merged into the owner of the strongest identity (account id, then email,
    /// then phone), each merge recorded; customers whose verified identities disagree are never
    /// merged (the message then counts for the sender's owner only).
    pub async fn resolve_customer(
        &self,
        identities: &[Identity],
        display_name: Option<&str>,
        now: Timestamp,
    ) -> Result<Resolution> {
        let Some(sender) = identities.first() else {
            return Err(StoreError::NotFound(
                "identity (a message needs a sender)".into(),
            ));
        };
        if let Some(customer) = self.known_customer(identities, display_name).await? {
            return Ok(Resolution {
                customer,
                created: false,
                merged: vec![],
            });
        }
        // Two racing first messages from one new handle: the loser's insert conflicts and it
        // retries, now finding the winner's customer.
        for _ in 0..3 {
            let mut owner = None;
            for identity in identities {
                if let Some(id) = self.identity_owner(identity).await? {
                    owner = Some(id);
                    if identity == sender {
                        break;
                    }
                }
            }
            let owner = match owner {
                Some(id) => Some(self.follow_merges(id).await?),
                None => None,
            };
            // Nothing below may use `self.db` while `tx` is open: SQLite runs on one connection.
            let mut tx = self.db.begin().await?;
            let (customer_id, created) = match owner {
                Some(id) => (id, false),
                None => {
                    let id = CustomerId::new();
                    query(
                        "INSERT INTO customers (id, display_name, created_at) VALUES ($1, $2, $3)",
                    )
                    .bind(id.to_string())
                    .bind(display_name.map(str::to_string))
                    .bind(to_millis(now))
                    .execute(&mut tx)
                    .await?;
                    (id, true)
                }
            };
            let mut sender_attached = !created;
            for identity in identities {
                let inserted = query(
                    "INSERT INTO identities (kind, value, customer_id, verified, first_seen_at) \
                     VALUES ($1, $2, $3, 0, $4) ON CONFLICT (kind, value) DO NOTHING",
                )
                .bind(identity.kind.as_str())
                .bind(identity.value.clone())
                .bind(customer_id.to_string())
                .bind(to_millis(now))
                .execute(&mut tx)
                .await?
                .rows_affected();
                if identity == sender && inserted == 1 {
                    sender_attached = true;
                }
            }
            if !sender_attached {
                tx.rollback().await?;
                continue;
            }
            if let (Some(name), false) = (display_name, created) {
                query(
                    "UPDATE customers SET display_name = $1 WHERE id = $2 AND display_name IS NULL",
                )
                .bind(name.to_string())
                .bind(customer_id.to_string())
                .execute(&mut tx)
                .await?;
            }
            tx.commit().await?;
            let merged = if created {
                vec![]
            } else {
                self.merge_owners(identities, now).await?
            };
            let customer_id = merged.first().map_or(customer_id, |m| m.survivor);
            let customer = self.customer(customer_id).await?;
            return Ok(Resolution {
                customer,
                created,
                merged,
            });
        }
        Err(StoreError::NotFound(format!(
            "a stable owner for {sender} (three racing inserts in a row)"
        )))
    }

    /// The returning customer's case, in one statement: the sender's record, when it was never
    /// merged, already holds every identity of the message and has its display name (or none is
    /// given). Then nothing is to be attached, merged or named, and the full resolution would
    /// only read the same rows again. `None` sends the caller to the full resolution.
    async fn known_customer(
        &self,
        identities: &[Identity],
        display_name: Option<&str>,
    ) -> Result<Option<Customer>> {
        let Some(sender) = identities.first() else {
            return Ok(None);
        };
        let rows = query(
            "SELECT c.id, c.display_name, c.created_at, c.merged_into, \
                    i.kind, i.value, i.verified, i.first_seen_at \
             FROM identities s \
             JOIN customers c ON c.id = s.customer_id \
             JOIN identities i ON i.customer_id = c.id \
             WHERE s.kind = $1 AND s.value = $2 \
             ORDER BY i.first_seen_at, i.kind, i.value",
        )
        .bind(sender.kind.as_str())
        .bind(sender.value.clone())
        .fetch_all(&self.db)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let merged_into: Option<String> = first.get(3);
        let stored_name: Option<String> = first.get(1);
        if merged_into.is_some() || (display_name.is_some() && stored_name.is_none()) {
            return Ok(None);
        }
        let records = rows
            .iter()
            .map(|r| identity_record(r, 4))
            .collect::<Result<Vec<_>>>()?;
        if !identities
            .iter()
            .all(|wanted| records.iter().any(|r| &r.identity == wanted))
        {
            return Ok(None);
        }
        Ok(Some(Customer {
            id: parse_field("customers", "id", &first.get::<String>(0))?,
            display_name: stored_name,
            created_at: from_millis("customers", first.get(2))?,
            merged_into: None,
            identities: records,
        }))
    }

    /// Merge the distinct owners of `identities` into the owner of the strongest one.
    async fn merge_owners(
        &self,
        identities: &[Identity],
        now: Timestamp,
    ) -> Result<Vec<CustomerMerge>> {
        let mut owners: Vec<(u8, CustomerId, &Identity)> = Vec::new();
        for identity in identities {
            if let Some(owner) = self.identity_owner(identity).await? {
                let owner = self.follow_merges(owner).await?;
                owners.push((merge_priority(identity.kind), owner, identity));
            }
        }
        owners.sort_by_key(|(priority, ..)| *priority);
        let Some((_, survivor, strongest)) = owners.first().cloned() else {
            return Ok(vec![]);
        };
        let mut merges = vec![];
        for (_, other, identity) in &owners[1..] {
            if *other == survivor || merges.iter().any(|m: &CustomerMerge| m.merged == *other) {
                continue;
            }
            let reason = format!("one message vouched for {strongest} and {identity}");
            match self.merge_customers(survivor, *other, &reason, now).await {
                Ok(merge) => merges.push(merge),
                Err(StoreError::Conflict(why)) => {
                    tracing::warn!(%survivor, merged = %other, %why, "customers not merged");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(merges)
    }

    /// Merge customer `merged` into `survivor`: identities and conversations move to the
    /// survivor, the merged record points at it, and the merge is recorded. Refused with
    /// [`StoreError::Conflict`] when both have a verified identity of the same kind (account id,
    /// email or phone) with different values.
    pub async fn merge_customers(
        &self,
        survivor: CustomerId,
        merged: CustomerId,
        reason: &str,
        now: Timestamp,
    ) -> Result<CustomerMerge> {
        if survivor == merged {
            return Err(StoreError::Conflict(format!(
                "customer {survivor} cannot be merged into itself"
            )));
        }
        let (a, b) = (self.customer(survivor).await?, self.customer(merged).await?);
        for kind in [
            IdentityKind::AccountId,
            IdentityKind::Email,
            IdentityKind::Phone,
        ] {
            let verified = |c: &Customer| -> Vec<String> {
                c.identities
                    .iter()
                    .filter(|r| r.verified && r.identity.kind == kind)
                    .map(|r| r.identity.value.clone())
                    .collect()
            };
            let (va, vb) = (verified(&a), verified(&b));
            if !va.is_empty() && !vb.is_empty() && !va.iter().any(|v| vb.contains(v)) {
                return Err(StoreError::Conflict(format!(
                    "customers {survivor} and {merged} have different verified {kind} identities"
                )));
            }
        }
        let mut tx = self.db.begin().await?;
        for sql in [
            "UPDATE identities SET customer_id = $1 WHERE customer_id = $2",
            "UPDATE conversations SET customer_id = $1 WHERE customer_id = $2",
            "UPDATE customers SET merged_into = $1 WHERE id = $2",
        ] {
            query(sql)
                .bind(survivor.to_string())
                .bind(merged.to_string())
                .execute(&mut tx)
                .await?;
        }
        query("INSERT INTO customer_merges (survivor, merged, reason, at) VALUES ($1, $2, $3, $4)")
            .bind(survivor.to_string())
            .bind(merged.to_string())
            .bind(reason.to_string())
            .bind(to_millis(now))
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        tracing::info!(%survivor, %merged, reason, "customers merged");
        Ok(CustomerMerge {
            survivor,
            merged,
            reason: reason.to_string(),
            at: now,
        })
    }

    /// Every merge into or of `customer`, oldest first (the audit trail).
    pub async fn merges_of(&self, customer: CustomerId) -> Result<Vec<CustomerMerge>> {
        query(
            "SELECT survivor, merged, reason, at FROM customer_merges \
             WHERE survivor = $1 OR merged = $1 ORDER BY at",
        )
        .bind(customer.to_string())
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(|r| {
            Ok(CustomerMerge {
                survivor: parse_field("customer_merges", "survivor", &r.get::<String>(0))?,
                merged: parse_field("customer_merges", "merged", &r.get::<String>(1))?,
                reason: r.get(2),
                at: from_millis("customer_merges", r.get(3))?,
            })
        })
        .collect()
    }

    /// The customer an identity belongs to, if any.
    pub async fn identity_owner(&self, identity: &Identity) -> Result<Option<CustomerId>> {
        let row = query("SELECT customer_id FROM identities WHERE kind = $1 AND value = $2")
            .bind(identity.kind.as_str())
            .bind(identity.value.clone())
            .fetch_optional(&self.db)
            .await?;
        row.map(|r| parse_field("identities", "customer_id", &r.get::<String>(0)))
            .transpose()
    }

    /// Mark an identity as proven by its channel (signed widget id, authenticated login, …).
    pub async fn verify_identity(&self, identity: &Identity) -> Result<()> {
        self.assure_identity(identity, Assurance::Channel).await
    }

    /// Raise an identity's assurance to `assurance` (never lowers it).
    pub async fn assure_identity(&self, identity: &Identity, assurance: Assurance) -> Result<()> {
        let level = assurance_level(assurance);
        let done = query(
            "UPDATE identities SET verified = CASE WHEN verified < $1 THEN $1 ELSE verified END \
             WHERE kind = $2 AND value = $3",
        )
        .bind(level)
        .bind(identity.kind.as_str())
        .bind(identity.value.clone())
        .execute(&self.db)
        .await?
        .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound(format!("identity {identity}")));
        }
        Ok(())
    }

    /// A merged customer's surviving record.
    async fn follow_merges(&self, mut id: CustomerId) -> Result<CustomerId> {
        for _ in 0..16 {
            let row = query("SELECT merged_into FROM customers WHERE id = $1")
                .bind(id.to_string())
                .fetch_one(&self.db)
                .await?;
            match row.get::<Option<String>>(0) {
                Some(next) => id = parse_field("customers", "merged_into", &next)?,
                None => return Ok(id),
            }
        }
        Err(StoreError::Corrupt {
            table: "customers",
            reason: format!("merge chain from {id} longer than 16"),
        })
    }

    /// A customer with all their identities.
    pub async fn customer(&self, id: CustomerId) -> Result<Customer> {
        let row =
            query("SELECT display_name, created_at, merged_into FROM customers WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.db)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("customer {id}")))?;
        let identities = query(
            "SELECT kind, value, verified, first_seen_at FROM identities \
             WHERE customer_id = $1 ORDER BY first_seen_at, kind, value",
        )
        .bind(id.to_string())
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(|r| identity_record(r, 0))
        .collect::<Result<Vec<_>>>()?;
        Ok(Customer {
            id,
            display_name: row.get(0),
            created_at: from_millis("customers", row.get(1))?,
            merged_into: row
                .get::<Option<String>>(2)
                .map(|m| parse_field("customers", "merged_into", &m))
                .transpose()?,
            identities,
        })
    }
}

/// The `identities.verified` column holds the assurance level: 0 claimed, 1 proven by the
/// channel, 2 proven by a one-time code.
fn assurance_level(assurance: Assurance) -> i64 {
    match assurance {
        Assurance::Claimed => 0,
        Assurance::Channel => 1,
        Assurance::Code => 2,
    }
}

fn assurance_of(level: i64) -> Assurance {
    match level {
        i64::MIN..=0 => Assurance::Claimed,
        1 => Assurance::Channel,
        _ => Assurance::Code,
    }
}

/// An identity record from four columns of `row` from `first` on: kind, value, verified,
/// first seen.
fn identity_record(row: &Row, first: usize) -> Result<IdentityRecord> {
    let assurance = assurance_of(row.get::<i64>(first + 2));
    Ok(IdentityRecord {
        identity: Identity {
            kind: parse_field("identities", "kind", &row.get::<String>(first))?,
            value: row.get(first + 1),
        },
        verified: assurance.is_verified(),
        assurance,
        first_seen_at: from_millis("identities", row.get(first + 3))?,
    })
}
