//! One way to run the store's SQL on either engine.
//!
//! **SQLite runs on the calling thread.** A statement is a few microseconds of work on a local
//! file; handing it to a driver thread and back (what sqlx's SQLite driver does) cost two thread
//! wake-ups per statement, which on two cores was most of a turn (ARCHITECTURE.md, deviation
//! 27). So SQLite goes through rusqlite: one connection per database file in the process, held
//! by an async mutex, each statement run synchronously while the mutex is held (prepared
//! statements cached). A transaction holds the mutex from `BEGIN IMMEDIATE` to its end.
//!
//! **PostgreSQL goes through sqlx's pool**, as before: the network round trip is the cost there,
//! and the pool lets sixteen statements be in flight.
//!
//! Both take the same SQL (the dialect they share, `$n` placeholders) and the same bound values,
//! and give back rows read the same way, so every query in the store is written once.

use crate::{Result, StoreError};
use rusqlite::types::{ToSqlOutput, ValueRef};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// A SQLite connection shared by every [`Db`] on the same file in this process.
type SharedSqlite = Arc<AsyncMutex<rusqlite::Connection>>;

/// The database a store talks to.
#[derive(Clone, Debug)]
pub(crate) enum Db {
    /// A SQLite file, on the calling thread.
    Sqlite(SqliteHandle),
    /// A PostgreSQL pool.
    Postgres(AnyPool),
}

/// Open connections by file, so two stores on one file in one process share one connection
/// (SQLite serialises writers anyway; two connections in one process would only wait on each
/// other's locks while holding a runtime thread).
fn open_files() -> &'static Mutex<HashMap<PathBuf, Weak<AsyncMutex<rusqlite::Connection>>>> {
    static FILES: std::sync::OnceLock<
        Mutex<HashMap<PathBuf, Weak<AsyncMutex<rusqlite::Connection>>>>,
    > = std::sync::OnceLock::new();
    FILES.get_or_init(Default::default)
}

/// How often the checkpointer looks at the WAL.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Checkpoint the WAL of the database at `path` from a thread and connection of its own
/// (PASSIVE: it never waits for, nor blocks, the connection serving turns), until `serving` is
/// closed.
fn spawn_checkpointer(
    path: PathBuf,
    serving: Weak<AsyncMutex<rusqlite::Connection>>,
) -> Result<()> {
    let conn = rusqlite::Connection::open(&path)?;
    conn.execute_batch("PRAGMA busy_timeout = 5000;")?;
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while serving.strong_count() > 0 {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(path = %path.display(), error = %e, "WAL checkpoint failed; retrying");
                }
            }
        })
        .map_err(StoreError::Checkpointer)?;
    Ok(())
}

