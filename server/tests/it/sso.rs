//! Single sign-on against a small OpenID provider started here on
//! 127.0.0.1: real discovery, a JWKS, RS256-signed ID tokens, PKCE
//! checked at its token endpoint. A browser's walk is played with plain
//! HTTP (redirects followed by hand, cookies carried by hand).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::model::Role;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{routing::get, routing::post, Form, Json, Router};
use base64::Engine;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{self, TestServer};

const CLIENT_ID: &str = "yagura-test";
const CLIENT_SECRET: &str = "s3cret with spaces & symbols";
const PROVIDER_KEY: &[u8] = include_bytes!("fixtures/oidc-provider.pem");
const FORGER_KEY: &[u8] = include_bytes!("fixtures/oidc-forger.pem");
const PROVIDER_JWK: &str = include_str!("fixtures/oidc-provider.jwk.json");

/// What the provider puts in (or does to) the next ID token.
#[derive(Clone, Debug, Default, PartialEq)]
enum Twist {
    #[default]
    None,
    WrongNonce,
    WrongAudience,
    WrongIssuer,
    Expired,
    Forged,
}

#[derive(Clone, Debug)]
struct Person {
    sub: String,
    email: String,
    username: String,
    groups: Vec<String>,
}

struct Grant {
    nonce: String,
    challenge: String,
    redirect_uri: String,
    person: Person,
}

#[derive(Clone)]
struct Provider {
    issuer: String,
    /// Who signs in at the next /authorize.
    person: Arc<Mutex<Person>>,
    twist: Arc<Mutex<Twist>>,
    codes: Arc<Mutex<HashMap<String, Grant>>>,
    /// Token requests that failed the provider's own checks.
    refused: Arc<Mutex<Vec<String>>>,
}

