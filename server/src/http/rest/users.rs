//! `/api/v1/users`: people, for admins. `GET` lists everyone with their
//! role, whether they are active and when they last signed in; `PATCH
//! /users/{id}` with `{"role": …, "active": …}` changes either.

use app::model::{Person, PersonChange};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    routing::{get, patch},
    Json, Router,
};

use super::{body, AuthUser};
use crate::auth::{people, policy::Op};
use crate::{http::error::HttpError, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list))
        .route("/users/{id}", patch(change))
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
