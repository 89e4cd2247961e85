//! A fresh, migrated PostgreSQL database per test, dropped when the handle
//! drops. Names carry their creation time, so a run sweeps databases that
//! crashed runs left behind (older than an hour) without touching the ones
//! parallel tests are using.

use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};

use musicmeta_shared::config::DatabaseConfig;
use musicmeta_shared::db;
use tokio_postgres::NoTls;

const PREFIX: &str = "mmt_";
const STALE_AFTER_SECS: u64 = 3600;

/// Server to create test databases on; override with `MUSICMETA_TEST_PG`.
pub fn admin_url() -> String {
    std::env::var("MUSICMETA_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[derive(Debug)]
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    /// The server's admin URL (`…/postgres`) it was created through.
    server: String,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn admin(server: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(server, NoTls)
        .await
        .expect("connect to PostgreSQL as admin (is it running? see scripts/test)");
    tokio::spawn(connection);
    client
}

impl TestDatabase {
    /// An empty database; see [`TestDatabase::migrated`] for the usual one.
    pub async fn empty() -> Self {
        static SWEEP: Once = Once::new();
        let server = admin_url();
        let mut sweep = false;
        SWEEP.call_once(|| sweep = true);
        if sweep {
            sweep_stale(&admin(&server).await).await;
        }
        Self::empty_on(server).await
    }

    /// An empty database on the server whose admin URL is `server` (a
    /// test's own cluster).
    pub async fn empty_on(server: String) -> Self {
        let client = admin(&server).await;
        let name = format!("{PREFIX}{}_{}", now_secs(), uuid::Uuid::new_v4().simple());
        // Identifiers cannot be bound as parameters; `name` is ours, not input.
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let url = match server.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("MUSICMETA_TEST_PG must end with /<database>"),
        };
        Self { name, url, server }
    }

    pub async fn migrated() -> Self {
        Self::empty().await.migrate().await
    }

    /// A migrated database on `server` ([`TestDatabase::empty_on`]).
    pub async fn migrated_on(server: String) -> Self {
        Self::empty_on(server).await.migrate().await
    }

    async fn migrate(self) -> Self {
        let pool = db::build_pool(&self.config()).expect("pool");
        db::migrate::run(&pool)
            .await
            .expect("migrate test database");
        self
    }

    pub fn config(&self) -> DatabaseConfig {
        DatabaseConfig {
            max_connections: 8,
            timeout_ms: 2_000,
            ..DatabaseConfig::for_url(&self.url)
        }
    }

    /// A plain connection for assertions.
    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("connect to test database");
        tokio::spawn(connection);
        client
    }
}

/// Every table the cache writes, for whole-database comparisons.
pub const TABLES: &[&str] = &[
    "artist",
    "label",
    "release_group",
    "recording",
    "recording_isrc",
    "release",
    "release_label",
    "medium",
    "track",
    "artist_credit",
    "entity_alias",
    "entity_tag",
    "entity_url",
    "lookup_outcome",
    "fetch_request",
];

impl TestDatabase {
    /// Ends every session on this database but the caller's, as a
    /// PostgreSQL restart or failover does to a pool's idle connections;
    /// returns how many were ended.
    pub async fn terminate_sessions(&self) -> i64 {
        self.connect()
            .await
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .expect("terminate the service's sessions")
            .get(0)
    }

    /// How long from now the shared request budget is paused (negative when
    /// the pause is over), in seconds.
    pub async fn budget_pause_secs(&self) -> f64 {
        self.connect()
            .await
            .query_one(
                "SELECT extract(epoch FROM max(paused_until) - clock_timestamp())::float8 \
                 FROM rate_budget",
                &[],
            )
            .await
            .expect("read the shared pause")
            .get(0)
    }

    /// All rows of all cache tables as sorted JSON text, without the
    /// timestamps that a re-fetch legitimately moves.
    pub async fn snapshot(&self) -> Vec<String> {
        let client = self.connect().await;
        let mut rows = Vec::new();
        for table in TABLES {
            let sql = format!(
                "SELECT (to_jsonb(t) - 'fetched_at' - 'recorded_at' - 'requested_at')::text \
                 FROM {table} t ORDER BY 1"
            );
            for row in client.query(&sql, &[]).await.expect("snapshot query") {
                rows.push(format!("{table}: {}", row.get::<_, String>(0)));
            }
        }
        rows
    }

    /// A database outage: no new connections, existing ones terminated.
    pub async fn cut_off(&self) {
        admin(&self.server)
            .await
            .batch_execute(&format!(
                "ALTER DATABASE {0} ALLOW_CONNECTIONS false; \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{0}';",
                self.name
            ))
            .await
            .expect("cut the database off");
    }

    /// Ends a [`TestDatabase::cut_off`].
    pub async fn reconnect(&self) {
        admin(&self.server)
            .await
            .batch_execute(&format!(
                "ALTER DATABASE {} ALLOW_CONNECTIONS true",
                self.name
            ))
            .await
            .expect("allow connections again");
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.connect()
            .await
            .query_one(sql, &[])
            .await
            .expect("count query")
            .get(0)
    }
}

async fn sweep_stale(client: &tokio_postgres::Client) {
    let rows = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'mmt\\_%'",
            &[],
        )
        .await
        .unwrap_or_default();
    for row in rows {
        let name: String = row.get(0);
        let created: u64 = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        if now_secs().saturating_sub(created) > STALE_AFTER_SECS {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs outside async; use a private runtime on its own thread.
        let (name, server) = (self.name.clone(), self.server.clone());
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok((client, connection)) = tokio_postgres::connect(&server, NoTls).await else {
                    return;
                };
                tokio::spawn(connection);
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}
