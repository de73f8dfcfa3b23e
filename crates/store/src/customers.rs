//! Customers and identity resolution: which customer is behind a set of handles.

use crate::{from_millis, parse_field, to_millis, Result, Store, StoreError};
use frontline_domain::{Customer, CustomerId, Identity, IdentityRecord, Timestamp};
use sqlx::Row;

/// How [`Store::resolve_customer`] found the customer.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolution {
    /// The customer (with all identities, including any just attached).
    pub customer: Customer,
    /// True if no identity was known and a new customer record was created.
    pub created: bool,
}

impl Store {
    /// Find the customer behind `identities` (the first is the sender), creating one if none of
    /// them is known. Unknown identities are attached to the customer found.
    ///
    /// An identity that already belongs to a *different* customer is left where it is: merging
    /// customers is an explicit, audited operation, never a side effect of a message.
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
            // Nothing below may use `self.pool` while `tx` is open: SQLite runs on one connection.
            let mut tx = self.pool.begin().await?;
            let (customer_id, created) = match owner {
                Some(id) => (id, false),
                None => {
                    let id = CustomerId::new();
                    sqlx::query(
                        "INSERT INTO customers (id, display_name, created_at) VALUES ($1, $2, $3)",
                    )
                    .bind(id.to_string())
                    .bind(display_name.map(str::to_string))
                    .bind(to_millis(now))
                    .execute(&mut *tx)
                    .await?;
                    (id, true)
                }
            };
            let mut sender_attached = !created;
            for identity in identities {
                let inserted = sqlx::query(
                    "INSERT INTO identities (kind, value, customer_id, verified, first_seen_at) \
                     VALUES ($1, $2, $3, 0, $4) ON CONFLICT (kind, value) DO NOTHING",
                )
                .bind(identity.kind.as_str())
                .bind(identity.value.clone())
                .bind(customer_id.to_string())
                .bind(to_millis(now))
                .execute(&mut *tx)
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
                sqlx::query(
                    "UPDATE customers SET display_name = $1 WHERE id = $2 AND display_name IS NULL",
                )
                .bind(name.to_string())
                .bind(customer_id.to_string())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            let customer = self.customer(customer_id).await?;
            return Ok(Resolution { customer, created });
        }
        Err(StoreError::NotFound(format!(
            "a stable owner for {sender} (three racing inserts in a row)"
        )))
    }

    /// The customer an identity belongs to, if any.
    pub async fn identity_owner(&self, identity: &Identity) -> Result<Option<CustomerId>> {
        let row = sqlx::query("SELECT customer_id FROM identities WHERE kind = $1 AND value = $2")
            .bind(identity.kind.as_str())
            .bind(identity.value.clone())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse_field("identities", "customer_id", &r.get::<String, _>(0)))
            .transpose()
    }

    /// Mark an identity as proven by its channel (signed widget id, authenticated login, …).
    pub async fn verify_identity(&self, identity: &Identity) -> Result<()> {
        let done = sqlx::query("UPDATE identities SET verified = 1 WHERE kind = $1 AND value = $2")
            .bind(identity.kind.as_str())
            .bind(identity.value.clone())
            .execute(&self.pool)
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
            let row = sqlx::query("SELECT merged_into FROM customers WHERE id = $1")
                .bind(id.to_string())
                .fetch_one(&self.pool)
                .await?;
            match row.get::<Option<String>, _>(0) {
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
        let row = sqlx::query(
            "SELECT display_name, created_at, merged_into FROM customers WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("customer {id}")))?;
        let identities = sqlx::query(
            "SELECT kind, value, verified, first_seen_at FROM identities \
             WHERE customer_id = $1 ORDER BY first_seen_at, kind, value",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            Ok(IdentityRecord {
                identity: Identity {
                    kind: parse_field("identities", "kind", &r.get::<String, _>(0))?,
                    value: r.get(1),
                },
                verified: r.get::<i64, _>(2) != 0,
                first_seen_at: from_millis("identities", r.get(3))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(Customer {
            id,
            display_name: row.get(0),
            created_at: from_millis("customers", row.get(1))?,
            merged_into: row
                .get::<Option<String>, _>(2)
                .map(|m| parse_field("customers", "merged_into", &m))
                .transpose()?,
            identities,
        })
    }
}
