//! The store. THE ONLY PLACE WITH SQL: one file per table family, plain
//! functions, bound parameters, SQL that runs on SQLite and PostgreSQL
//! (`$1` placeholders, text UUIDs, integer timestamps).

pub mod agents;
pub mod api_keys;
pub mod audit;
pub mod deliveries;
pub mod event_batches;
pub mod executions;
pub mod insights;
pub mod invitations;
pub mod issues;
pub mod notifications;
pub mod people;
pub mod replicas;
pub mod repositories;
pub mod runners;
pub mod sessions;
pub mod settings;
pub mod sso;
pub mod tasks;
pub mod usage;
pub mod users;
pub mod work;
pub mod workflows;

mod json;
mod postgres;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::ConnectOptions;

use crate::config::StoreLocation;

pub use json::Json;

/// The connection pool every query goes through: SQLite (the default, a
/// file in the data directory) or PostgreSQL (`DATABASE_URL=postgres://…`).
/// Each store function is written once and compiled for both (see
/// [`on_db!`](crate::on_db)).
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// A transaction on either back end, begun with [`Db::begin`].
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs `$body` with `$pool` bound to the concrete pool of `$db` (a
/// `&Db`): the body is compiled once per back end, so the same SQL and the
/// same row types serve both.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Like [`on_db!`] for a `&mut Tx`: `$tx` is bound to the concrete
/// `&mut sqlx::Transaction` (use `&mut **$tx` as the executor).
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite($conn) => $body,
            $crate::db::Tx::Postgres($conn) => $body,
        }
    };
}

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Db {
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn begin(&self) -> sqlx::Result<Tx> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

impl Tx {
    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }

    pub async fn rollback(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.rollback().await,
            Tx::Postgres(tx) => tx.rollback().await,
        }
    }
}

/// An opened store: the data directory and the migrated database.
#[derive(Clone)]
pub struct Store {
    pub db: Db,
    pub data_dir: std::path::PathBuf,
}

impl Store {
    /// Creates the data directory (mode 0700) and the database if needed,
    /// and applies pending migrations.
    pub async fn open(location: &StoreLocation) -> anyhow::Result<Store> {
        create_private_dir(&location.data_dir)?;
        let url = match &location.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", location.data_dir.join("yagura.db").display()),
        };
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            postgres::open(&url).await?
        } else if url.starts_with("sqlite:") {
            open_sqlite(&url).await?
        } else {
            bail!("unsupported database URL {url:?}: expected sqlite://PATH or postgres://…");
        };
        // Absolute and without symlinks: working directories and git
        // worktrees are handed to processes that run elsewhere than the
        // server's current directory, and compared with what git lists.
        let data_dir = std::fs::canonicalize(&location.data_dir).with_context(|| {
            format!(
                "cannot resolve the data directory {}",
                location.data_dir.display()
            )
        })?;
        Ok(Store { db, data_dir })
    }
}

async fn open_sqlite(url: &str) -> anyhow::Result<Db> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("invalid database URL {url:?}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
        // A batch INSERT is thousands of characters; a slow one (a
        // full disk retrying) must not print it on every attempt.
        .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(1));
    private_file(options.get_filename())?;
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .with_context(|| format!("cannot open the database at {url}"))?;
    SQLITE_MIGRATOR
        .run(&pool)
        .await
        .context("cannot apply database migrations")?;
    Ok(Db::Sqlite(pool))
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        // An existing data dir others can enter is made private.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), "the data directory was open to others; setting mode 0700");
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}

/// The database file is readable by its owner only: created so (SQLite
/// gives its `-wal` and `-shm` files the same mode), or tightened when an
/// earlier version left it to the umask.
fn private_file(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if path.as_os_str().is_empty() || path == Path::new(":memory:") {
            return Ok(());
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot make {} private", path.display()))?;
            }
            Ok(_) => {}
            Err(_) => {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// Rewrites the database file (drops freed pages, which may still hold
/// values since overwritten).
pub async fn vacuum(db: &Db) -> sqlx::Result<()> {
    on_db!(db, db => sqlx::query("VACUUM").execute(db).await.map(|_| ()))
}

/// Writes a consistent copy of the database to `to` (SQLite's `VACUUM
/// INTO`: one read transaction, so a running server keeps writing), mode
/// 0600. Refuses to overwrite.
pub async fn backup_into(db: &Db, to: &Path) -> anyhow::Result<()> {
    let Db::Sqlite(db) = db else {
        bail!("yagura backup copies a SQLite store; back up PostgreSQL with pg_dump (see docs/deploy.md)");
    };
    let target = to
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("{} is not a UTF-8 path", to.display()))?;
    // Made empty and private first (SQLite fills an empty file): never
    // readable by others, and an existing file is never overwritten.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(to).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            anyhow::anyhow!("{} exists already; choose a new file", to.display())
        }
        _ => anyhow::anyhow!("cannot create {}: {e}", to.display()),
    })?;
    if let Err(e) = sqlx::query("VACUUM INTO $1").bind(target).execute(db).await {
        let _ = std::fs::remove_file(to);
        return Err(e).with_context(|| format!("cannot write the backup to {}", to.display()));
    }
    Ok(())
}

/// SQLite's own check of the database file (`PRAGMA integrity_check`):
/// `["ok"]` when sound, else what it found.
pub async fn integrity_check(db: &Db) -> anyhow::Result<Vec<String>> {
    match db {
        Db::Sqlite(db) => Ok(sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(db)
            .await?),
        // PostgreSQL checks its own pages; that it answers is the check.
        Db::Postgres(db) => {
            sqlx::query("SELECT 1").execute(db).await?;
            Ok(vec!["ok".into()])
        }
    }
}

/// A statement built at run time with its arguments, to be run on either
/// back end (`statement.query().execute(&mut **tx)` inside [`on_tx!`]).
#[derive(Debug, Clone)]
pub struct Statement {
    sql: String,
    args: Vec<Arg>,
}

/// One argument of a [`Statement`].
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Int(i64),
}

impl Statement {
    pub fn new(sql: String) -> Statement {
        Statement {
            sql,
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: Arg) -> Statement {
        self.args.push(arg);
        self
    }

    pub fn query<'q, DB: sqlx::Database>(
        &'q self,
    ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
    where
        &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        let mut query = sqlx::query(&self.sql);
        for arg in &self.args {
            query = match arg {
                Arg::Text(text) => query.bind(text.as_str()),
                Arg::Int(n) => query.bind(*n),
            };
        }
        query
    }
}

/// Milliseconds since the Unix epoch, the store's timestamp format.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// True when `err` is a violated UNIQUE constraint (SQLite and PostgreSQL).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A migrated store in a temporary directory, for unit tests.
#[cfg(test)]
pub(crate) async fn test_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&StoreLocation {
        data_dir: dir.path().join("data"),
        database_url: None,
    })
    .await
    .expect("store opens");
    (dir, store)
}
