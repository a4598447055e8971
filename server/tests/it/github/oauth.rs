//! Sign in with GitHub.

use super::*;

#[tokio::test]
async fn sign_in_with_github_needs_a_linked_account() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGitHub::start(dir.path()).await;
    let t = server().await;
    let token = t.setup_admin().await;
    // Not configured: back to the login page with a reason.
    let res = t.http.get(t.url("/auth/github")).send().await.unwrap();
    assert_eq!(
        res.headers()["location"],
        "/login?error=github_not_configured"
    );
    let (status, s) = send(
        &t,
        &token,
        "PUT",
        "/api/v1/settings/github",
        Some(json!({"oauthClientId": "client-1", "oauthClientSecret": "client-secret", "oauthWebUrl": gh.base()})),
    )
    .await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["oauthSecretSet"], true);
    assert!(!s.to_string().contains("client-secret"));

    // Starts at GitHub with a state that a cookie carries.
    async fn start(t: &TestServer) -> (String, String, String) {
        let res = t.http.get(t.url("/auth/github")).send().await.unwrap();
        let location = res.headers()["location"].to_str().unwrap().to_string();
        let cookie = res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let state = location
            .split("state=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_string();
        (location, cookie, state)
    }
    async fn callback(
        t: &TestServer,
        cookie: Option<&str>,
        state: &str,
        code: &str,
        bearer: Option<&str>,
    ) -> (String, bool) {
        let mut req = t
            .http
            .get(t.url(&format!("/auth/github/callback?code={code}&state={state}")));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let res = req.send().await.unwrap();
        let to = res.headers()["location"].to_str().unwrap().to_string();
        let session = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("yagura_session="));
        (to, session)
    }
    let (location, cookie, state) = start(&t).await;
    assert!(
        location.starts_with(&format!(
            "{}/login/oauth/authorize?client_id=client-1",
            gh.base()
        )),
        "{location}"
    );
    let code = fake_github::OAUTH_CODE;
    // A state that is not this browser's, or none: refused.
    assert_eq!(
        callback(&t, Some(&cookie), "forged", code, None).await.0,
        "/login?error=github_state"
    );
    assert_eq!(
        callback(&t, None, &state, code, None).await.0,
        "/login?error=github_state"
    );
    // A good code for a login nobody linked: refused, no session.
    let (to, session) = callback(&t, Some(&cookie), &state, code, None).await;
    assert_eq!(
        (to.as_str(), session),
        ("/login?error=github_unlinked", false)
    );
    // A bad code: refused.
    let (_, cookie2, state2) = start(&t).await;
    assert_eq!(
        callback(&t, Some(&cookie2), &state2, "wrong", None).await.0,
        "/login?error=github_failed"
    );
    // Signed in, the same flow links the login to the account...
    let (_, cookie3, state3) = start(&t).await;
    let (to, _) = callback(&t, Some(&cookie3), &state3, code, Some(&token)).await;
    assert_eq!(to, "/settings?linked=1");
    // ...after which signing in with GitHub works.
    let (_, cookie4, state4) = start(&t).await;
    let (to, session) = callback(&t, Some(&cookie4), &state4, code, None).await;
    assert_eq!((to.as_str(), session), ("/", true));
}

/// An invitation's link offers "Join with GitHub": the person joins with
/// the invitation's role, named after their login, once; a GitHub account
/// that has a Yagura account already cannot join again.
#[tokio::test]
async fn an_invitation_can_be_accepted_with_github() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGitHub::start(dir.path()).await;
    let t = server().await;
    let admin = t.setup_admin().await;
    let (status, _) = send(
        &t,
        &admin,
        "PUT",
        "/api/v1/settings/github",
        Some(json!({"oauthClientId": "client-1", "oauthClientSecret": "client-secret", "oauthWebUrl": gh.base()})),
    )
    .await;
    assert_eq!(status, 200);
    let invite = |role: &'static str| {
        let t = &t;
        let admin = admin.clone();
        async move {
            let (status, made) = send(
                t,
                &admin,
                "POST",
                "/api/v1/invitations",
                Some(json!({"role": role})),
            )
            .await;
            assert_eq!(status, 201, "{made}");
            made["token"].as_str().unwrap().to_string()
        }
    };
    // Start from the link: the state cookie and the invitation's.
    async fn join(
        t: &TestServer,
        secret: &str,
        signed_in: Option<&str>,
    ) -> (String, Option<String>) {
        let res = t
            .http
            .get(t.url(&format!("/auth/github?invite={secret}")))
            .send()
            .await
            .unwrap();
        let location = res.headers()["location"].to_str().unwrap().to_string();
        if location.starts_with("/invite/") {
            return (location, None);
        }
        let cookies = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string())
            .chain(signed_in.map(|s| format!("yagura_session={s}")))
            .collect::<Vec<_>>()
            .join("; ");
        let state = location
            .split("state=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let res = t
            .http
            .get(t.url(&format!(
                "/auth/github/callback?code={}&state={state}",
                fake_github::OAUTH_CODE
            )))
            .header("cookie", cookies)
            .send()
            .await
            .unwrap();
        let to = res.headers()["location"].to_str().unwrap().to_string();
        let session = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|c| c.to_str().unwrap().strip_prefix("yagura_session="))
            .map(|c| c.split(';').next().unwrap().to_string())
            .find(|c| !c.is_empty());
        (to, session)
    }
    let secret = invite("member").await;
    let (to, session) = join(&t, &secret, None).await;
    assert_eq!(to, "/");
    let (status, me) = send(&t, &session.unwrap(), "GET", "/api/v1/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(me["username"], "octocat");
    assert_eq!(me["role"], "member");
    // Used up: the link's page says why.
    let (to, _) = join(&t, &secret, None).await;
    assert!(to.starts_with("/invite/"), "{to}");
    // Signed in as someone else in this browser: never linked to them.
    let other = invite("viewer").await;
    let (to, _) = join(&t, &other, Some(&admin)).await;
    assert_eq!(to, "/login?error=github_signed_in");
    // Another invitation, the same GitHub account: refused.
    let other = invite("admin").await;
    let (to, session) = join(&t, &other, None).await;
    assert_eq!(to, "/login?error=github_taken");
    assert!(session.is_none());
}
