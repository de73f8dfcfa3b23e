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
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::collections::BTreeMap;
use std::path::Path;

/// Everything that can go wrong opening or loading the shop.
#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    /// A database error.
    #[error("shop database error: {0}")]
    Database(#[from] sqlx::Error),
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
#[derive(Clone, Debug)]
pub struct Shop {
    pool: SqlitePool,
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
        // One connection: writes are short transactions and SQLite serialises them anyway.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Shop { pool })
    }

    /// How many records of each kind the shop holds.
    pub async fn counts(&self) -> Result<ShopCounts, ShopError> {
        let count = |table: &'static str| async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&self.pool)
                .await
        };
        Ok(ShopCounts {
            users: count("shop_users").await?,
            products: count("shop_products").await?,
            orders: count("shop_orders").await?,
            subscriptions: count("shop_subscriptions").await?,
        })
    }

    /// Replace the shop's whole content with `data` (one transaction).
    pub async fn load(&self, data: &ShopData) -> Result<(), ShopError> {
        let mut tx = self.pool.begin().await?;
        for table in [
            "shop_items",
            "shop_products",
            "shop_orders",
            "shop_users",
            "shop_subscriptions",
            "shop_audit",
        ] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
        }
        for product in data.products.values() {
            put_product(&mut tx, product).await?;
        }
        for user in data.users.values() {
            put_user(&mut tx, user).await?;
        }
        for order in data.orders.values() {
            put_order(&mut tx, order).await?;
        }
        for subscription in data.subscriptions.values() {
            put_subscription(&mut tx, subscription).await?;
        }
        tx.commit().await?;
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
        let mut conn = self.pool.acquire().await?;
        Ok(ShopData {
            users: all_docs(&mut conn, "shop_users", |u: &User| u.user_id.clone()).await?,
            products: all_docs(&mut conn, "shop_products", |p: &Product| {
                p.product_id.clone()
            })
            .await?,
            orders: all_docs(&mut conn, "shop_orders", |o: &Order| o.order_id.clone()).await?,
            subscriptions: all_docs(&mut conn, "shop_subscriptions", |s: &Subscription| {
                s.subscription_id.clone()
            })
            .await?,
        })
    }
}

async fn all_docs<T: serde::de::DeserializeOwned>(
    conn: &mut SqliteConnection,
    table: &'static str,
    key: impl Fn(&T) -> String,
) -> Result<BTreeMap<String, T>, ShopError> {
    let docs: Vec<String> = sqlx::query_scalar(&format!("SELECT doc FROM {table}"))
        .fetch_all(&mut *conn)
        .await?;
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

pub(crate) async fn put_user(tx: &mut Transaction<'_, Sqlite>, u: &User) -> Result<(), ShopError> {
    sqlx::query(
        "INSERT OR REPLACE INTO shop_users (user_id, email, phone, first_name, last_name, zip, doc) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&u.user_id)
    .bind(u.email.to_lowercase())
    .bind(&u.phone)
    .bind(u.name.first_name.to_lowercase())
    .bind(u.name.last_name.to_lowercase())
    .bind(&u.address.zip)
    .bind(encode(u))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn put_product(tx: &mut Transaction<'_, Sqlite>, p: &Product) -> Result<(), ShopError> {
    sqlx::query("INSERT OR REPLACE INTO shop_products (product_id, name, doc) VALUES (?, ?, ?)")
        .bind(&p.product_id)
        .bind(&p.name)
        .bind(encode(p))
        .execute(&mut **tx)
        .await?;
    for item_id in p.variants.keys() {
        sqlx::query("INSERT OR REPLACE INTO shop_items (item_id, product_id) VALUES (?, ?)")
            .bind(item_id)
            .bind(&p.product_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) async fn put_order(
    tx: &mut Transaction<'_, Sqlite>,
    o: &Order,
) -> Result<(), ShopError> {
    sqlx::query(
        "INSERT OR REPLACE INTO shop_orders (order_id, user_id, status, doc) VALUES (?, ?, ?, ?)",
    )
    .bind(&o.order_id)
    .bind(&o.user_id)
    .bind(o.status.as_str())
    .bind(encode(o))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn put_subscription(
    tx: &mut Transaction<'_, Sqlite>,
    s: &Subscription,
) -> Result<(), ShopError> {
    sqlx::query(
        "INSERT OR REPLACE INTO shop_subscriptions (subscription_id, user_id, doc) VALUES (?, ?, ?)",
    )
    .bind(&s.subscription_id)
    .bind(&s.user_id)
    .bind(encode(s))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