impl Db {
    /// The connection to the SQLite file at `path` (which exists: the migrations created it),
    /// opened in WAL mode, or the one this process already has open.
    pub(crate) fn sqlite(path: &Path) -> Result<Db> {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let mut files = open_files().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(open) = files.get(&key).and_then(Weak::upgrade) {
            return Ok(Db::Sqlite(SqliteHandle::new(open)));
        }
        let conn = rusqlite::Connection::open(&key)?;
        // Checkpoints (copying the WAL back into the database file, with two fsyncs) would
        // otherwise run inside whichever commit filled the WAL past its limit: every few dozen
        // turns, one would take milliseconds longer. A thread of the file's own does them.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
             PRAGMA wal_autocheckpoint = 0;",
        )?;
        conn.set_prepared_statement_cache_capacity(256);
        let shared = Arc::new(AsyncMutex::new(conn));
        files.retain(|_, open| open.strong_count() > 0);
        files.insert(key.clone(), Arc::downgrade(&shared));
        spawn_checkpointer(key, Arc::downgrade(&shared))?;
        Ok(Db::Sqlite(SqliteHandle::new(shared)))
    }

    /// Start a transaction: every statement run on it lands with its commit or not at all.
    pub(crate) async fn begin(&self) -> Result<Tx> {
        match self {
            Db::Sqlite(handle) => {
                let guard = handle.lock_owned().await?;
                // IMMEDIATE takes the write lock now: every transaction of the store writes,
                // and a deferred one could fail to upgrade its read lock under another process.
                guard.execute_batch("BEGIN IMMEDIATE")?;
                Ok(Tx::Sqlite {
                    conn: guard,
                    open: true,
                })
            }
            Db::Postgres(pool) => Ok(Tx::Postgres(Some(pool.begin().await?))),
        }
    }

    /// Close: statements after this fail, as they do on a closed pool (PostgreSQL: waits for
    /// statements in flight). A SQLite file's connection stays open for other stores on it.
    pub(crate) async fn close(&self) {
        match self {
            Db::Sqlite(handle) => handle.closed.store(true, Ordering::SeqCst),
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// A store's handle on a SQLite file's shared connection; its clones share whether it is
/// closed, as clones of a pool do.
#[derive(Clone, Debug)]
pub(crate) struct SqliteHandle {
    conn: SharedSqlite,
    closed: Arc<AtomicBool>,
}

impl SqliteHandle {
    fn new(conn: SharedSqlite) -> Self {
        Self {
            conn,
            closed: Arc::default(),
        }
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Database(sqlx::Error::PoolClosed));
        }
        Ok(())
    }

    /// The connection, for one statement.
    async fn lock(&self) -> Result<tokio::sync::MutexGuard<'_, rusqlite::Connection>> {
        self.check_open()?;
        acquire(self.conn.lock()).await
    }

    /// The connection, for a transaction.
    async fn lock_owned(&self) -> Result<OwnedMutexGuard<rusqlite::Connection>> {
        self.check_open()?;
        acquire(self.conn.clone().lock_owned()).await
    }
}

/// How long a statement waits for the SQLite connection before it fails. Statements take
/// microseconds and transactions milliseconds, so reaching this means a transaction was left
/// waiting on something that needs the connection itself: an error beats a hang.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Wait for the connection, at most [`ACQUIRE_TIMEOUT`].
async fn acquire<G>(lock: impl std::future::Future<Output = G>) -> Result<G> {
    tokio::time::timeout(ACQUIRE_TIMEOUT, lock)
        .await
        .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))
}

/// An open transaction; rolled back if dropped before [`Tx::commit`].
pub(crate) enum Tx {
    /// SQLite: the connection, held until the end.
    Sqlite {
        /// The connection.
        conn: OwnedMutexGuard<rusqlite::Connection>,
        /// False once committed or rolled back.
        open: bool,
    },
    /// PostgreSQL: sqlx's transaction (taken by commit or rollback).
    Postgres(Option<sqlx::Transaction<'static, Any>>),
}

impl Tx {
    /// Make every statement of the transaction durable.
    pub(crate) async fn commit(mut self) -> Result<()> {
        match &mut self {
            Tx::Sqlite { conn, open } => {
                *open = false;
                if let Err(e) = conn.execute_batch("COMMIT") {
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(e.into());
                }
                Ok(())
            }
            Tx::Postgres(tx) => Ok(open_pg(tx).commit().await?),
        }
    }

