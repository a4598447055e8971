//! The seam between server functions (in `app`) and the server's own code.
//! The server provides an `Arc<dyn Backend>` as context to every request.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use http::request::Parts;
use leptos::prelude::*;

use super::ApiError;
use crate::model::{
    Agent, AgentId, AgentInput, ApiKeysOverview, ConnectionCheck, Dashboard, Execution,
    ExecutionId, ExecutionPage, ExecutionQuery, GithubConnect, GithubOverview, GithubSettings,
    GithubSettingsInput, IssueDetail, IssueId, IssueInput, IssuePage, IssueQuery, IssueUpdate,
    NewApiKey, NewRunnerToken, NotificationId, NotificationList, Repository, RepositoryId,
    RepositoryInput, RunAction, RunnersOverview, Session, SyncReport, Theme, User, Workflow,
    WorkflowEvent, WorkflowId, WorkflowInput, WorkflowRun, WorkflowRunId, WorkflowRunSummary,
};
use crate::model::{
    Invitation, InvitationInput, InvitationPreview, NewInvitation, Person, PersonChange,
};

/// Something a person can do to a running execution.
pub use crate::model::ExecutionAction;

/// A freshly signed session token.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// The team: people, invitations, your own account. Part of [`Backend`].
#[async_trait::async_trait]
pub trait TeamBackend: Send + Sync + 'static {
    /// Everyone with an account (admins).
    async fn people(&self, parts: &Parts) -> Result<Vec<Person>, ApiError>;
    async fn change_person(
        &self,
        parts: &Parts,
        id: String,
        change: PersonChange,
    ) -> Result<Person, ApiError>;
    /// Deletes a deactivated account (admins).
    async fn delete_person(&self, parts: &Parts, id: String) -> Result<(), ApiError>;
    /// Makes an invitation (admins); the answer holds the one-time link.
    async fn invite(
        &self,
        parts: &Parts,
        input: InvitationInput,
    ) -> Result<NewInvitation, ApiError>;
    async fn invitations(&self, parts: &Parts) -> Result<Vec<Invitation>, ApiError>;
    /// Makes a one-time link to set person `id`'s password (admins).
    async fn reset_link(&self, parts: &Parts, id: String) -> Result<NewInvitation, ApiError>;
    async fn revoke_invitation(&self, parts: &Parts, id: String) -> Result<Invitation, ApiError>;
    /// What an invitation link offers (public: the link is the credential).
    async fn invitation_preview(&self, token: String) -> Result<InvitationPreview, ApiError>;
    /// Joins with an invitation link (public) and signs the new person in.
    async fn accept_invitation(
        &self,
        parts: &Parts,
        token: String,
        username: String,
        password: String,
    ) -> Result<IssuedToken, ApiError>;
    /// Changes the signed-in person's password (the current one is asked
    /// for); their other sessions end. Answers a new token for this one.
    async fn change_password(
        &self,
        parts: &Parts,
        current: String,
        new: String,
    ) -> Result<IssuedToken, ApiError>;
    /// Ends every session of the signed-in person but this one (answers a
    /// new token for this browser).
    async fn end_other_sessions(&self, parts: &Parts) -> Result<IssuedToken, ApiError>;
    /// Where the signed-in person is signed in.
    async fn sessions(&self, parts: &Parts)
        -> Result<Vec<crate::model::SignedInSession>, ApiError>;
    /// Ends one of the signed-in person's sessions (its sockets close).
    async fn end_one_session(&self, parts: &Parts, id: String) -> Result<(), ApiError>;
    /// A page of the audit log (admins).
    async fn audit(
        &self,
        parts: &Parts,
        query: crate::model::AuditQuery,
    ) -> Result<crate::model::AuditPage, ApiError>;
    /// The Insights page's figures for the last `days` days (any role).
    async fn insights(&self, parts: &Parts, days: u32) -> Result<crate::model::Insights, ApiError>;
    /// The load right now (any role).
    async fn insights_now(&self, parts: &Parts) -> Result<crate::model::LiveLoad, ApiError>;
    /// How people may sign in here (public).
    async fn sign_in_options(&self) -> Result<crate::model::SignInOptions, ApiError>;
    /// Your single sign-on link; None when the server has no provider.
    async fn my_sso(&self, parts: &Parts) -> Result<Option<crate::model::SsoLink>, ApiError>;
    /// Unlinks your single sign-on account.
    async fn unlink_sso(&self, parts: &Parts) -> Result<(), ApiError>;
    /// The issue board (any role).
    async fn issue_board(
        &self,
        parts: &Parts,
        query: crate::model::BoardQuery,
    ) -> Result<crate::model::Board, ApiError>;
    /// A run's changes (its branch), one page of diffs.
    async fn changes(
        &self,
        parts: &Parts,
        of: crate::model::ChangesOf,
        page: u32,
    ) -> Result<crate::model::Changes, ApiError>;
    /// Pushes an ended run's branch and opens a pull request from it;
    /// answers its address.
    async fn open_pull_request(
        &self,
        parts: &Parts,
        of: crate::model::ChangesOf,
    ) -> Result<String, ApiError>;
    /// Deletes an ended run's branch.
    async fn discard_changes(
        &self,
        parts: &Parts,
        of: crate::model::ChangesOf,
    ) -> Result<(), ApiError>;
}

