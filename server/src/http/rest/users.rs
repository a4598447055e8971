//! `/api/v1/users`: people, for admins. `GET` lists everyone with their
//! role, whether they are active and when they last signed in; `PATCH
//! /users/{id}` with `{"role": …, "active": …}` changes either; `POST
//! /users/{id}/reset-link` makes a one-time link to set their password;
//! `DELETE /users/{id}` deletes a deactivated account (204).

use app::model::{NewInvitation, Person, PersonChange};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{body, openapi::ErrorBody, AuthUser, IdParam};
use crate::auth::{invitations, people, policy::Op};
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(change, delete))
        .routes(routes!(reset_link))
}

/// Everyone with an account (admins).
#[utoipa::path(get, path = "/users", tag = "team",
    responses((status = 200, body = Vec<Person>)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Person>>, HttpError> {
    user.allow(Op::ManageUsers)?;
    Ok(Json(people::list(&state.db).await?))
}

/// Changes a person's role or deactivates them (admins).
#[utoipa::path(patch, path = "/users/{id}", tag = "team", params(IdParam),
    request_body = PersonChange,
    responses((status = 200, body = Person),
        (status = 409, description = "That would leave no active admin", body = ErrorBody)))]
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

/// Deletes a deactivated account (admins).
#[utoipa::path(delete, path = "/users/{id}", tag = "team", params(IdParam),
    responses((status = 204, description = "Deleted"),
        (status = 409, description = "The account is active, or it is yours", body = ErrorBody)))]
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
#[utoipa::path(post, path = "/users/{id}/reset-link", tag = "team", params(IdParam),
    responses((status = 201, body = NewInvitation),
        (status = 409, description = "The account is deactivated, or password sign-in is off", body = ErrorBody)))]
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
