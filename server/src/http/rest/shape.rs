//! Request bodies have the shape the OpenAPI document gives them, where
//! serde would be more lenient: serde reads a struct from a JSON array of
//! its fields (`[null, null]` for `{"role", "active"}`), at the top or
//! nested, which no client means and the document does not allow. Bodies
//! are checked against the operation's schema for that one thing (an
//! object where the schema has an object with properties) before the
//! handler reads them; everything else is serde's to refuse.

use app::api::ApiError;
use axum::{
    extract::{MatchedPath, Request},
    http::{header, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::Value;
use utoipa::openapi::{
    schema::{ArrayItems, Schema},
    RefOr,
};

use crate::http::error::HttpError;

/// The largest request body (axum's default for `Json`).
const BODY_LIMIT: usize = 2 << 20;

/// How deep a body is followed (the API's bodies nest a few levels).
const MAX_DEPTH: usize = 16;

pub async fn objects_only(request: Request, next: Next) -> Response {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json);
    let Some(route) = request.extensions().get::<MatchedPath>().cloned() else {
        return next.run(request).await;
    };
    if !is_json {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return HttpError(ApiError::Invalid(format!(
                "the body is over {} MiB",
                BODY_LIMIT >> 20
            )))
            .into_response()
        }
    };
    // Unparseable JSON is left to the handler, which says where it broke.
    if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
        if let Some(field) = misplaced(route.as_str(), &method, &value) {
            let message = if field.is_empty() {
                "the body must be a JSON object".to_string()
            } else {
                format!("{field} must be a JSON object")
            };
            return HttpError(ApiError::Invalid(message)).into_response();
        }
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// `application/json`, or any `application/…+json`, as axum's `Json` reads them.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Where `value` has something else than an object that the operation's
/// body schema says is one: the field's path (`""` for the body itself).
fn misplaced(route: &str, method: &Method, value: &Value) -> Option<String> {
    let doc = super::openapi::document();
    let item = doc.paths.paths.get(route)?;
    let op = match *method {
        Method::POST => item.post.as_ref(),
        Method::PUT => item.put.as_ref(),
        Method::PATCH => item.patch.as_ref(),
        Method::DELETE => item.delete.as_ref(),
        _ => None,
    }?;
    let RefOr::T(body) = op.request_body.as_ref()? else {
        return None;
    };
    let RefOr::T(content) = body.content.get("application/json")? else {
        return None;
    };
    walk(content.schema.as_ref()?, value, String::new(), 0)
}

fn resolve(schema: &RefOr<Schema>) -> Option<&Schema> {
    match schema {
        RefOr::T(s) => Some(s),
        RefOr::Ref(r) => {
            let name = r.ref_location.strip_prefix("#/components/schemas/")?;
            let components = super::openapi::document().components.as_ref()?;
            match components.schemas.get(name)? {
                RefOr::T(s) => Some(s),
                RefOr::Ref(_) => None,
            }
        }
    }
}

fn walk(schema: &RefOr<Schema>, value: &Value, at: String, depth: usize) -> Option<String> {
    if depth > MAX_DEPTH {
        return None;
    }
    match resolve(schema)? {
        Schema::Object(o) if !o.properties.is_empty() => match value {
            Value::Object(fields) => fields.iter().find_map(|(name, v)| {
                let inner = o.properties.get(name)?;
                walk(inner, v, join(&at, name), depth + 1)
            }),
            Value::Null => None,
            _ => Some(at),
        },
        Schema::Array(a) => match (&a.items, value) {
            (ArrayItems::RefOrSchema(items), Value::Array(values)) => values
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(items, v, format!("{at}[{i}]"), depth + 1)),
            _ => None,
        },
        // `#[serde(flatten)]`: every part describes the same object.
        Schema::AllOf(all) => all
            .items
            .iter()
            .find_map(|s| walk(s, value, at.clone(), depth + 1)),
        // `Option<Struct>` is `oneOf [null, Struct]`: only the struct can
        // take an array. A union with an array or a scalar in it is left to
        // serde.
        Schema::OneOf(one) => {
            let mut objects = Vec::new();
            for s in &one.items {
                match resolve(s)? {
                    Schema::Object(o) if !o.properties.is_empty() => objects.push(s),
                    Schema::Object(o) if is_null(o) => {}
                    _ => return None,
                }
            }
            match (objects.as_slice(), value) {
                ([only], _) => walk(only, value, at, depth + 1),
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_null(o: &utoipa::openapi::schema::Object) -> bool {
    serde_json::to_value(&o.schema_type).is_ok_and(|t| t == "null")
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arrays_where_objects_belong_are_found() {
        let put = |v: Value| misplaced("/api/v1/workflows/{id}", &Method::PUT, &v);
        assert_eq!(put(json!([null, null])), Some(String::new()));
        assert_eq!(
            put(json!({"name": "x", "budget": [null, null]})),
            Some("budget".into())
        );
        assert_eq!(
            put(json!({"name": "x", "definition": {"stages": [{"name": "a", "steps": [[1]]}]}})),
            Some("definition.stages[0].steps[0]".into())
        );
        assert_eq!(
            put(json!({"name": "x", "definition": {"stages": []}, "budget": {}})),
            None
        );
        let patch = |v: Value| misplaced("/api/v1/users/{id}", &Method::PATCH, &v);
        assert_eq!(patch(json!([null, null])), Some(String::new()));
        assert_eq!(patch(json!({"active": false})), None);
        // Scalars and wrong types are serde's to refuse, with its message.
        assert_eq!(patch(json!({"active": "no"})), None);
        assert_eq!(
            misplaced("/api/v1/nowhere", &Method::POST, &json!([])),
            None
        );
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }
}
