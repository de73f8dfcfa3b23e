//! Test support: a fresh store on every backend the machine offers.
//!
//! SQLite always (a file in a temporary folder); PostgreSQL when
//! `FRONTLINE_TEST_DATABASE_URL` is set, each test in a schema of its own so tests can run in
//! parallel against one database. CI sets the variable; a run without it says so on stderr.

use crate::{Backend, Store};

/// Name of the variable that points the tests at a PostgreSQL server.
pub const POSTGRES_URL_VAR: &str = "FRONTLINE_TEST_DATABASE_URL";

/// A store that cleans up after itself.
pub struct TestStore {
    /// The store under test.
    pub store: Store,
    /// `sqlite` or `postgres`, for assertion messages.
    pub label: &'static str,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, schema: String },
}

impl TestStore {
    /// The database URL this store was opened with (for a child process to share it).
    pub fn url(&self) -> String {
        match &self.cleanup {
            Cleanup::Sqlite(dir) => {
                format!("sqlite://{}", dir.path().join("frontline.db").display())
            }
            Cleanup::Postgres { admin_url, schema } => with_search_path(admin_url, schema),
        }
    }

    /// Drop what the test created (PostgreSQL: its schema; SQLite: the folder on drop).
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Cleanup::Postgres { admin_url, schema } = &self.cleanup {
            if let Ok(admin) = Store::connect_raw(admin_url).await {
                let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&admin)
                    .await;
                admin.close().await;
            }
        }
    }
}

/// A fresh SQLite store in a temporary folder.
pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}", dir.path().join("frontline.db").display());
    let store = Store::connect(&url).await.expect("open SQLite store");
    TestStore {
        store,
        label: "sqlite",
        cleanup: Cleanup::Sqlite(dir),
    }
}

/// A fresh PostgreSQL store in its own schema, if `FRONTLINE_TEST_DATABASE_URL` is set.
pub async fn postgres() -> Option<TestStore> {
    let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
        eprintln!("{POSTGRES_URL_VAR} is not set: PostgreSQL variant skipped");
        return None;
    };
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let admin = Store::connect_raw(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR}={admin_url}: cannot connect: {e}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .expect("create test schema");
    admin.close().await;
    let store = Store::connect(&with_search_path(&admin_url, &schema))
        .await
        .expect("open PostgreSQL store");
    assert_eq!(store.backend(), Backend::Postgres);
    Some(TestStore {
        store,
        label: "postgres",
        cleanup: Cleanup::Postgres { admin_url, schema },
    })
}

/// SQLite, plus PostgreSQL when configured.
pub async fn all_backends() -> Vec<TestStore> {
    let mut stores = vec![sqlite().await];
    stores.extend(postgres().await);
    stores
}

fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

impl Store {
    /// A bare pool without migrations, for test administration.
    async fn connect_raw(url: &str) -> Result<sqlx::AnyPool, sqlx::Error> {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
    }
}
