//! People, for admins (`/api/v1/users`): roles take effect at once, a
//! deactivated user's sessions, API keys and sockets end within a second
//! and stay ended after reactivation, and there is always an active admin.

use std::time::Duration;

use app::model::Role;
use serde_json::{json, Value};

use crate::common::*;

async fn people(t: &TestServer, token: &str) -> reqwest::Response {
    t.http
        .get(t.url("/api/v1/users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn change(t: &TestServer, token: &str, id: &str, body: Value) -> reqwest::Response {
    t.http
        .patch(t.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn id_of(t: &TestServer, admin: &str, name: &str) -> String {
    let list: Vec<Value> = people(t, admin).await.json().await.unwrap();
    list.iter()
        .find(|p| p["username"] == name)
        .unwrap_or_else(|| panic!("{name} in {list:?}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn me_status(t: &TestServer, token: &str) -> u16 {
    t.http
        .get(t.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn only_admins_see_and_change_people() {
    let t = start().await;
    let admin = t.setup_admin().await;
    let member = user_with_role(&t, "mira", Role::Member).await;
    assert_eq!(people(&t, &member).await.status(), 403);
    let list: Vec<Value> = people(&t, &admin).await.json().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["role"], "admin");
    assert_eq!(list[1]["username"], "mira");
    assert_eq!(list[1]["active"], true);
    // Signing in is recorded.
    assert!(list[1]["lastSignInAt"].as_i64().is_some(), "{list:?}");
    let mira = id_of(&t, &admin, "mira").await;
    assert_eq!(
        change(&t, &member, &mira, json!({"role": "admin"}))
            .await
            .status(),
        403
    );
    // Unknown people, malformed ids and unknown fields are refused clearly.
    let nobody = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        change(&t, &admin, &nobody, json!({"active": false}))
            .await
            .status(),
        404
    );
    assert_eq!(
        change(&t, &admin, "not-an-id", json!({"active": false}))
            .await
            .status(),
        404
    );
    assert_eq!(
        change(&t, &admin, &mira, json!({"role": "owner"}))
            .await
            .status(),
        422
    );
    assert_eq!(
        change(&t, &admin, &mira, json!({"colour": "red"}))
            .await
            .status(),
        422
    );

    // A role change takes effect on the next request of the same session.
    let agent = create_agent(&t, &admin, "Echo", &["echo", "{prompt}"], json!({})).await;
    let res = change(&t, &admin, &mira, json!({"role": "viewer"})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["role"], "viewer");
    let res = t
        .http
        .post(t.url("/api/v1/executions"))
        .bearer_auth(&member)
        .json(&json!({"agentId": agent, "prompt": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn deactivating_someone_ends_their_sessions_keys_and_sockets_at_once() {
    let t = start().await;
    let admin = t.setup_admin().await;
    let member = user_with_role(&t, "mira", Role::Member).await;
    let (_, key) = api_key(&t, &member, "laptop").await;
    let mut ws = ws_connect(&t.ws_url(&format!("?token={member}"))).await;
    let _ = ws_recv(&mut ws, Duration::from_secs(5)).await;
    let mira = id_of(&t, &admin, "mira").await;

    let res = change(&t, &admin, &mira, json!({"active": false})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["active"], false);
    let code = ws_close_code(&mut ws, Duration::from_secs(1)).await;
    assert_eq!(code, 4001, "the socket closes as its credential ended");
    assert_eq!(me_status(&t, &member).await, 401);
    assert_eq!(me_status(&t, &key).await, 401);
    let res = t.login("mira", PASSWORD).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("deactivated"));

    // Reactivated, they sign in again; what ended stays ended.
    let res = change(&t, &admin, &mira, json!({"active": true})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["active"], true);
    assert_eq!(me_status(&t, &member).await, 401);
    assert_eq!(me_status(&t, &key).await, 401);
    let fresh = login_token(&t, "mira", PASSWORD).await;
    assert_eq!(me_status(&t, &fresh).await, 200);
}

#[tokio::test]
async fn the_last_active_admin_is_kept() {
    let t = start().await;
    let admin = t.setup_admin().await;
    let me = id_of(&t, &admin, "admin").await;
    for body in [json!({"role": "member"}), json!({"active": false})] {
        let res = change(&t, &admin, &me, body.clone()).await;
        assert_eq!(res.status(), 409, "{body}");
        assert!(res.text().await.unwrap().contains("last active admin"));
    }
    // With a second admin, the first may step down; the second is then
    // the last and is kept in turn.
    let second = user_with_role(&t, "root2", Role::Admin).await;
    let two = id_of(&t, &admin, "root2").await;
    assert_eq!(
        change(&t, &admin, &me, json!({"role": "member"}))
            .await
            .status(),
        200
    );
    assert_eq!(
        change(&t, &second, &two, json!({"active": false}))
            .await
            .status(),
        409
    );
    assert_eq!(me_status(&t, &admin).await, 200);
    let list: Vec<Value> = people(&t, &second).await.json().await.unwrap();
    assert_eq!(
        list.iter()
            .filter(|p| p["role"] == "admin" && p["active"] == true)
            .count(),
        1
    );
}

/// Deleting: only a deactivated account, never your own; what they made
/// stays under their name, which nobody can take; their keys, sessions
/// and notifications go, and they never sign in again.
#[tokio::test]
async fn a_deactivated_account_can_be_deleted_and_its_name_stays_taken() {
    let t = start().await;
    let admin = t.setup_admin().await;
    let member = user_with_role(&t, "mira", Role::Member).await;
    let (_, key) = api_key(&t, &member, "laptop").await;
    // Something they made.
    let agent = create_agent(&t, &admin, "Echo", &["echo", "{prompt}"], json!({})).await;
    let run = start_execution(&t, &member, &agent, "hi").await;
    let id = id_of(&t, &admin, "mira").await;
    let delete = |id: String| {
        let t = &t;
        let admin = admin.clone();
        async move {
            t.http
                .delete(t.url(&format!("/api/v1/users/{id}")))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
        }
    };
    // Still active: refused, with the way forward.
    let res = delete(id.clone()).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("deactivate mira first"));
    // Not by a member, and not yourself.
    let res = t
        .http
        .delete(t.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&member)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let me = id_of(&t, &admin, ADMIN).await;
    assert_eq!(delete(me).await.status(), 409);

    assert_eq!(
        change(&t, &admin, &id, json!({"active": false}))
            .await
            .status(),
        200
    );
    assert_eq!(delete(id.clone()).await.status(), 204);
    // Gone from the list; a second delete finds no one; cannot come back.
    let list: Vec<Value> = people(&t, &admin).await.json().await.unwrap();
    assert!(list.iter().all(|p| p["username"] != "mira"), "{list:?}");
    assert_eq!(delete(id.clone()).await.status(), 404);
    assert_eq!(
        change(&t, &admin, &id, json!({"active": true}))
            .await
            .status(),
        404
    );
    // Their credentials are gone for good.
    assert_eq!(me_status(&t, &member).await, 401);
    assert_eq!(me_status(&t, &key).await, 401);
    assert_eq!(t.login("mira", PASSWORD).await.status(), 401);
    let db = &t.server.state.db;
    for table in ["api_keys", "sessions", "notifications"] {
        let n: i64 =
            yagura::on_db!(db, pool => sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE user_id = $1"))
                .bind(&id)
                .fetch_one(pool)
                .await)
                .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    // What they made stays, under their name.
    let run = execution(&t, &admin, &run).await;
    assert_eq!(run["createdBy"], "mira", "{run}");
    // Nobody takes the name (an invitation's joiner is told so).
    let err = yagura::auth::accounts::create_user(db, "Mira", PASSWORD, Role::Member)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("taken"), "{err}");
    // The audit log has the deletion, by whom and of what.
    let audit: Value = t
        .http
        .get(t.url("/api/v1/audit?action=users"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(audit.to_string().contains(&id), "{audit}");
    t.shutdown().await;
}
