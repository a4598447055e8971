//! Notifications: stored per user (read / unread) and pushed live to that
//! user's connections as seed 002's `notification` frame. Raised when an
//! execution or a workflow run ends and when an approval is needed.

use crate::error::OrInternal;
use std::sync::Arc;

use app::api::ApiError;
use app::model::{
    Notification, NotificationId, NotificationList, Severity, UserId, WorkspaceEvent,
};

use crate::db::{self, notifications as store, users, Db};
use crate::events::{Broadcast, Hub};

/// What to tell, before it is addressed to anyone.
#[derive(Clone, Debug)]
pub struct Notice {
    pub severity: Severity,
    pub title: String,
    pub message: String,
    pub action_url: Option<String>,
}

#[derive(Clone)]
pub struct Notifier {
    db: Db,
    hub: Arc<Hub>,
}

impl Notifier {
    pub fn new(db: Db, hub: Arc<Hub>) -> Self {
        Notifier { db, hub }
    }

    /// Stores the notice for each user, then pushes it to their connections.
    pub async fn notify(&self, user_ids: &[UserId], notice: &Notice) -> sqlx::Result<()> {
        for user in user_ids {
            let row = store::NotificationRow {
                id: uuid::Uuid::new_v4().to_string(),
                user_id: user.to_string(),
                severity: notice.severity,
                title: notice.title.clone(),
                message: notice.message.clone(),
                action_url: notice.action_url.clone(),
                created_at: db::now_ms(),
                read_at: None,
            };
            store::insert(&self.db, &row).await?;
            if let Ok(n) = to_notification(row) {
                self.hub
                    .publish_workspace(Broadcast::new(WorkspaceEvent::Notification {
                        user: *user,
                        notification: n,
                    }));
            }
        }
        Ok(())
    }

    /// Tells the user called `username`, if there is one.
    pub async fn notify_username(&self, username: &str, notice: &Notice) -> sqlx::Result<()> {
        if let Some(user) = users::find_by_username(&self.db, username).await? {
            if let Ok(id) = user.id.parse() {
                self.notify(&[UserId(id)], notice).await?;
            }
        }
        Ok(())
    }

    /// Tells everyone who may act (admins and members).
    pub async fn notify_members(&self, notice: &Notice) -> sqlx::Result<()> {
        let ids: Vec<UserId> = users::member_ids(&self.db)
            .await?
            .iter()
            .filter_map(|id| id.parse().ok().map(UserId))
            .collect();
        self.notify(&ids, notice).await
    }

    pub async fn list(&self, user: UserId) -> Result<NotificationList, ApiError> {
        let user = user.to_string();
        let rows = store::latest(&self.db, &user, 50)
            .await
            .or_internal("listing notifications")?;
        let unread = store::unread(&self.db, &user)
            .await
            .or_internal("counting notifications")?;
        Ok(NotificationList {
            items: rows
                .into_iter()
                .map(to_notification)
                .collect::<Result<_, _>>()?,
            unread: unread.max(0) as u64,
        })
    }

    /// Marks one notification (or all) read; another user's is not found.
    pub async fn mark_read(
        &self,
        user: UserId,
        id: Option<NotificationId>,
    ) -> Result<(), ApiError> {
        let user = user.to_string();
        let id = id.map(|i| i.to_string());
        if let Some(id) = &id {
            let mine = store::exists(&self.db, &user, id)
                .await
                .or_internal("reading a notification")?;
            if !mine {
                return Err(ApiError::NotFound);
            }
        }
        store::mark_read(&self.db, &user, id.as_deref(), db::now_ms())
            .await
            .or_internal("marking notifications read")?;
        Ok(())
    }
}

fn to_notification(row: store::NotificationRow) -> Result<Notification, ApiError> {
    Ok(Notification {
        id: row.id.parse().or_internal("stored notification id")?,
        severity: row.severity,
        title: row.title,
        message: row.message,
        action_url: row.action_url,
        created_at: row.created_at,
        read: row.read_at.is_some(),
    })
}
