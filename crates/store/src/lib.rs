//! frontline's persistence: customers and their identities, conversations, the append-only event
//! log, the inbox (deduplication of provider redeliveries) and the outbox.
//!
//! One schema and one code path for SQLite (the embedded default, WAL mode) and PostgreSQL
//! (scale-out): the SQL is kept to the dialect both share, and [`db`] runs it on either
//! engine (SQLite on the calling thread, PostgreSQL through sqlx's pool).

mod batch;
mod conversations;
mod customers;
mod db;
mod events;
mod handoffs;
mod inbox;
mod outbox;
mod queue;
mod verification;
pub mod worker;

pub use batch::{Write, WriteBatch};
pub use conversations::{ConversationFilter, ListedConversation};
pub use customers::{CustomerMerge, Resolution};
pub use handoffs::HandoffEntry;
pub use inbox::InboxClaim;
pub use outbox::OutboxEntry;
pub use queue::QueuedMessage;
pub use verification::VerificationCode;
pub use worker::{Progress, Queue, Worker};

use chrono::{TimeZone, Utc};
use frontline_domain::Timestamp;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{ConnectOptions, Executor};
use std::str::FromStr;
use std::time::Duration;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL could not be parsed or names an unsupported backend.
    #[error("invalid database url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL, with any password removed.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Applying the schema migrations failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A SQLite statement failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A statement's placeholders do not match the values bound to it (a defect in the store).
    #[error("statement `{sql}`: {reason}")]
    Statement {
        /// The statement.
        sql: String,
        /// What does not match.
        reason: String,
    },
    /// The thread that checkpoints a SQLite file's write-ahead log could not start.
    #[error("cannot start the WAL checkpoint thread: {0}")]
    Checkpointer(std::io::Error),
    /// A stored row could not be decoded (corrupt data or a schema mismatch).
    #[error("corrupt row in `{table}`: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What could not be decoded.
        reason: String,
    },
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The change would contradict what is known (e.g. merging two customers whose verified
    /// identities disagree).
    #[error("conflict: {0}")]
    Conflict(String),
}

/// How a delivery attempt went.
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryAttempt {
    /// Delivered; the provider's reference.
    Delivered {
        /// Ticket, conversation or message id at the provider.
        reference: String,
    },
    /// Failed for now; try again at `next_attempt_at`.
    Retry {
        /// When.
        next_attempt_at: Timestamp,
        /// Why it failed.
        error: String,
    },
    /// Failed for good (a permanent error, or out of attempts).
    Failed {
        /// Why.
        error: String,
    },
}

/// When a failed delivery (a reply, a handoff) is tried again: exponential, capped, finite.
#[derive(Clone, Debug)]
pub struct Backoff {
    /// Wait after the first failure.
    pub first: chrono::Duration,
    /// Longest wait between attempts.
    pub max: chrono::Duration,
    /// Give up after this many attempts.
    pub attempts: i64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: chrono::Duration::seconds(15),
            max: chrono::Duration::minutes(30),
            attempts: 20,
        }
    }
}

impl Backoff {
    /// The wait after `attempts` failed attempts (1 = the first failure).
    pub fn wait(&self, attempts: i64) -> chrono::Duration {
        let factor = 1_i64 << (attempts - 1).clamp(0, 20);
        (self.first * factor as i32).min(self.max)
    }
}

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database engine a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (WAL mode).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A handle on the database; cheap to clone (it wraps a connection or a pool).
#[derive(Clone, Debug)]
pub struct Store {
    db: db::Db,
    backend: Backend,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connect to `sqlite://path/to/file.db` (created if missing) or `postgres://…`, and bring
    /// the schema up to date.
    ///
    /// SQLite runs in WAL mode on one connection per file in the process, on the calling thread
    /// (see `db`): SQLite serialises writers anyway, and one connection cannot hit the
    /// `SQLITE_BUSY` lock-upgrade failure that several connections with deferred transactions
    /// can.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let invalid = |reason: String| StoreError::InvalidUrl {
            url: redact(url),
            reason,
        };
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() {
                return Err(invalid("no file path after sqlite://".into()));
            }
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        invalid(format!("cannot create folder {}: {e}", dir.display()))
                    })?;
                }
            }
            // sqlx keeps the schema's history (its migrations table), as it always has; the
            // store's own statements then run on the calling thread.
            let options = AnyConnectOptions::from_str(&format!("sqlite://{path}?mode=rwc"))
                .map_err(|e| invalid(e.to_string()))?;
            // A local file: opening it is slow only when the machine is busy, never a
            // server that went away, so the wait is generous rather than a failure in 10 s.
            let migrations = AnyPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(120))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;")
                            .await?;
                        Ok(())
                    })
                })
                .connect_with(options)
                .await?;
            let migrated = MIGRATOR.run(&migrations).await;
            migrations.close().await;
            migrated?;
            return Ok(Store {
                db: db::Db::sqlite(std::path::Path::new(path))?,
                backend: Backend::Sqlite,
            });
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid(
                "expected sqlite://<file> or postgres://<user>@<host>/<database>".into(),
            ));
        }
        let options = AnyConnectOptions::from_str(url)
            .map_err(|e| invalid(e.to_string()))?
            .log_statements(tracing::log::LevelFilter::Trace);
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Store {
            db: db::Db::Postgres(pool),
            backend: Backend::Postgres,
        })
    }

    /// Run one write outside any batch.
    pub(crate) async fn write_one(&self, write: &Write) -> Result<()> {
        batch::execute(&self.db, write).await
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A cheap round trip, for readiness probes.
    pub async fn ping(&self) -> Result<()> {
        db::query("SELECT 1").execute(&self.db).await?;
        Ok(())
    }

    /// Close every connection (waits for queries in flight).
    pub async fn close(&self) {
        self.db.close().await;
    }
}

/// The URL without its password, for error messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub(crate) fn to_millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(table: &'static str, ms: i64) -> Result<Timestamp> {
    match Utc.timestamp_millis_opt(ms) {
        chrono::LocalResult::Single(t) => Ok(t),
        _ => Err(StoreError::Corrupt {
            table,
            reason: format!("timestamp {ms} out of range"),
        }),
    }
}

pub(crate) fn parse_field<T: FromStr>(table: &'static str, field: &str, raw: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    raw.parse().map_err(|e: T::Err| StoreError::Corrupt {
        table,
        reason: format!("{field} `{raw}`: {e}"),
    })
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    table: &'static str,
    raw: &str,
) -> Result<T> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt {
        table,
        reason: e.to_string(),
    })
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising our own plain data types cannot fail (no maps with non-string keys).
    serde_json::to_string(value).expect("domain types serialise to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_error_messages() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/frontline"),
            "postgres://app:***@db:5432/frontline"
        );
        assert_eq!(redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }

    #[tokio::test]
    async fn unsupported_urls_are_named_in_the_error() {
        let err = Store::connect("mysql://localhost/x").await.unwrap_err();
        assert!(err.to_string().contains("expected sqlite://"), "{err}");
    }
}

#[cfg(feature = "testing")]
pub mod testing;