    /// Undo every statement of the transaction.
    pub(crate) async fn rollback(mut self) -> Result<()> {
        match &mut self {
            Tx::Sqlite { conn, open } => {
                *open = false;
                Ok(conn.execute_batch("ROLLBACK")?)
            }
            Tx::Postgres(tx) => Ok(open_pg(tx).rollback().await?),
        }
    }
}

/// The transaction of an open PostgreSQL [`Tx`] (only commit and rollback take it, consuming
/// the `Tx`).
fn open_pg(tx: &mut Option<sqlx::Transaction<'static, Any>>) -> sqlx::Transaction<'static, Any> {
    tx.take().expect("an open transaction")
}

/// The connection of an open PostgreSQL [`Tx`].
fn pg<'t>(tx: &'t mut Option<sqlx::Transaction<'static, Any>>) -> &'t mut sqlx::AnyConnection {
    tx.as_mut().expect("an open transaction")
}

impl Drop for Tx {
    fn drop(&mut self) {
        // sqlx rolls its own transactions back on drop; a SQLite one left open here would hold
        // the write lock for the next user of the connection.
        if let Tx::Sqlite { conn, open: true } = self {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}

/// Where a statement runs: on the database (its own transaction) or inside an open one.
pub(crate) enum On<'c> {
    /// The database.
    Db(&'c Db),
    /// An open transaction.
    Tx(&'c mut Tx),
}

impl<'c> From<&'c Db> for On<'c> {
    fn from(db: &'c Db) -> Self {
        On::Db(db)
    }
}

impl<'c> From<&'c mut Tx> for On<'c> {
    fn from(tx: &'c mut Tx) -> Self {
        On::Tx(tx)
    }
}

/// A value bound to a statement. Nulls are typed, as PostgreSQL wants to know a parameter's type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// A BIGINT (ids of time, counts, 0/1 flags).
    Int(i64),
    /// A DOUBLE PRECISION.
    Real(f64),
    /// TEXT (ids, JSON payloads).
    Text(String),
    /// A NULL BIGINT.
    NullInt,
    /// A NULL TEXT.
    NullText,
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Value::NullInt, Value::Int)
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        v.map_or(Value::NullText, Value::Text)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::NullInt | Value::NullText => ValueRef::Null,
        }))
    }
}

/// What a write statement did.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Done {
    rows: u64,
}

impl Done {
    /// Rows inserted, updated or deleted.
    pub(crate) fn rows_affected(&self) -> u64 {
        self.rows
    }
}

/// A statement with its bound values (`$1` is the first bound).
#[must_use = "a query does nothing until it is executed or fetched"]
pub(crate) struct Query {
    sql: String,
    args: Vec<Value>,
}

/// A statement to bind values to and run.
pub(crate) fn query(sql: impl Into<String>) -> Query {
    Query {
        sql: sql.into(),
        args: Vec::new(),
    }
}

impl Query {
    /// Bind the next `$n`.
    pub(crate) fn bind(mut self, value: impl Into<Value>) -> Query {
        self.args.push(value.into());
        self
    }

    /// Run a write; how many rows it changed.
    pub(crate) async fn execute<'c>(self, on: impl Into<On<'c>>) -> Result<Done> {
        match on.into() {
            On::Db(Db::Sqlite(handle)) => sqlite_execute(&*handle.lock().await?, &self),
            On::Tx(Tx::Sqlite { conn, .. }) => sqlite_execute(conn, &self),
            On::Db(Db::Postgres(pool)) => Ok(Done {
                rows: self.sqlx().execute(pool).await?.rows_affected(),
            }),
            On::Tx(Tx::Postgres(tx)) => Ok(Done {
                rows: self.sqlx().execute(pg(tx)).await?.rows_affected(),
            }),
        }
    }

    /// Every row.
    pub(crate) async fn fetch_all<'c>(self, on: impl Into<On<'c>>) -> Result<Vec<Row>> {
        match on.into() {
            On::Db(Db::Sqlite(handle)) => sqlite_rows(&*handle.lock().await?, &self, usize::MAX),
            On::Tx(Tx::Sqlite { conn, .. }) => sqlite_rows(conn, &self, usize::MAX),
            On::Db(Db::Postgres(pool)) => Ok(wrap(self.sqlx().fetch_all(pool).await?)),
            On::Tx(Tx::Postgres(tx)) => Ok(wrap(self.sqlx().fetch_all(pg(tx)).await?)),
        }
    }

    /// The first row, if any.
    pub(crate) async fn fetch_optional<'c>(self, on: impl Into<On<'c>>) -> Result<Option<Row>> {
        match on.into() {
            On::Db(Db::Sqlite(handle)) => Ok(sqlite_rows(&*handle.lock().await?, &self, 1)?.pop()),
            On::Tx(Tx::Sqlite { conn, .. }) => Ok(sqlite_rows(conn, &self, 1)?.pop()),
            On::Db(Db::Postgres(pool)) => Ok(self.sqlx().fetch_optional(pool).await?.map(Row::Any)),
            On::Tx(Tx::Postgres(tx)) => Ok(self.sqlx().fetch_optional(pg(tx)).await?.map(Row::Any)),
        }
    }

    /// The first row; [`sqlx::Error::RowNotFound`] if there is none.
    pub(crate) async fn fetch_one<'c>(self, on: impl Into<On<'c>>) -> Result<Row> {
        self.fetch_optional(on)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    /// The same statement for sqlx.
    fn sqlx(&self) -> sqlx::query::Query<'_, Any, sqlx::any::AnyArguments<'_>> {
        self.args
            .iter()
            .fold(sqlx::query(&self.sql), |q, value| match value {
                Value::Int(v) => q.bind(*v),
                Value::Real(v) => q.bind(*v),
                Value::Text(v) => q.bind(v.as_str()),
                Value::NullInt => q.bind(None::<i64>),
                Value::NullText => q.bind(None::<String>),
            })
    }
}