#[async_trait::async_trait]
pub trait Backend: TeamBackend {
    /// Who sent this request (cookie or bearer token), whether first-run
    /// setup is pending, and the chosen theme.
    async fn session(&self, parts: &Parts) -> Result<Session, ApiError>;
    /// Creates the first admin; fails with `Conflict` once any user exists.
    /// Creates the first admin; from another machine only with the
    /// one-time setup code.
    async fn setup_admin(
        &self,
        parts: &Parts,
        username: &str,
        password: &str,
        setup_code: Option<&str>,
    ) -> Result<User, ApiError>;
    /// Checks a password (throttled per client and per username) and signs a token.
    async fn login(
        &self,
        parts: &Parts,
        username: &str,
        password: &str,
    ) -> Result<(User, IssuedToken), ApiError>;
    /// Signs a token for a user who just proved who they are.
    async fn issue_token(&self, parts: &Parts, user: &User) -> Result<IssuedToken, ApiError>;
    /// `Set-Cookie` value carrying a session token.
    fn session_cookie(&self, token: &IssuedToken) -> String;
    /// `Set-Cookie` value that removes the session cookie.
    fn clear_session_cookie(&self) -> String;
    /// Ends the session token the request carries (signing out), on the
    /// server too: it is refused from now on, its sockets close.
    async fn end_session(&self, parts: &Parts) -> Result<(), ApiError>;
    /// `Set-Cookie` value remembering the theme.
    fn theme_cookie(&self, theme: Theme) -> String;

    // Agents and executions. Each method authorises the request itself.
    async fn list_agents(&self, parts: &Parts) -> Result<Vec<Agent>, ApiError>;
    async fn get_agent(&self, parts: &Parts, id: AgentId) -> Result<Agent, ApiError>;
    /// Creates (`id` None) or replaces an agent; admins only.
    async fn save_agent(
        &self,
        parts: &Parts,
        id: Option<AgentId>,
        input: AgentInput,
    ) -> Result<Agent, ApiError>;
    async fn delete_agent(&self, parts: &Parts, id: AgentId) -> Result<(), ApiError>;
    async fn agent_stats(&self, parts: &Parts) -> Result<Vec<crate::model::AgentStats>, ApiError>;
    /// The last `limit` output lines of an execution (log events only),
    /// for the page of a finished run to show before it goes live.
    async fn execution_log_tail(
        &self,
        parts: &Parts,
        id: ExecutionId,
        limit: u32,
    ) -> Result<crate::model::LogTail, ApiError>;
    /// Whether an agent's program exists here; admins only (it tells what
    /// the server has installed).
    async fn check_program(
        &self,
        parts: &Parts,
        command: Vec<String>,
        path: Option<String>,
    ) -> Result<crate::model::ProgramCheck, ApiError>;
    async fn start_execution(
        &self,
        parts: &Parts,
        agent: AgentId,
        prompt: String,
        issue: Option<IssueId>,
    ) -> Result<Execution, ApiError>;
    async fn list_executions(
        &self,
        parts: &Parts,
        query: ExecutionQuery,
    ) -> Result<ExecutionPage, ApiError>;
    async fn get_execution(&self, parts: &Parts, id: ExecutionId) -> Result<Execution, ApiError>;
    async fn control_execution(
        &self,
        parts: &Parts,
        id: ExecutionId,
        action: ExecutionAction,
    ) -> Result<(), ApiError>;
    async fn send_stdin(
        &self,
        parts: &Parts,
        id: ExecutionId,
        data: String,
        echo: bool,
    ) -> Result<(), ApiError>;
    async fn dashboard(&self, parts: &Parts) -> Result<Dashboard, ApiError>;

    // Repositories and issues.
    async fn list_repositories(&self, parts: &Parts) -> Result<Vec<Repository>, ApiError>;
    async fn create_repository(
        &self,
        parts: &Parts,
        input: RepositoryInput,
    ) -> Result<Repository, ApiError>;
    async fn list_issues(&self, parts: &Parts, query: IssueQuery) -> Result<IssuePage, ApiError>;
    async fn get_issue(&self, parts: &Parts, id: IssueId) -> Result<IssueDetail, ApiError>;
    async fn create_issue(&self, parts: &Parts, input: IssueInput)
        -> Result<IssueDetail, ApiError>;
    async fn update_issue(
        &self,
        parts: &Parts,
        id: IssueId,
        update: IssueUpdate,
    ) -> Result<IssueDetail, ApiError>;

