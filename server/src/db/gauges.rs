//! Figures read for `/metrics` at each scrape.

use super::Db;

/// Executions by status (`queued`, `running`, `completed`, …).
pub async fn executions_by_status(db: &Db) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as("SELECT status, COUNT(*) FROM executions GROUP BY status ORDER BY status")
        .fetch_all(db)
        .await
}