fn wrap(rows: Vec<AnyRow>) -> Vec<Row> {
    rows.into_iter().map(Row::Any).collect()
}

/// Prepare (from the cache) and bind: `$n` takes the n-th bound value wherever it appears.
fn prepare<'c>(
    conn: &'c rusqlite::Connection,
    query: &Query,
) -> Result<rusqlite::CachedStatement<'c>> {
    let mut statement = conn.prepare_cached(&query.sql)?;
    for index in 1..=statement.parameter_count() {
        let number = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=query.args.len()).contains(n))
            .ok_or_else(|| StoreError::Statement {
                sql: query.sql.clone(),
                reason: format!(
                    "parameter {index} is not one of the {} values bound ($1..)",
                    query.args.len()
                ),
            })?;
        statement.raw_bind_parameter(index, &query.args[number - 1])?;
    }
    Ok(statement)
}

fn sqlite_execute(conn: &rusqlite::Connection, query: &Query) -> Result<Done> {
    let mut statement = prepare(conn, query)?;
    let mut rows = statement.raw_query();
    while rows.next()?.is_some() {}
    Ok(Done {
        rows: conn.changes(),
    })
}

fn sqlite_rows(conn: &rusqlite::Connection, query: &Query, limit: usize) -> Result<Vec<Row>> {
    let mut statement = prepare(conn, query)?;
    let columns = statement.column_count();
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        if out.len() == limit {
            // Step the statement to its end anyway, so a write with RETURNING completes.
            continue;
        }
        let values = (0..columns)
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => Value::NullText,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Real(v),
                    ValueRef::Text(v) | ValueRef::Blob(v) => {
                        Value::Text(String::from_utf8_lossy(v).into_owned())
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.push(Row::Values(values));
    }
    Ok(out)
}

/// A result row, read by column position.
pub(crate) enum Row {
    /// From SQLite.
    Values(Vec<Value>),
    /// From PostgreSQL.
    Any(AnyRow),
}

impl Row {
    /// Column `index` as a `T`. Panics when the column is missing or of another type, as
    /// `sqlx::Row::get` does: the store's own queries decide both.
    pub(crate) fn get<T: Column>(&self, index: usize) -> T {
        match self {
            Row::Values(values) => {
                let value = values
                    .get(index)
                    .unwrap_or_else(|| panic!("column {index} of {} read", values.len()));
                T::from_value(value)
                    .unwrap_or_else(|| panic!("column {index} holds {value:?}, not the type read"))
            }
            Row::Any(row) => sqlx::Row::get(row, index),
        }
    }
}

/// A type a column can be read as.
pub(crate) trait Column: Sized + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> {
    /// From a SQLite value; `None` if it holds another type.
    fn from_value(value: &Value) -> Option<Self>;
}

impl Column for i64 {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }
}

impl Column for f64 {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Real(v) => Some(*v),
            Value::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
}

impl Column for String {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Text(v) => Some(v.clone()),
            _ => None,
        }
    }
}