    // Workflows and their runs.
    async fn list_workflows(&self, parts: &Parts) -> Result<Vec<Workflow>, ApiError>;
    async fn get_workflow(&self, parts: &Parts, id: WorkflowId) -> Result<Workflow, ApiError>;
    async fn save_workflow(
        &self,
        parts: &Parts,
        id: Option<WorkflowId>,
        input: WorkflowInput,
    ) -> Result<Workflow, ApiError>;
    async fn delete_workflow(&self, parts: &Parts, id: WorkflowId) -> Result<(), ApiError>;
    async fn start_workflow(
        &self,
        parts: &Parts,
        workflow: WorkflowId,
        issue: Option<IssueId>,
    ) -> Result<WorkflowRun, ApiError>;
    async fn list_workflow_runs(
        &self,
        parts: &Parts,
        workflow: Option<WorkflowId>,
    ) -> Result<Vec<WorkflowRunSummary>, ApiError>;
    async fn get_workflow_run(
        &self,
        parts: &Parts,
        id: WorkflowRunId,
    ) -> Result<WorkflowRun, ApiError>;
    async fn workflow_run_history(
        &self,
        parts: &Parts,
        id: WorkflowRunId,
    ) -> Result<Vec<WorkflowEvent>, ApiError>;
    async fn act_on_run(
        &self,
        parts: &Parts,
        id: WorkflowRunId,
        action: RunAction,
    ) -> Result<WorkflowRun, ApiError>;

    // Notifications of the signed-in user.
    async fn list_notifications(&self, parts: &Parts) -> Result<NotificationList, ApiError>;
    async fn mark_notifications_read(
        &self,
        parts: &Parts,
        id: Option<NotificationId>,
    ) -> Result<(), ApiError>;

    // Remote runners.
    async fn runners_overview(&self, parts: &Parts) -> Result<RunnersOverview, ApiError>;
    async fn create_runner_token(
        &self,
        parts: &Parts,
        name: String,
    ) -> Result<NewRunnerToken, ApiError>;
    async fn revoke_runner_token(&self, parts: &Parts, id: String) -> Result<(), ApiError>;

    // API keys.
    async fn api_keys_overview(&self, parts: &Parts) -> Result<ApiKeysOverview, ApiError>;
    async fn create_api_key(&self, parts: &Parts, name: String) -> Result<NewApiKey, ApiError>;
    async fn revoke_api_key(&self, parts: &Parts, id: String) -> Result<(), ApiError>;

    // GitHub.
    async fn github_overview(&self, parts: &Parts) -> Result<GithubOverview, ApiError>;
    async fn save_github_settings(
        &self,
        parts: &Parts,
        input: GithubSettingsInput,
    ) -> Result<GithubSettings, ApiError>;
    /// Connects repository `id`, or a new one called `name` when `id` is None.
    async fn connect_repository(
        &self,
        parts: &Parts,
        id: Option<RepositoryId>,
        name: String,
        input: GithubConnect,
    ) -> Result<Repository, ApiError>;
    async fn test_repository(
        &self,
        parts: &Parts,
        id: RepositoryId,
    ) -> Result<ConnectionCheck, ApiError>;
    async fn sync_repository(
        &self,
        parts: &Parts,
        id: RepositoryId,
    ) -> Result<SyncReport, ApiError>;
    async fn set_keep_worktrees(
        &self,
        parts: &Parts,
        id: RepositoryId,
        keep: bool,
    ) -> Result<(), ApiError>;
    /// Whether "Sign in with GitHub" is offered (asked before signing in).
    async fn github_sign_in_enabled(&self) -> Result<bool, ApiError>;
    async fn unlink_github(&self, parts: &Parts) -> Result<(), ApiError>;
}

/// The backend provided by the server for this request.
pub fn backend() -> Result<Arc<dyn Backend>, ApiError> {
    use_context::<Arc<dyn Backend>>().ok_or(ApiError::Internal)
}

/// The parts of the request being served.
pub fn request_parts() -> Result<Parts, ApiError> {
    use_context::<Parts>().ok_or(ApiError::Internal)
}

/// True for a form posted by a browser without JavaScript: the answer must
/// then be a redirect to a page, not JSON.
pub fn is_plain_form_post(parts: &Parts) -> bool {
    parts
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// After a plain form post (no JavaScript), sends the browser to `path`;
/// the hydrated app navigates by itself and gets the data.
pub fn redirect_plain_form(parts: &Parts, path: &str) {
    if is_plain_form_post(parts) {
        leptos_axum::redirect(path);
    }
}

/// Name of the HttpOnly cookie that carries the session token.
pub const SESSION_COOKIE: &str = "yagura_session";
/// Name of the cookie that remembers the theme.
pub const THEME_COOKIE: &str = "yagura_theme";

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cookie_among_several_headers() {
        let mut headers = http::HeaderMap::new();
        headers.append(
            http::header::COOKIE,
            "a=1; yagura_theme=dark".parse().unwrap(),
        );
        headers.append(http::header::COOKIE, "yagura_session=tok".parse().unwrap());
        assert_eq!(cookie_value(&headers, THEME_COOKIE), Some("dark"));
        assert_eq!(cookie_value(&headers, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie_value(&headers, "missing"), None);
        assert_eq!(cookie_value(&headers, "yagura"), None);
    }
}
