//! Seed 000's task list: executions filtered by status, tags and
//! creator, sorted by name or age.

use app::model::ExecutionStatus;
use sqlx::QueryBuilder;

use super::executions::{ExecutionRow, COLUMNS, FROM};
use super::Db;

/// Filters of seed 000's `task_list`.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    pub statuses: Vec<ExecutionStatus>,
    /// Every one of these tags.
    pub tags: Vec<String>,
    pub created_by: Option<String>,
    pub sort_by_name: bool,
    pub ascending: bool,
}

fn push_task_filter<'a, DB>(q: &mut QueryBuilder<'a, DB>, f: &'a TaskFilter)
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    ExecutionStatus: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push(" WHERE 1 = 1");
    if !f.statuses.is_empty() {
        q.push(" AND e.status IN (");
        let mut list = q.separated(", ");
        for s in &f.statuses {
            list.push_bind(*s);
        }
        q.push(")");
    }
    for tag in &f.tags {
        // Ignoring case on both back ends (SQLite's LIKE does, PostgreSQL's not).
        q.push(" AND lower(e.tags) LIKE ").push_bind(format!(
            "%{}%",
            serde_json::to_string(&tag.to_lowercase()).unwrap_or_default()
        ));
    }
    if let Some(c) = &f.created_by {
        q.push(" AND lower(e.created_by) = lower(")
            .push_bind(c)
            .push(")");
    }
}

pub async fn list_tasks(
    db: &Db,
    filter: &TaskFilter,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<ExecutionRow>> {
    crate::on_db!(db, db => {
        let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM {FROM}"));
        push_task_filter(&mut q, filter);
        q.push(if filter.sort_by_name {
            " ORDER BY coalesce(e.task_name, e.agent_name)"
        } else {
            " ORDER BY e.created_at"
        });
        q.push(if filter.ascending { " ASC" } else { " DESC" });
        q.push(", e.id LIMIT ")
            .push_bind(limit)
            .push(" OFFSET ")
            .push_bind(offset);
        q.build_query_as().fetch_all(db).await
    })
}

pub async fn count_tasks(db: &Db, filter: &TaskFilter) -> sqlx::Result<i64> {
    crate::on_db!(db, db => {
        let mut q = QueryBuilder::new("SELECT COUNT(*) FROM executions e");
        push_task_filter(&mut q, filter);
        q.build_query_scalar().fetch_one(db).await
    })
}
