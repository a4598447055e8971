//! `/api/v1/users`: people, for admins. `GET` lists everyone with their
//! role, whether they are active and when they last signed in; `PATCH
//! /users/{id}` with `{"role": …, "active": …}` changes either; `POST
//! /users/{id}/reset-link` makes a one-time link to set their password;
//! `DELETE /users/{id}` deletes a deactivated account (204).

use app::model::{NewInvitation, Person, PersonChange};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    routing::{get, patch, post},
    Json, Router,
};

use super::{body, AuthUser};
use crate::auth::{invitations, people, policy::Op};
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list))
        .route("/users/{id}", patch(change).delete(delete))
        .route("/users/{id}/reset-link", post(reset_link))
}

async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Person>>, HttpError> {
    user.allow(Op::ManageUsers)?;
    Ok(Json(people::list(&state.db).await?))
}

async fn change(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    payload: Result<Json<PersonChange>, JsonRejection>,
) -> Result<Json<Person>, HttpError> {
    let me = user.allow(Op::ManageUsers)?;
    let input = body(payload)?;
    Ok(Json(
        people::change(&state.auth, &state.db, me, &id, input).await?,
    ))
}

/// Deletes a deactivated account (the rule is `people::delete`'s).
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, HttpError> {
    let me = user.allow(Op::ManageUsers)?;
    people::delete(&state.db, me, &id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A one-time link that sets the person's password (for a day); their
/// sessions end when it is used.
async fn reset_link(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<(axum::http::StatusCode, Json<NewInvitation>), HttpError> {
    let me = user.allow(Op::ManageUsers)?;
    state.auth.allow_passwords()?;
    let public = state.github.public_url().await;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(invitations::create_reset(&state.db, me, &id, &public).await?),
    ))
}
