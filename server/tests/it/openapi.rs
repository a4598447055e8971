//! The OpenAPI document and the server agree: every documented operation
//! is routed (never 405, never the site's 404 page) and answers only the
//! statuses it documents, in JSON; the reference page renders it; bad input
//! the document rules out is refused. (schemathesis, run by `cargo xtask
//! test`, fuzzes the same document much harder.)

use serde_json::{json, Value};

use crate::common::*;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

#[tokio::test]
async fn every_documented_operation_is_served_as_documented() {
    let t = start().await;
    let token = t.setup_admin().await;
    // An API key: `POST /auth/logout` must not end the test's credential.
    let (_, key) = api_key(&t, &token, "openapi").await;

    let res = t
        .http
        .get(t.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = doc["paths"].as_object().unwrap();
    let text = doc.to_string();
    assert!(text.contains("\"format\":\"uint32\""));
    assert!(!text.contains("u-int"), "utoipa's format names are renamed");

    let mut operations = 0;
    for (path, item) in paths {
        assert!(path.starts_with("/api/v1/"), "{path}");
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            operations += 1;
            let documented: Vec<&str> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let public = op["security"] == json!([{}]);
            if !public {
                assert!(
                    documented.contains(&"401"),
                    "{method} {path}: {documented:?}"
                );
            }
            assert!(documented.contains(&"500"), "{method} {path}");
            // A nil id: nothing is found, changed or deleted.
            let url = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
            let body = op.get("requestBody").map(|_| json!({}));
            let (status, answer) = send(&t, &key, &method.to_uppercase(), &url, body).await;
            assert!(
                documented.contains(&status.to_string().as_str()),
                "{method} {path} answered {status}, documented {documented:?}: {answer}"
            );
            if status >= 400 {
                assert!(
                    answer["error"].is_string() && answer["message"].is_string(),
                    "{method} {path} {status}: {answer}"
                );
            }
        }
    }
    assert!(operations >= 70, "only {operations} operations documented");

    // Undocumented methods on documented paths are 405, not the site.
    let (status, _) = send(&t, &key, "PUT", "/api/v1/executions", None).await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn the_reference_page_renders_the_document() {
    let t = start().await;
    let res = t
        .http
        .get(t.url("/api/v1/reference"))
        .header("cookie", "yagura_theme=dark")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("Yagura REST API"), "{html:.400}");
    assert!(html.contains("class=\"dark\""));
    assert!(html.contains("/api/v1/executions/{id}/log"));
    assert!(html.contains("id=\"schema-Execution\""));
    assert!(html.contains("href=\"#schema-Execution\""));
    assert!(html.contains("href=\"/api/v1/openapi.json\""));
    assert!(!html.contains("<script"));
}

#[tokio::test]
async fn input_the_document_rules_out_is_refused() {
    let t = start().await;
    let token = t.setup_admin().await;
    let (status, me) = send(&t, &token, "GET", "/api/v1/me", None).await;
    assert_eq!(status, 200);
    let me = me["id"].as_str().unwrap().to_string();

    // serde would read a struct from an array of its fields.
    let (status, body) = send(
        &t,
        &token,
        "PATCH",
        &format!("/api/v1/users/{me}"),
        Some(json!([null, null])),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["message"], "the body must be a JSON object");
    // Nested too: a workflow's budget given as an array of its fields.
    let (status, agents) = send(&t, &token, "GET", "/api/v1/agents", None).await;
    assert_eq!(status, 200);
    let steps = json!([{"key": "one", "agentId": agents[0]["id"], "prompt": "hi"}]);
    let flow = json!({"name": "Shape", "definition": {"stages": [{"name": "A", "steps": steps}]}});
    let (status, body) = send(&t, &token, "POST", "/api/v1/workflows", Some(flow.clone())).await;
    assert_eq!(status, 201, "{body}");
    let mut bad = flow.clone();
    bad["budget"] = json!([null, null]);
    let path = format!("/api/v1/workflows/{}", body["id"].as_str().unwrap());
    let (status, answer) = send(&t, &token, "PUT", &path, Some(bad)).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["message"], "budget must be a JSON object");

    for path in [
        "/api/v1/executions?limit=0",
        "/api/v1/executions?limit=201",
        "/api/v1/executions?agentId=nope",
        "/api/v1/issues?limit=5000",
        "/api/v1/workflow-runs?workflowId=nope",
        "/api/v1/audit?limit=2147483648",
        "/api/v1/executions?offset=-1",
    ] {
        let (status, body) = send(&t, &token, "GET", path, None).await;
        assert_eq!(status, 422, "{path}: {body}");
        assert_eq!(body["error"], "invalid", "{path}");
    }
    // An empty filter (as a form sends it) filters nothing.
    for path in [
        "/api/v1/executions?agentId=&issueId=",
        "/api/v1/workflow-runs?workflowId=",
        "/api/v1/issues?repositoryId=",
    ] {
        let (status, body) = send(&t, &token, "GET", path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}

#[tokio::test]
async fn a_compressed_log_download_ends_cleanly() {
    let t = start().await;
    let token = t.setup_admin().await;
    let (run, lines) = run_to_completion(
        &t,
        &token,
        "printer",
        &["sh", "-c", "for i in $(seq 1 50); do echo line $i; done"],
        json!({}),
    )
    .await;
    assert_eq!(lines.len(), 50);
    // The stream used to be polled once more after its end by the
    // compression layer, which panicked and cut the response.
    let res = t
        .http
        .get(t.url(&format!("/api/v1/executions/{run}/log")))
        .bearer_auth(&token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let bytes = res.bytes().await.expect("the whole body arrives");
    assert!(bytes.len() > 20);
}