async fn discovery(State(p): State<Provider>) -> Json<Value> {
    Json(json!({
        "issuer": p.issuer,
        "authorization_endpoint": format!("{}/authorize", p.issuer),
        "token_endpoint": format!("{}/token", p.issuer),
        "jwks_uri": format!("{}/jwks", p.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks() -> Json<Value> {
    let key: Value = serde_json::from_str(PROVIDER_JWK).unwrap();
    Json(json!({ "keys": [key] }))
}

async fn authorize(
    State(p): State<Provider>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID
        || get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").len() != 43
        || get("nonce").is_empty()
        || !get("scope").split(' ').any(|s| s == "openid")
    {
        return (StatusCode::BAD_REQUEST, format!("bad authorize: {q:?}")).into_response();
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    p.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            nonce: get("nonce"),
            challenge: get("code_challenge"),
            redirect_uri: get("redirect_uri"),
            person: p.person.lock().unwrap().clone(),
        },
    );
    let state = form(&get("state"));
    Redirect::to(&format!(
        "{}?code={code}&state={state}",
        get("redirect_uri")
    ))
    .into_response()
}

fn form(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// One form-encoded value, decoded.
fn url_decode(s: &str) -> String {
    form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn token(
    State(p): State<Provider>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let refuse = |why: String| {
        p.refused.lock().unwrap().push(why.clone());
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": why})),
        )
            .into_response()
    };
    // client_secret_basic: each part form-encoded, then base64.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(a, b)| (url_decode(a), url_decode(b)))
        });
    if basic != Some((CLIENT_ID.to_string(), CLIENT_SECRET.to_string())) {
        return refuse(format!("client authentication: {basic:?}"));
    }
    if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return refuse("grant_type".into());
    }
    let Some(grant) = f
        .get("code")
        .and_then(|c| p.codes.lock().unwrap().remove(c))
    else {
        return refuse("unknown or used code".into());
    };
    if f.get("redirect_uri") != Some(&grant.redirect_uri) {
        return refuse("redirect_uri".into());
    }
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if challenge != grant.challenge {
        return refuse("PKCE verifier".into());
    }
    let twist = std::mem::take(&mut *p.twist.lock().unwrap());
    let now = jsonwebtoken::get_current_timestamp();
    let person = grant.person;
    let claims = json!({
        "iss": if twist == Twist::WrongIssuer { "http://127.0.0.1:1/elsewhere".to_string() } else { p.issuer.clone() },
        "sub": person.sub,
        "aud": if twist == Twist::WrongAudience { "someone-else" } else { CLIENT_ID },
        "exp": if twist == Twist::Expired { now - 600 } else { now + 300 },
        "iat": if twist == Twist::Expired { now - 900 } else { now },
        "nonce": if twist == Twist::WrongNonce { "not-the-nonce".to_string() } else { grant.nonce },
        "email": person.email,
        "email_verified": true,
        "preferred_username": person.username,
        "groups": person.groups,
    });
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("test-key-1".into());
    let key = if twist == Twist::Forged {
        FORGER_KEY
    } else {
        PROVIDER_KEY
    };
    let id_token =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(key).unwrap()).unwrap();
    Json(json!({
        "access_token": "opaque",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

async fn start_provider(person: Person) -> Provider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let provider = Provider {
        issuer,
        person: Arc::new(Mutex::new(person)),
        twist: Arc::default(),
        codes: Arc::default(),
        refused: Arc::default(),
    };
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    provider
}

fn ada() -> Person {
    Person {
        sub: "248289761001".into(),
        email: "ada@example.com".into(),
        username: "ada".into(),
        groups: vec!["engineering".into()],
    }
}

async fn yagura_with(provider: &Provider, adjust: impl FnOnce(&mut yagura::Config)) -> TestServer {
    let issuer = provider.issuer.clone();
    common::start_with(move |c| {
        c.sso = yagura::config::SsoConfig {
            issuer: Some(issuer),
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            name: "Test IdP".into(),
            scopes: vec!["profile".into(), "email".into()],
            new_user_role: None,
            groups_claim: "groups".into(),
            role_groups: vec![],
            email_domains: vec![],
        };
        adjust(c);
    })
    .await
}

fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_string())
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location in {}", res.status()))
        .to_string()
}

/// One browser's sign-in: start at Yagura (with `cookie`, a session, if
/// any), through the provider, back to the callback. Answers where the
/// callback sent the browser and the session cookie it set, if any.
async fn walk(t: &TestServer, start: &str, cookie: Option<&str>) -> (String, Option<String>) {
    let with = |r: reqwest::RequestBuilder| match cookie {
        Some(c) => r.header(header::COOKIE, format!("yagura_session={c}")),
        None => r,
    };
    // `POST /auth/sso/link` is a form on Your account; the rest are links.
    let res = match start.strip_prefix("POST ") {
        Some(path) => with(t.http.post(t.url(path))).send().await.unwrap(),
        None => with(t.http.get(t.url(start))).send().await.unwrap(),
    };
    assert!(res.status().is_redirection(), "start: {}", res.status());
    let to_provider = location(&res);
    let Some(flow) = set_cookie(&res, "yagura_sso") else {
        return (to_provider, None);
    };
    let res = t.http.get(&to_provider).send().await.unwrap();
    assert_eq!(
        res.status(),
        303,
        "authorize: {}",
        res.text().await.unwrap()
    );
    let back = location(&res);
    assert!(back.starts_with(&t.url("/auth/sso/callback")), "{back}");
    let session = cookie
        .map(|c| format!("; yagura_session={c}"))
        .unwrap_or_default();
    let res = t
        .http
        .get(&back)
        .header(header::COOKIE, format!("yagura_sso={flow}{session}"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "callback: {}", res.status());
    (location(&res), set_cookie(&res, "yagura_session"))
}

async fn me(t: &TestServer, session: &str) -> Value {
    let res = t
        .http
        .get(t.url("/api/v1/me"))
        .header(header::COOKIE, format!("yagura_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// An invited person joins with the provider, is signed in again by it
/// later, and an admin sees how; someone uninvited is refused; with a
/// default role, they get an account at once.
#[tokio::test]
async fn the_provider_signs_people_in_end_to_end() {
    let provider = start_provider(ada()).await;
    let t = yagura_with(&provider, |_| {}).await;
    let admin = t.setup_admin().await;
    // The login page offers it.
    let page = t
        .http
        .get(t.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with Test IdP"), "login page");

    // No account and no rule for newcomers: refused, nothing made.
    let (to, session) = walk(&t, "/auth/sso", None).await;
    assert_eq!(to, "/login?error=sso_no_account");
    assert!(session.is_none());

    // Invited: joins with the invitation's role, named by the provider.
    let res = t
        .http
        .post(t.url("/api/v1/invitations"))
        .bearer_auth(&admin)
        .json(&json!({"role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let url = res.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = url.rsplit('/').next().unwrap().to_string();
    let (to, session) = walk(&t, &format!("/auth/sso?invite={secret}"), None).await;
    assert_eq!(to, "/");
    let who = me(&t, &session.expect("signed in")).await;
    assert_eq!(who["username"], "ada");
    assert_eq!(who["role"], "member");
    // The link is used up.
    let (to, _) = walk(&t, &format!("/auth/sso?invite={secret}"), None).await;
    assert!(to.starts_with("/invite/"), "{to}");

    // Later: signed in by the provider alone, back where they asked.
    let (to, session) = walk(&t, "/auth/sso?next=/executions", None).await;
    assert_eq!(to, "/executions");
    assert_eq!(me(&t, &session.unwrap()).await["username"], "ada");
    // An offsite `next` is not followed.
    let (to, _) = walk(&t, "/auth/sso?next=//evil.example/x", None).await;
    assert_eq!(to, "/");

    // The People page shows how they sign in; the audit log has it.
    let people: Value = t
        .http
        .get(t.url("/api/v1/users"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ada = people
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["username"] == "ada")
        .unwrap();
    assert_eq!(ada["ssoLogin"], "ada@example.com");
    let audit: Value = t
        .http
        .get(t.url("/api/v1/audit?action=auth.sso"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(audit.to_string().contains("\"ada\""), "audit: {audit}");

    // Deactivated: the provider's word is not enough.
    let id = ada["id"].as_str().unwrap();
    let res = t
        .http
        .patch(t.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (to, session) = walk(&t, "/auth/sso", None).await;
    assert_eq!(to, "/login?error=sso_deactivated");
    assert!(session.is_none());
    t.shutdown().await;

    // A server that makes accounts for newcomers, admins by group.
    let provider = start_provider(Person {
        sub: "grace-1".into(),
        email: "grace@example.com".into(),
        username: "grace hopper".into(),
        groups: vec!["yagura-admins".into(), "staff".into()],
    })
    .await;
    let t = yagura_with(&provider, |c| {
        c.sso.new_user_role = Some(Role::Viewer);
        c.sso.role_groups = vec![
            (Role::Member, "staff".into()),
            (Role::Admin, "yagura-admins".into()),
        ];
    })
    .await;
    // Before first-run setup nobody becomes anyone: setup needs an
    // empty installation.
    let (to, session) = walk(&t, "/auth/sso", None).await;
    assert_eq!(to, "/login?error=sso_not_set_up");
    assert!(session.is_none());
    let admin = t.setup_admin().await;
    let (_, session) = walk(&t, "/auth/sso", None).await;
    let who = me(&t, &session.unwrap()).await;
    assert_eq!(who["username"], "grace-hopper");
    assert_eq!(who["role"], "admin");
    // Someone in no mapped group gets the default role.
    *provider.person.lock().unwrap() = Person {
        sub: "linus-1".into(),
        email: "linus@example.com".into(),
        username: "admin".into(),
        groups: vec![],
    };
    let (_, session) = walk(&t, "/auth/sso", None).await;
    let who = me(&t, &session.unwrap()).await;
    // "admin" is taken by the first admin: the name gets a number.
    assert_eq!(who["username"], "admin-2");
    assert_eq!(who["role"], "viewer");
    // Deleted, they do not come back by the rule: their link stays with
    // the deleted account, which is deactivated.
    let id = who["id"].as_str().unwrap().to_string();
    for (method, body) in [("PATCH", Some(json!({"active": false}))), ("DELETE", None)] {
        let mut req = t
            .http
            .request(
                method.parse().unwrap(),
                t.url(&format!("/api/v1/users/{id}")),
            )
            .bearer_auth(&admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        assert!(req.send().await.unwrap().status().is_success(), "{method}");
    }
    let (to, session) = walk(&t, "/auth/sso", None).await;
    assert_eq!(to, "/login?error=sso_deactivated");
    assert!(session.is_none());
    assert!(provider.refused.lock().unwrap().is_empty());
    t.shutdown().await;

    // Only verified addresses of the allowed domains get accounts by the
    // rule (a provider anyone can sign up at).
    let provider = start_provider(Person {
        sub: "mallory".into(),
        email: "mallory@gmail.example".into(),
        username: "mallory".into(),
        groups: vec![],
    })
    .await;
    let t = yagura_with(&provider, |c| {
        c.sso.new_user_role = Some(Role::Member);
        c.sso.email_domains = vec!["example.com".into()];
    })
    .await;
    t.setup_admin().await;
    let (to, _) = walk(&t, "/auth/sso", None).await;
    assert_eq!(to, "/login?error=sso_no_account");
    *provider.person.lock().unwrap() = self::ada();
    let (to, session) = walk(&t, "/auth/sso", None).await;
    assert_eq!(to, "/");
    assert_eq!(me(&t, &session.unwrap()).await["username"], "ada");
    t.shutdown().await;
}

/// Forged signature, wrong nonce, audience or issuer, an expired token,
/// a replayed or foreign state: each refused, nobody signed in.
#[tokio::test]
async fn bad_id_tokens_and_states_are_refused() {
    let provider = start_provider(ada()).await;
    let t = yagura_with(&provider, |c| c.sso.new_user_role = Some(Role::Member)).await;
    t.setup_admin().await;
    for twist in [
        Twist::Forged,
        Twist::WrongNonce,
        Twist::WrongAudience,
        Twist::WrongIssuer,
        Twist::Expired,
    ] {
        *provider.twist.lock().unwrap() = twist.clone();
        let (to, session) = walk(&t, "/auth/sso", None).await;
        assert_eq!(to, "/login?error=sso_token", "{twist:?}");
        assert!(session.is_none(), "{twist:?}");
    }
    let count: i64 =
        yagura::on_db!(&t.server.state.db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await)
        .unwrap();
    assert_eq!(count, 1, "no account was made");

    // A callback without this browser's state cookie (a login CSRF).
    let res = t.http.get(t.url("/auth/sso")).send().await.unwrap();
    let flow = set_cookie(&res, "yagura_sso").unwrap();
    let res = t.http.get(location(&res)).send().await.unwrap();
    let back = location(&res);
    let res = t.http.get(&back).send().await.unwrap();
    assert_eq!(location(&res), "/login?error=sso_state");
    // With this browser's cookie the same callback works, once.
    let res = t
        .http
        .get(&back)
        .header(header::COOKIE, format!("yagura_sso={flow}"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/");
    assert!(set_cookie(&res, "yagura_session").is_some());
    let res = t
        .http
        .get(&back)
        .header(header::COOKIE, format!("yagura_sso={flow}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&res),
        "/login?error=sso_state",
        "a state works once"
    );
    assert!(set_cookie(&res, "yagura_session").is_none());

    // The provider saying no.
    let res = t.http.get(t.url("/auth/sso")).send().await.unwrap();
    let flow = set_cookie(&res, "yagura_sso").unwrap();
    let res = t
        .http
        .get(t.url(&format!(
            "/auth/sso/callback?error=access_denied&state={flow}"
        )))
        .header(header::COOKIE, format!("yagura_sso={flow}"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/login?error=sso_denied");
    t.shutdown().await;
}

/// A signed-in person links their provider account from their account
/// page (a form post), and signs in with it; with password sign-in off,
/// passwords are refused, and a reset link from the shell links a
/// provider account instead of setting a password.
#[tokio::test]
async fn linking_and_password_sign_in_off() {
    let provider = start_provider(ada()).await;
    let t = yagura_with(&provider, |c| c.password_sign_in = false).await;
    let admin = t.setup_admin().await;
    // Passwords are refused, with the way in named.
    let res = t.login(common::ADMIN, common::PASSWORD).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("sign in with Test IdP"));
    // Linking needs a signed-in person, and a post from this site.
    let (to, _) = walk(&t, "POST /auth/sso/link", None).await;
    assert_eq!(to, "/login?next=/account");
    let res = t
        .http
        .post(t.url("/auth/sso/link"))
        .header(header::COOKIE, format!("yagura_session={admin}"))
        .header(header::ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // The admin (set up first) links the provider account, then signs in
    // with it.
    let (to, _) = walk(&t, "POST /auth/sso/link", Some(&admin)).await;
    assert_eq!(to, "/account?linked=sso");
    let (to, session) = walk(&t, "/auth/sso", None).await;
    assert_eq!(to, "/");
    assert_eq!(me(&t, &session.unwrap()).await["username"], common::ADMIN);
    // Someone else's provider account cannot be linked to it too.
    // (Made from the shell; signed in as a session the server issues.)
    let state = &t.server.state;
    let mira =
        yagura::auth::accounts::create_user(&state.db, "mira", common::PASSWORD, Role::Member)
            .await
            .unwrap();
    let member = state
        .auth
        .issue(&state.db, &mira, &HeaderMap::new(), None)
        .await
        .unwrap()
        .token;
    let (to, _) = walk(&t, "POST /auth/sso/link", Some(&member)).await;
    assert_eq!(to, "/account?error=sso_taken");

    // Mira cannot sign in with a password; a reset link from the shell
    // makes her provider account her way in, and ends her old sessions.
    let link = yagura::auth::invitations::reset_from_shell(&t.server.state.db, "mira", &t.base)
        .await
        .unwrap();
    *provider.person.lock().unwrap() = Person {
        sub: "mira-at-idp".into(),
        email: "mira@example.com".into(),
        username: "mira".into(),
        groups: vec![],
    };
    let (to, session) = walk(&t, &format!("/auth/sso?invite={}", link.token), None).await;
    assert_eq!(to, "/");
    assert_eq!(me(&t, &session.unwrap()).await["username"], "mira");
    let res = t
        .http
        .get(t.url("/api/v1/me"))
        .header(header::COOKIE, format!("yagura_session={member}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "her session from before ended");
    let (to, session) = walk(&t, "/auth/sso", None).await;
    assert_eq!((to.as_str(), session.is_some()), ("/", true));
    t.shutdown().await;
}
