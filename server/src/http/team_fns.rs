//! The server's side of `app::api::TeamBackend`: people, invitations and
//! your own account, as the pages' server functions ask for them.

use app::api::{ApiError, IssuedToken, TeamBackend};
use app::model::{
    Invitation, InvitationInput, InvitationPreview, NewInvitation, Person, PersonChange,
};
use http::request::Parts;

use super::server_fns::client_address;
use crate::auth::{accounts, invitations, people, policy::Op, Principal};
use crate::{db, state::AppState};

impl AppState {
    /// The signed-in person (by session or API key), whatever their role.
    async fn principal(&self, parts: &Parts) -> Result<Principal, ApiError> {
        self.auth
            .principal_from_headers(&self.db, &parts.headers)
            .await
            .map_err(|_| ApiError::Unauthorized)
    }

    /// The signed-in person, by a session: an API key may not change the
    /// password nor end sessions (it would come away with a session token
    /// that outlives the key).
    async fn session_principal(&self, parts: &Parts) -> Result<Principal, ApiError> {
        let me = self.principal(parts).await?;
        if me.api_key.is_some() {
            return Err(ApiError::Forbidden);
        }
        Ok(me)
    }

    /// Ends the sessions of the person behind `principal` but the one it
    /// carries, and signs a new token for it.
    async fn reissue_for(
        &self,
        parts: &Parts,
        principal: &Principal,
    ) -> Result<IssuedToken, ApiError> {
        let keep = principal.session.as_ref().map(|(jti, _)| jti.as_str());
        let closed = self
            .auth
            .connections
            .end_other_sessions(principal.user.id, keep);
        tracing::debug!(user = %principal.user.username, closed, "other sessions' sockets closed");
        self.auth
            .issue(
                &self.db,
                &principal.user,
                &parts.headers,
                Some(client_address(parts)),
            )
            .await
    }
}

#[async_trait::async_trait]
impl TeamBackend for AppState {
    async fn people(&self, parts: &Parts) -> Result<Vec<Person>, ApiError> {
        self.authorise(parts, Op::ManageUsers).await?;
        people::list(&self.db).await
    }

    async fn change_person(
        &self,
        parts: &Parts,
        id: String,
        change: PersonChange,
    ) -> Result<Person, ApiError> {
        let me = self.authorise(parts, Op::ManageUsers).await?;
        people::change(&self.auth, &self.db, &me, &id, change).await
    }

    async fn delete_person(&self, parts: &Parts, id: String) -> Result<(), ApiError> {
        let me = self.authorise(parts, Op::ManageUsers).await?;
        people::delete(&self.db, &me, &id).await
    }

    async fn invite(
        &self,
        parts: &Parts,
        input: InvitationInput,
    ) -> Result<NewInvitation, ApiError> {
        let me = self.authorise(parts, Op::ManageUsers).await?;
        let public = self.github.public_url().await;
        invitations::create(&self.db, &me, &input, &public).await
    }

    async fn reset_link(&self, parts: &Parts, id: String) -> Result<NewInvitation, ApiError> {
        let me = self.authorise(parts, Op::ManageUsers).await?;
        self.auth.allow_passwords()?;
        let public = self.github.public_url().await;
        invitations::create_reset(&self.db, &me, &id, &public).await
    }

    async fn invitations(&self, parts: &Parts) -> Result<Vec<Invitation>, ApiError> {
        self.authorise(parts, Op::ManageUsers).await?;
        invitations::list(&self.db).await
    }

    async fn revoke_invitation(&self, parts: &Parts, id: String) -> Result<Invitation, ApiError> {
        self.authorise(parts, Op::ManageUsers).await?;
        invitations::revoke(&self.db, &id).await
    }

    async fn invitation_preview(&self, token: String) -> Result<InvitationPreview, ApiError> {
        invitations::preview(&self.db, &token).await
    }

    async fn accept_invitation(
        &self,
        parts: &Parts,
        token: String,
        username: String,
        password: String,
    ) -> Result<IssuedToken, ApiError> {
        let user = invitations::accept(&self.auth, &self.db, &token, &username, &password).await?;
        self.auth
            .issue(&self.db, &user, &parts.headers, Some(client_address(parts)))
            .await
    }

    async fn change_password(
        &self,
        parts: &Parts,
        current: String,
        new: String,
    ) -> Result<IssuedToken, ApiError> {
        let me = self.session_principal(parts).await?;
        accounts::change_password(
            &self.db,
            &self.auth.throttle,
            &client_address(parts),
            &me.user,
            &current,
            &new,
        )
        .await?;
        self.reissue_for(parts, &me).await
    }

    async fn end_other_sessions(&self, parts: &Parts) -> Result<IssuedToken, ApiError> {
        let me = self.session_principal(parts).await?;
        db::users::end_sessions_before(&self.db, &me.user.id.to_string(), db::now_ms())
            .await
            .map_err(|e| crate::error::internal("ending sessions", e))?;
        self.reissue_for(parts, &me).await
    }

    async fn audit(
        &self,
        parts: &Parts,
        query: app::model::AuditQuery,
    ) -> Result<app::model::AuditPage, ApiError> {
        self.authorise(parts, Op::ManageUsers).await?;
        super::audit::list(&self.db, &query).await
    }

    async fn sessions(&self, parts: &Parts) -> Result<Vec<app::model::SignedInSession>, ApiError> {
        let me = self.principal(parts).await?;
        self.auth.sessions(&self.db, &me).await
    }

    async fn end_one_session(&self, parts: &Parts, id: String) -> Result<(), ApiError> {
        let me = self.principal(parts).await?;
        self.auth.end_one(&self.db, &me, &id).await
    }