impl<T: Column> Column for Option<T>
where
    Option<T>: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::NullInt | Value::NullText => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl StoreError {
    /// True when the database refused a write for a duplicate key (another writer was first).
    pub(crate) fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(e) => e
                .as_database_error()
                .is_some_and(|d| d.is_unique_violation()),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            ),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn scratch() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scratch.db");
        std::fs::File::create(&path).unwrap();
        let db = Db::sqlite(&path).unwrap();
        query("CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT, x TEXT)")
            .execute(&db)
            .await
            .unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn placeholders_bind_by_number_wherever_they_appear() {
        let (_dir, db) = scratch().await;
        let done = query("INSERT INTO t (k, n, x) VALUES ($2, $1, $2 || '!')")
            .bind(7_i64)
            .bind("a")
            .execute(&db)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        let row = query("SELECT k, n, x FROM t WHERE k = $1")
            .bind("a")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(row.get::<String>(0), "a");
        assert_eq!(row.get::<i64>(1), 7);
        assert_eq!(row.get::<String>(2), "a!");
        assert!(query("SELECT k FROM t WHERE k = $1")
            .bind("b")
            .fetch_optional(&db)
            .await
            .unwrap()
            .is_none());
        // A placeholder without a value is refused, not bound to NULL.
        assert!(query("SELECT k FROM t WHERE k = $2")
            .bind("a")
            .fetch_all(&db)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn nulls_read_as_none_and_duplicates_are_unique_violations() {
        let (_dir, db) = scratch().await;
        query("INSERT INTO t (k, n, x) VALUES ($1, $2, $3)")
            .bind("a")
            .bind(None::<i64>)
            .bind(None::<String>)
            .execute(&db)
            .await
            .unwrap();
        let row = query("SELECT n, x FROM t").fetch_one(&db).await.unwrap();
        assert_eq!(row.get::<Option<i64>>(0), None);
        assert_eq!(row.get::<Option<String>>(1), None);
        let again = query("INSERT INTO t (k) VALUES ($1)")
            .bind("a")
            .execute(&db)
            .await
            .unwrap_err();
        assert!(again.is_unique_violation(), "{again}");
        let other = query("INSERT INTO nowhere (k) VALUES ($1)")
            .bind("a")
            .execute(&db)
            .await
            .unwrap_err();
        assert!(!other.is_unique_violation(), "{other}");
    }

    #[tokio::test]
    async fn a_transaction_lands_whole_or_not_at_all() {
        let (_dir, db) = scratch().await;
        let inserting = |key: &'static str| {
            let db = db.clone();
            async move {
                let mut tx = db.begin().await.unwrap();
                query("INSERT INTO t (k) VALUES ($1)")
                    .bind(key)
                    .execute(&mut tx)
                    .await
                    .unwrap();
                tx
            }
        };
        inserting("kept").await.commit().await.unwrap();
        inserting("undone").await.rollback().await.unwrap();
        // Dropped without a commit (an error returned mid-way): rolled back, lock released.
        drop(inserting("dropped").await);
        let keys: Vec<String> = query("SELECT k FROM t ORDER BY k")
            .fetch_all(&db)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(keys, ["kept"]);
    }

    #[tokio::test]
    async fn the_log_reaches_the_database_file_without_a_commit_checkpointing() {
        let (dir, db) = scratch().await;
        let file = dir.path().join("scratch.db");
        let before = std::fs::metadata(&file).unwrap().len();
        for i in 0..200_i64 {
            query("INSERT INTO t (k, n, x) VALUES ($1, $2, $3)")
                .bind(format!("key-{i}"))
                .bind(i)
                .bind("x".repeat(500))
                .execute(&db)
                .await
                .unwrap();
        }
        // The commits only appended to the WAL; the checkpoint thread copies it back.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::metadata(&file).unwrap().len() <= before + 50_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file never received the logged pages"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn stores_on_one_file_share_its_connection_but_close_alone() {
        let (dir, db) = scratch().await;
        let again = Db::sqlite(&dir.path().join("scratch.db")).unwrap();
        match (&db, &again) {
            (Db::Sqlite(a), Db::Sqlite(b)) => assert!(Arc::ptr_eq(&a.conn, &b.conn)),
            _ => unreachable!("both are SQLite"),
        }
        let count = "SELECT COUNT(*) FROM t";
        db.close().await;
        assert!(query(count).fetch_one(&db).await.is_err());
        assert!(db.begin().await.is_err());
        assert_eq!(
            query(count).fetch_one(&again).await.unwrap().get::<i64>(0),
            0
        );
    }
}
