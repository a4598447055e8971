//! Opening a PostgreSQL store (`DATABASE_URL=postgres://…`).
//!
//! The schema is `migrations/postgres/`: the same tables and columns as the
//! SQLite files in `migrations/`, with PostgreSQL's types where the two
//! differ (`BIGINT` for every integer, an identity column for the audit
//! log's id).

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::ConnectOptions;

use super::Db;

/// Applied migrations this build does not know are allowed: during a
/// rolling upgrade, a replica of the previous version may restart after a
/// newer one migrated (migrations only add, so the old code still works).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("../migrations/postgres")
};

/// Connects, and applies pending migrations. Several servers may start at
/// once on one database: sqlx takes an advisory lock around migrating.
pub async fn open(url: &str) -> anyhow::Result<Db> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| format!("invalid database URL {}", redacted(url)))?
        .application_name("yagura")
        .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(1));
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {}", redacted(url)))?;
    MIGRATOR
        .run(&pool)
        .await
        .context("cannot apply database migrations")?;
    Ok(Db::Postgres(pool))
}

/// The URL without its password, for messages.
pub fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            super::redacted("postgres://app:s3cret@db:5432/yagura"),
            "postgres://app:***@db:5432/yagura"
        );
        assert_eq!(
            super::redacted("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
    }
}