    async fn sign_in_options(&self) -> Result<app::model::SignInOptions, ApiError> {
        use app::api::Backend;
        Ok(app::model::SignInOptions {
            password: self.auth.password_sign_in,
            github: self.github_sign_in_enabled().await.unwrap_or(false),
            sso: self.auth.sso.as_ref().map(|s| s.name().to_string()),
        })
    }

    async fn my_sso(&self, parts: &Parts) -> Result<Option<app::model::SsoLink>, ApiError> {
        let me = self.principal(parts).await?;
        let Some(sso) = self.auth.sso.as_ref() else {
            return Ok(None);
        };
        let linked_as = crate::auth::sso::linked_as(sso, &self.db, &me.user.id.to_string())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "reading a single sign-on link");
                ApiError::Internal
            })?;
        Ok(Some(app::model::SsoLink {
            provider: sso.name().to_string(),
            linked_as,
        }))
    }

    async fn unlink_sso(&self, parts: &Parts) -> Result<(), ApiError> {
        let me = self.session_principal(parts).await?;
        let sso = self.auth.sso.as_ref().ok_or(ApiError::NotFound)?;
        // Unlinked, someone with no password could not sign in again.
        if !self.auth.password_sign_in {
            return Err(ApiError::Conflict(
                "single sign-on is the only way to sign in here: it cannot be unlinked".into(),
            ));
        }
        // Nor may someone unlink the only way they have in.
        let id = me.user.id.to_string();
        let row = db::users::find_by_id(&self.db, &id)
            .await
            .map_err(|e| crate::error::internal("finding a user", e))?
            .ok_or(ApiError::NotFound)?;
        let github = db::users::github_login_of(&self.db, &id)
            .await
            .map_err(|e| crate::error::internal("finding a user", e))?;
        if row.password_hash.starts_with('!') && github.is_none() {
            return Err(ApiError::Conflict(
                "your account has no password and no GitHub account to sign in with: unlinking would lock you out (an admin's reset link gives it a password)".into(),
            ));
        }
        crate::auth::sso::unlink(sso, &self.db, &id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "unlinking single sign-on");
                ApiError::Internal
            })?;
        Ok(())
    }

    async fn insights(&self, parts: &Parts, days: u32) -> Result<app::model::Insights, ApiError> {
        self.principal(parts).await?;
        let mut figures =
            crate::executions::insights::figures(&self.db, days, db::now_ms()).await?;
        figures.now.host = host_load(parts).await;
        Ok(figures)
    }

    async fn issue_board(
        &self,
        parts: &Parts,
        query: app::model::BoardQuery,
    ) -> Result<app::model::Board, ApiError> {
        let me = self.principal(parts).await?;
        // The cards carry runs too.
        for op in [Op::ReadIssues, Op::ReadExecutions, Op::ReadWorkflows] {
            crate::auth::policy::authorize(&me.user, op)?;
        }
        self.issues.board(query, db::now_ms()).await
    }

    async fn changes(
        &self,
        parts: &Parts,
        of: app::model::ChangesOf,
        page: u32,
    ) -> Result<app::model::Changes, ApiError> {
        let me = self.principal(parts).await?;
        crate::auth::policy::authorize(&me.user, Op::ReadExecutions)?;
        let changes = match of {
            app::model::ChangesOf::Execution(id) => {
                self.worktrees
                    .changes_of_execution(&id.to_string(), page)
                    .await
            }
            app::model::ChangesOf::Run(id) => {
                self.worktrees.changes_of_run(&id.to_string(), page).await
            }
        };
        changes.map_err(super::rest::changes::api_error)
    }

    async fn discard_changes(
        &self,
        parts: &Parts,
        of: app::model::ChangesOf,
    ) -> Result<(), ApiError> {
        let me = self.principal(parts).await?;
        crate::auth::policy::authorize(&me.user, Op::ControlExecution)?;
        let done = match of {
            app::model::ChangesOf::Execution(id) => {
                self.worktrees.discard_execution(&id.to_string()).await
            }
            app::model::ChangesOf::Run(id) => self.worktrees.discard_run(&id.to_string()).await,
        };
        done.map_err(super::rest::changes::api_error)
    }

    async fn open_pull_request(
        &self,
        parts: &Parts,
        of: app::model::ChangesOf,
    ) -> Result<String, ApiError> {
        let me = self.principal(parts).await?;
        crate::auth::policy::authorize(&me.user, Op::ControlExecution)?;
        self.github
            .propose(&self.worktrees, of)
            .await
            .map_err(super::rest::changes::api_error)
    }

    async fn insights_now(&self, parts: &Parts) -> Result<app::model::LiveLoad, ApiError> {
        self.principal(parts).await?;
        let mut now = crate::executions::insights::live(&self.db, db::now_ms()).await?;
        now.host = host_load(parts).await;
        Ok(now)
    }
}

/// The host's load, as the Team Dashboard's sampler reads it.
async fn host_load(parts: &Parts) -> Option<app::model::HostLoad> {
    let dashboard = parts
        .extensions
        .get::<std::sync::Arc<crate::ws::team_dashboard::Dashboard>>()?;
    let sample = dashboard.metrics.sample(Vec::new()).await;
    let system = &sample["system"];
    let number = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    let bytes = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    Some(app::model::HostLoad {
        cpu_percent: number(&system["cpu"]["usage"]),
        cores: bytes(&system["cpu"]["cores"]) as u32,
        memory_percent: number(&system["memory"]["percent"]),
        memory_used: bytes(&system["memory"]["used"]),
        memory_total: bytes(&system["memory"]["total"]),
        disk_percent: number(&system["disk"]["percent"]),
        disk_used: bytes(&system["disk"]["used"]),
        disk_total: bytes(&system["disk"]["total"]),
    })
}
