//! The signed-in user's notifications.

use leptos::prelude::*;

use super::ApiError;
use crate::model::{NotificationId, NotificationList};

#[server(endpoint = "notifications/list")]
pub async fn list_notifications() -> Result<NotificationList, ApiError> {
    super::backend()?
        .list_notifications(&super::request_parts()?)
        .await
}

/// Marks one notification read, or all of them when `id` is absent.
#[server(endpoint = "notifications/read")]
pub async fn mark_notifications_read(id: Option<NotificationId>) -> Result<(), ApiError> {
    super::backend()?
        .mark_notifications_read(&super::request_parts()?, id)
        .await
}
