//! The REST API described as OpenAPI 3.1. The document is generated from the
//! handlers themselves: each one carries a `#[utoipa::path]` annotation, and
//! `utoipa_axum::routes!` registers the route and its description together,
//! so a route cannot exist without being described (or the reverse).
//!
//! Served at `/api/v1/openapi.json`, and as a page at `/api/v1/reference`.
//! Errors every operation can answer (401, 403, 404, 422, 500) are added
//! here once instead of on each handler; handlers list the rest (409, 429,
//! 502, ...).

use std::sync::LazyLock;

use axum::response::IntoResponse;
use utoipa::openapi::{
    path::{Operation, ParameterIn},
    security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder,
};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Yagura REST API",
        description = "Drive coding agents and workflows, and read what they did.\n\n\
            JSON in and out, camelCase fields. Authenticate with \
            `Authorization: Bearer <token>`: a session token from `POST /api/v1/auth/login`, \
            or an API key made on the API keys page. Errors are \
            `{\"error\": code, \"message\": text}` with the HTTP status saying which kind.\n\n\
            Live output is not polled here: the WebSocket at `/ws` streams every run's events \
            (see the README); `GET /api/v1/executions/{id}/events?after=N` reads the same \
            events from the store.",
        license(name = "MIT OR Apache-2.0"),
    ),
    modifiers(&Security),
    components(schemas(ErrorBody)),
    security(("bearer" = []), ("apiKey" = [])),
    tags(
        (name = "auth", description = "Signing in and the first account"),
        (name = "agents", description = "Agent definitions: the commands Yagura runs"),
        (name = "executions", description = "Runs of agents: start, follow, stop"),
        (name = "changes", description = "What a run changed in its repository"),
        (name = "issues", description = "Repositories, issues and the board"),
        (name = "workflows", description = "Workflows and their runs"),
        (name = "github", description = "Connected GitHub repositories"),
        (name = "notifications", description = "Your notifications"),
        (name = "runners", description = "Remote runners and their tokens"),
        (name = "team", description = "People, invitations, sessions and API keys"),
        (name = "audit", description = "The audit log and insights"),
    )
)]
pub struct ApiDoc;

/// An error, as every operation reports it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// A short, stable code: `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `invalid`, `invalid_credentials`, `too_many_attempts`,
    /// `internal`, `upstream`.
    #[schema(example = "not_found")]
    error: String,
    /// What went wrong, for people.
    #[schema(example = "not found")]
    message: String,
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session token (POST /api/v1/auth/login) or an API key",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key",
            ))),
        );
    }
}

struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, doc: &mut Document) {
        for (path, item) in doc.paths.paths.iter_mut() {
            let has_id = path.contains('{');
            for op in operations(item) {
                add_common_errors(op, has_id);
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn add_common_errors(op: &mut Operation, has_id: bool) {
    // `security(())` on a handler: it needs no credentials.
    let public = op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| r == &Default::default()));
    let takes_input = op.request_body.is_some()
        || op.parameters.as_ref().is_some_and(|p| {
            p.iter()
                .any(|p| !matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Path)))
        });
    let mut add = |status: &str, text: &str| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(text));
    };
    if !public {
        add("401", "No valid credentials");
        add("403", "Your role may not do this");
    }
    if has_id {
        add("404", "No such resource (or the id is malformed)");
    }
    if takes_input {
        add("422", "The input is invalid; the message says why");
    }
    add("500", "Internal error; the server log has the cause");
}

fn error_response(text: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(text)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

/// The document, built once from the routers.
pub fn document() -> &'static Document {
    static DOC: LazyLock<Document> = LazyLock::new(|| {
        let mut doc = super::described().into_openapi();
        CommonErrors.modify(&mut doc);
        doc
    });
    &DOC
}

/// utoipa names unsigned integers' formats `u-int32`, `u-int64`; the
/// names tools know are `uint32`, `uint64`. (Written into the JSON: utoipa
/// reads `uint32` back as its own `u-int32`.)
pub fn format_name(format: &str) -> String {
    match format.strip_prefix("u-int") {
        Some(bits) => format!("uint{bits}"),
        None => format.to_string(),
    }
}

fn unsigned_formats(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(f)) = map.get_mut("format") {
                *f = format_name(f);
            }
            map.values_mut().for_each(unsigned_formats);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(unsigned_formats),
        _ => {}
    }
}

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> axum::response::Response {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        let mut value = serde_json::to_value(document()).expect("the OpenAPI document serialises");
        unsigned_formats(&mut value);
        serde_json::to_string_pretty(&value).expect("JSON serialises")
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        JSON.clone(),
    )
        .into_response()
}
