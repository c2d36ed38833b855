//! Opening the database: a Cinder database of this chain, migrated in order.

use rusqlite::{Connection, OptionalExtension, params};

/// `PRAGMA application_id` of a Cinder database ("CNDR").
pub const APPLICATION_ID: i32 = 0x434e_4452;

/// The migrations in `migrations/`, in order; only ever add to the end.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "chain", include_str!("../../migrations/0001_chain.sql")),
    (
        2,
        "mempool",
        include_str!("../../migrations/0002_mempool.sql"),
    ),
    (
        3,
        "invalid_blocks",
        include_str!("../../migrations/0003_invalid_blocks.sql"),
    ),
    (4, "peers", include_str!("../../migrations/0004_peers.sql")),
    (
        5,
        "blocks_by_rowid",
        include_str!("../../migrations/0005_blocks_by_rowid.sql"),
    ),
    (
        6,
        "side_blocks",
        include_str!("../../migrations/0006_side_blocks.sql"),
    ),
    (
        7,
        "outputs_spent_by",
        include_str!("../../migrations/0007_outputs_spent_by.sql"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{0} is not a Cinder database (refusing to touch it)")]
    Foreign(String),
    #[error(
        "{path} was written by a newer Cinder (schema {found}, this binary knows up to {known}); upgrade full-node"
    )]
    Newer {
        path: String,
        found: i64,
        known: i64,
    },
    /// Not a `#[source]`: its text is the whole message (a chain printed
    /// with its sources would say the same thing three times).
    #[error("database error: {}", crate::state::sqlite_message(.0))]
    Sqlite(rusqlite::Error),
}

/// Sets the connection options every connection uses.
pub fn configure(conn: &mut Connection) -> rusqlite::Result<()> {
    // A writer that reads first and then writes must hold the write lock
    // from its first statement: a deferred transaction's upgrade fails at
    // once with `database is locked` when another connection committed in
    // between, whatever the busy timeout (API.md: no 5xx for valid input).
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Checks that `conn` is a Cinder database (or a new, empty file) and
/// applies the migrations it lacks, each in its own transaction.
pub fn migrate(conn: &mut Connection, path: &str) -> Result<(), SchemaError> {
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if app_id != APPLICATION_ID {
        if app_id != 0 || tables != 0 {
            return Err(SchemaError::Foreign(path.to_string()));
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "application_id", APPLICATION_ID)?;
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        )?;
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let current: i64 = conn
        .query_row("SELECT max(version) FROM schema_migrations", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten()
        .unwrap_or(0);
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > known {
        return Err(SchemaError::Newer {
            path: path.to_string(),
            found: current,
            known,
        });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, strftime('%s','now'))",
            params![version, name],
        )?;
        tx.commit()?;
    }
    Ok(())
}

impl From<rusqlite::Error> for SchemaError {
    fn from(e: rusqlite::Error) -> Self {
        SchemaError::Sqlite(e)
    }
}
