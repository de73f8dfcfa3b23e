//! One-time codes that prove a customer owns an account: only their hashes are kept, with when
//! they expire, how often they were tried, and when they were used.

use crate::db::{query, Row};
use crate::{from_millis, parse_field, to_millis, Result, Store};
use frontline_domain::{CustomerId, Timestamp};

/// A one-time code as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct VerificationCode {
    /// Its id.
    pub id: String,
    /// The account it proves (empty when no account was found and nothing was sent).
    pub account: String,
    /// The customer who asked for it.
    pub requester: CustomerId,
    /// Where it was sent (`email:…` or `phone:…`; empty when nowhere).
    pub destination: String,
    /// A hash of the code (never the code).
    pub code_hash: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// Wrong attempts so far.
    pub attempts: u32,
    /// When it was last tried.
    pub last_attempt_at: Option<Timestamp>,
    /// When it was used (it then works no more).
    pub used_at: Option<Timestamp>,
}

const COLUMNS: &str = "id, account, requester, destination, code_hash, created_at, expires_at, \
                       attempts, last_attempt_at, used_at";

fn code(row: &Row) -> Result<VerificationCode> {
    let optional_time = |at: usize| -> Result<Option<Timestamp>> {
        row.get::<Option<i64>>(at)
            .map(|ms| from_millis("verification_codes", ms))
            .transpose()
    };
    Ok(VerificationCode {
        id: row.get(0),
        account: row.get(1),
        requester: parse_field("verification_codes", "requester", &row.get::<String>(2))?,
        destination: row.get(3),
        code_hash: row.get(4),
        created_at: from_millis("verification_codes", row.get(5))?,
        expires_at: from_millis("verification_codes", row.get(6))?,
        attempts: u32::try_from(row.get::<i64>(7)).unwrap_or(u32::MAX),
        last_attempt_at: optional_time(8)?,
        used_at: optional_time(9)?,
    })
}

impl Store {
    /// Keep a new code (its hash).
    pub async fn insert_verification_code(&self, new: &VerificationCode) -> Result<()> {
        query(
            "INSERT INTO verification_codes (id, account, requester, destination, code_hash, \
             created_at, expires_at, attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
        )
        .bind(new.id.clone())
        .bind(new.account.clone())
        .bind(new.requester.to_string())
        .bind(new.destination.clone())
        .bind(new.code_hash.clone())
        .bind(to_millis(new.created_at))
        .bind(to_millis(new.expires_at))
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// The newest code `requester` asked for `account`.
    pub async fn latest_verification_code(
        &self,
        account: &str,
        requester: CustomerId,
    ) -> Result<Option<VerificationCode>> {
        let row = query(format!(
            "SELECT {COLUMNS} FROM verification_codes WHERE account = $1 AND requester = $2 \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(account.to_string())
        .bind(requester.to_string())
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(code).transpose()
    }

    /// How many codes were made since `since` for `account` (when given) and by `requester`
    /// (when given): the figures rate limits are checked against.
    pub async fn verification_codes_since(
        &self,
        account: Option<&str>,
        requester: Option<CustomerId>,
        since: Timestamp,
    ) -> Result<u64> {
        let row = query(
            "SELECT COUNT(*) FROM verification_codes WHERE created_at >= $1 \
             AND ($2 = '' OR account = $2) AND ($3 = '' OR requester = $3)",
        )
        .bind(to_millis(since))
        .bind(account.unwrap_or_default().to_string())
        .bind(requester.map(|r| r.to_string()).unwrap_or_default())
        .fetch_one(&self.db)
        .await?;
        Ok(u64::try_from(row.get::<i64>(0)).unwrap_or(0))
    }

    /// Record an attempt at code `id`: a right one uses it up, a wrong one counts.
    pub async fn record_verification_attempt(
        &self,
        id: &str,
        right: bool,
        at: Timestamp,
    ) -> Result<()> {
        let sql = if right {
            "UPDATE verification_codes SET used_at = $1, last_attempt_at = $1 WHERE id = $2"
        } else {
            "UPDATE verification_codes SET attempts = attempts + 1, last_attempt_at = $1 \
             WHERE id = $2"
        };
        query(sql)
            .bind(to_millis(at))
            .bind(id.to_string())
            .execute(&self.db)
            .await?;
        Ok(())
    }
}
