//! The demo shop: the business backend frontline's demo flows act on.
//!
//! Customers, addresses, payment methods, products with variants, orders (with items, payments
//! and fulfillments) and subscriptions, in the shop's own SQLite tables. Everything the agent
//! may do to it is a named action ([`actions`]) with typed arguments; write actions are
//! idempotent on their key and audited. The data is generated deterministically ([`seed`]) or
//! imported from τ2-bench's retail `db.json`. It is also the reference for writing a connector to
//! a real backend: implement [`frontline_domain::ActionBackend`].

pub mod actions;
pub mod model;
pub mod rules;
pub mod seed;

use model::{Order, Product, Subscription, User};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Everything that can go wrong opening or loading the shop.
#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    /// A database error (opening the database).
    #[error("shop database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A database error (a statement).
    #[error("shop database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A schema migration failed.
    #[error("shop database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A data file or stored document is not in the expected shape.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// Which file or record.
        what: String,
        /// What is wrong (with the JSON path).
        reason: String,
    },
}

/// The whole shop as one document: τ2-bench's `db.json` shape plus subscriptions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShopData {
    /// Customers by user id.
    pub users: BTreeMap<String, User>,
    /// Products by product id.
    pub products: BTreeMap<String, Product>,
    /// Orders by order id.
    pub orders: BTreeMap<String, Order>,
    /// Subscriptions by id.
    #[serde(default)]
    pub subscriptions: BTreeMap<String, Subscription>,
}

impl ShopData {
    /// Read a τ2-bench retail `db.json` (or a file in the same shape).
    pub fn from_json_file(path: &Path) -> Result<ShopData, ShopError> {
        let raw = std::fs::read(path).map_err(|source| ShopError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&raw);
        serde_path_to_error::deserialize(de).map_err(|e| ShopError::Malformed {
            what: path.display().to_string(),
            reason: format!("at {}: {}", e.path(), e.inner()),
        })
    }
}

/// Counts of what the shop holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ShopCounts {
    /// Customers.
    pub users: i64,
    /// Products.
    pub products: i64,
    /// Orders.
    pub orders: i64,
    /// Subscriptions.
    pub subscriptions: i64,
}

/// A handle on the shop's database; cheap to clone.
///
/// Statements run on the calling thread through rusqlite, on one connection behind an async
/// mutex: a look-up is microseconds on a local file, less than handing it to a driver thread
/// and back (as the store does; see ARCHITECTURE.md, deviation 27).
#[derive(Clone, Debug)]
pub struct Shop {
    conn: Arc<Mutex<Connection>>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Shop {
    /// Open (creating if needed) the shop database at `path`.
    pub async fn open(path: &Path) -> Result<Shop, ShopError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| ShopError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true);
        // sqlx keeps the schema's history; the statements then run through rusqlite on one
        // connection (writes are short transactions and SQLite serialises them anyway).
        let migrations = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let migrated = MIGRATOR.run(&migrations).await;
        migrations.close().await;
        migrated?;
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
        )?;
        Ok(Shop {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The connection, for statements run now on this thread.
    pub(crate) async fn connection(&self) -> tokio::sync::MutexGuard<'_, Connection> {
        self.conn.lock().await
    }

    /// How many records of each kind the shop holds.
    pub async fn counts(&self) -> Result<ShopCounts, ShopError> {
        let conn = self.connection().await;
        let count = |table: &'static str| {
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        };
        Ok(ShopCounts {
            users: count("shop_users")?,
            products: count("shop_products")?,
            orders: count("shop_orders")?,
            subscriptions: count("shop_subscriptions")?,
        })
    }

    /// Replace the shop's whole content with `data` (one transaction).
    pub async fn load(&self, data: &ShopData) -> Result<(), ShopError> {
        let mut conn = self.connection().await;
        let tx = conn.transaction()?;
        for table in [
            "shop_items",
            "shop_products",
            "shop_orders",
            "shop_users",
            "shop_subscriptions",
            "shop_audit",
        ] {
            tx.execute(&format!("DELETE FROM {table}"), [])?;
        }
        for product in data.products.values() {
            put_product(&tx, product)?;
        }
        for user in data.users.values() {
            put_user(&tx, user)?;
        }
        for order in data.orders.values() {
            put_order(&tx, order)?;
        }
        for subscription in data.subscriptions.values() {
            put_subscription(&tx, subscription)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Load the generated demo data if the shop is empty; returns whether it seeded.
    pub async fn seed_if_empty(&self, options: &seed::SeedOptions) -> Result<bool, ShopError> {
        if self.counts().await?.users > 0 {
            return Ok(false);
        }
        self.load(&seed::generate(options)).await?;
        Ok(true)
    }

    /// Everything in the shop, as one document.
    pub async fn export(&self) -> Result<ShopData, ShopError> {
        let conn = self.connection().await;
        Ok(ShopData {
            users: all_docs(&conn, "shop_users", |u: &User| u.user_id.clone())?,
            products: all_docs(&conn, "shop_products", |p: &Product| p.product_id.clone())?,
            orders: all_docs(&conn, "shop_orders", |o: &Order| o.order_id.clone())?,
            subscriptions: all_docs(&conn, "shop_subscriptions", |s: &Subscription| {
                s.subscription_id.clone()
            })?,
        })
    }
}

fn all_docs<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    table: &'static str,
    key: impl Fn(&T) -> String,
) -> Result<BTreeMap<String, T>, ShopError> {
    let docs: Vec<String> = conn
        .prepare(&format!("SELECT doc FROM {table}"))?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    docs.iter()
        .map(|raw| {
            let doc: T = decode_doc(table, raw)?;
            Ok((key(&doc), doc))
        })
        .collect()
}

pub(crate) fn decode_doc<T: serde::de::DeserializeOwned>(
    table: &str,
    raw: &str,
) -> Result<T, ShopError> {
    serde_json::from_str(raw).map_err(|e| ShopError::Malformed {
        what: format!("a stored {table} record"),
        reason: e.to_string(),
    })
}

fn encode<T: Serialize>(doc: &T) -> String {
    serde_json::to_string(doc).expect("shop model serialises")
}

pub(crate) fn put_user(conn: &Connection, u: &User) -> Result<(), ShopError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO shop_users (user_id, email, phone, first_name, last_name, zip, doc) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        u.user_id,
        u.email.to_lowercase(),
        u.phone,
        u.name.first_name.to_lowercase(),
        u.name.last_name.to_lowercase(),
        u.address.zip,
        encode(u),
    ])?;
    Ok(())
}

fn put_product(conn: &Connection, p: &Product) -> Result<(), ShopError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO shop_products (product_id, name, doc) VALUES (?, ?, ?)",
    )?
    .execute(params![p.product_id, p.name, encode(p)])?;
    let mut item = conn
        .prepare_cached("INSERT OR REPLACE INTO shop_items (item_id, product_id) VALUES (?, ?)")?;
    for item_id in p.variants.keys() {
        item.execute(params![item_id, p.product_id])?;
    }
    Ok(())
}

pub(crate) fn put_order(conn: &Connection, o: &Order) -> Result<(), ShopError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO shop_orders (order_id, user_id, status, doc) VALUES (?, ?, ?, ?)",
    )?
    .execute(params![o.order_id, o.user_id, o.status.as_str(), encode(o)])?;
    Ok(())
}

pub(crate) fn put_subscription(conn: &Connection, s: &Subscription) -> Result<(), ShopError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO shop_subscriptions (subscription_id, user_id, doc) VALUES (?, ?, ?)",
    )?
    .execute(params![s.subscription_id, s.user_id, encode(s)])?;
    Ok(())
}
