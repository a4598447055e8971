//! The server's side of `app::api::Backend`: what the pages' server
//! functions call. Each method authorises first, with the same policy as
//! the REST API (`crate::auth::policy`).

use crate::error::OrInternal;
use std::net::SocketAddr;

use app::api::{ApiError, Backend, ExecutionAction, IssuedToken};
use app::model::{
    Agent, AgentId, AgentInput, ApiKeysOverview, ConnectionCheck, Dashboard, Execution,
    ExecutionId, ExecutionPage, ExecutionQuery, GithubConnect, GithubOverview, GithubSettings,
    GithubSettingsInput, IssueDetail, IssueId, IssueInput, IssuePage, IssueQuery, IssueUpdate,
    NewApiKey, NewRunnerToken, NotificationId, NotificationList, Repository, RepositoryId,
    RepositoryInput, Role, RunAction, RunnersOverview, Session, SyncReport, Theme, User, Workflow,
    WorkflowEvent, WorkflowId, WorkflowInput, WorkflowRun, WorkflowRunId, WorkflowRunSummary,
};
use axum::extract::ConnectInfo;
use http::request::Parts;

use crate::auth::policy::{authorize, Op};
use crate::db::{executions as store, workflows as wf_store};
use crate::{agents, auth::accounts, state::AppState};

impl AppState {
    /// The signed-in user, if the policy lets them do `op`.
    pub(super) async fn authorise(&self, parts: &Parts, op: Op) -> Result<User, ApiError> {
        let user = self
            .auth
            .user_from_headers(&self.db, &parts.headers)
            .await
            .map_err(|_| ApiError::Unauthorized)?;
        authorize(&user, op)?;
        Ok(user)
    }
}

pub(super) fn client_address(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[async_trait::async_trait]
impl Backend for AppState {
    async fn session(&self, parts: &Parts) -> Result<Session, ApiError> {
        let needs_setup = accounts::needs_setup(&self.db).await?;
        let user = self
            .auth
            .user_from_headers(&self.db, &parts.headers)
            .await
            .ok();
        let theme = app::api::cookie_value(&parts.headers, app::api::THEME_COOKIE)
            .and_then(|v| v.parse().ok())
            .unwrap_or_default();
        Ok(Session {
            user,
            needs_setup,
            theme,
        })
    }

    async fn setup_admin(
        &self,
        parts: &Parts,
        username: &str,
        password: &str,
        setup_code: Option<&str>,
    ) -> Result<User, ApiError> {
        let local = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(a)| {
                crate::http::guard::from_this_machine(a.ip(), &parts.headers)
            });
        if accounts::needs_setup(&self.db).await? {
            accounts::check_setup_code(local, setup_code, &self.auth.setup_code)?;
        }
        accounts::setup_admin(&self.db, username, password).await
    }

    async fn login(
        &self,
        parts: &Parts,
        username: &str,
        password: &str,
    ) -> Result<(User, IssuedToken), ApiError> {
        self.auth.allow_passwords()?;
        let client = client_address(parts);
        let user =
            accounts::login(&self.db, &self.auth.throttle, &client, username, password).await?;
        let token = self
            .auth
            .issue(&self.db, &user, &parts.headers, Some(client))
            .await?;
        Ok((user, token))
    }

    async fn issue_token(&self, parts: &Parts, user: &User) -> Result<IssuedToken, ApiError> {
        self.auth
            .issue(&self.db, user, &parts.headers, Some(client_address(parts)))
            .await
    }

    fn session_cookie(&self, token: &IssuedToken) -> String {
        self.auth.session_cookie(token)
    }

    fn clear_session_cookie(&self) -> String {
        self.auth.clear_session_cookie()
    }

    async fn end_session(&self, parts: &Parts) -> Result<(), ApiError> {
        self.auth
            .end_session(&self.db, &parts.headers)
            .await
            .map(|_| ())
    }

    fn theme_cookie(&self, theme: Theme) -> String {
        self.auth.theme_cookie(theme)
    }

    async fn list_agents(&self, parts: &Parts) -> Result<Vec<Agent>, ApiError> {
        self.authorise(parts, Op::ReadAgents).await?;
        agents::list(&self.db).await
    }

    async fn get_agent(&self, parts: &Parts, id: AgentId) -> Result<Agent, ApiError> {
        self.authorise(parts, Op::ReadAgents).await?;
        agents::view(&self.db, id).await
    }

    async fn save_agent(
        &self,
        parts: &Parts,
        id: Option<AgentId>,
        input: AgentInput,
    ) -> Result<Agent, ApiError> {
        self.authorise(parts, Op::ManageAgents).await?;
        match id {
            Some(id) => agents::update(&self.db, &self.sealer, id, &input).await,
            None => agents::create(&self.db, &self.sealer, &input).await,
        }
    }

    async fn delete_agent(&self, parts: &Parts, id: AgentId) -> Result<(), ApiError> {
        self.authorise(parts, Op::ManageAgents).await?;
        agents::delete(&self.db, id).await
    }

    async fn execution_log_tail(
        &self,
        parts: &Parts,
        id: ExecutionId,
        limit: u32,
    ) -> Result<app::model::LogTail, ApiError> {
        self.authorise(parts, Op::ReadExecutions).await?;
        self.executions.get(id).await?;
        let limit = limit.min(1000);
        // One more than asked: whether there is more before.
        let rows = store::log_tail(&self.db, &id.to_string(), i64::from(limit) + 1)
            .await
            .or_internal("reading a log's tail")?;
        Ok(crate::executions::log_tail(id, rows, limit as usize))
    }

    async fn agent_stats(&self, parts: &Parts) -> Result<Vec<app::model::AgentStats>, ApiError> {
        self.authorise(parts, Op::ReadAgents).await?;
        agents::stats(&self.db).await
    }

    async fn check_program(
        &self,
        parts: &Parts,
        command: Vec<String>,
        path: Option<String>,
    ) -> Result<app::model::ProgramCheck, ApiError> {
        self.authorise(parts, Op::ManageAgents).await?;
        Ok(agents::check_program(&command, path.as_deref()))
    }

    async fn start_execution(
        &self,
        parts: &Parts,
        agent: AgentId,
        prompt: String,
        issue: Option<IssueId>,
    ) -> Result<Execution, ApiError> {
        let user = self.authorise(parts, Op::StartExecution).await?;
        let agent = agents::get(&self.db, agent).await?;
        let origin = self.issues.origin(issue).await?;
        self.executions
            .create(&agent, prompt, &user.username, &origin)
            .await
    }

    async fn list_executions(
        &self,
        parts: &Parts,
        query: ExecutionQuery,
    ) -> Result<ExecutionPage, ApiError> {
        self.authorise(parts, Op::ReadExecutions).await?;
        let filter = store::Filter {
            status: query.status,
            agent_id: query.agent_id.map(|a| a.to_string()),
            since_ms: None,
            issue_id: None,
        };
        let limit = if query.limit == 0 { 25 } else { query.limit };
        self.executions.list(&filter, limit, query.offset).await
    }

    async fn get_execution(&self, parts: &Parts, id: ExecutionId) -> Result<Execution, ApiError> {
        self.authorise(parts, Op::ReadExecutions).await?;
        self.executions.get(id).await
    }

    async fn control_execution(
        &self,
        parts: &Parts,
        id: ExecutionId,
        action: ExecutionAction,
    ) -> Result<(), ApiError> {
        self.authorise(parts, Op::ControlExecution).await?;
        match action {
            ExecutionAction::Cancel => self.executions.cancel(id).await,
            ExecutionAction::Pause => self.executions.pause(id).await,
            ExecutionAction::Resume => self.executions.resume(id).await,
        }
    }

    async fn send_stdin(
        &self,
        parts: &Parts,
        id: ExecutionId,
        data: String,
        echo: bool,
    ) -> Result<(), ApiError> {
        self.authorise(parts, Op::ControlExecution).await?;
        self.executions.stdin(id, data, echo).await
    }

    async fn dashboard(&self, parts: &Parts) -> Result<Dashboard, ApiError> {
        self.authorise(parts, Op::ReadDashboard).await?;
        super::dashboard::dashboard(self).await
    }

    async fn list_repositories(&self, parts: &Parts) -> Result<Vec<Repository>, ApiError> {
        self.authorise(parts, Op::ReadRepositories).await?;
        self.repositories.list(false).await
    }

    async fn create_repository(
        &self,
        parts: &Parts,
        input: RepositoryInput,
    ) -> Result<Repository, ApiError> {
        let user = self.authorise(parts, Op::CreateRepository).await?;
        self.repositories.create(&user, input).await
    }

    async fn list_issues(&self, parts: &Parts, query: IssueQuery) -> Result<IssuePage, ApiError> {
        self.authorise(parts, Op::ReadIssues).await?;
        self.issues.list(query).await
    }

    async fn get_issue(&self, parts: &Parts, id: IssueId) -> Result<IssueDetail, ApiError> {
        self.authorise(parts, Op::ReadIssues).await?;
        self.issues.detail(id).await
    }

    async fn create_issue(
        &self,
        parts: &Parts,
        input: IssueInput,
    ) -> Result<IssueDetail, ApiError> {
        let user = self.authorise(parts, Op::WriteIssues).await?;
        self.issues.create(&user, input).await
    }

    async fn update_issue(
        &self,
        parts: &Parts,
        id: IssueId,
        update: IssueUpdate,
    ) -> Result<IssueDetail, ApiError> {
        let user = self.authorise(parts, Op::WriteIssues).await?;
        self.issues.update(&user, id, update).await
    }

    async fn list_workflows(&self, parts: &Parts) -> Result<Vec<Workflow>, ApiError> {
        self.authorise(parts, Op::ReadWorkflows).await?;
        self.workflows.list().await
    }

    async fn get_workflow(&self, parts: &Parts, id: WorkflowId) -> Result<Workflow, ApiError> {
        self.authorise(parts, Op::ReadWorkflows).await?;
        self.workflows.get(id).await
    }

    async fn save_workflow(
        &self,
        parts: &Parts,
        id: Option<WorkflowId>,
        input: WorkflowInput,
    ) -> Result<Workflow, ApiError> {
        self.authorise(parts, Op::ManageWorkflows).await?;
        self.workflows.save(id, input).await
    }

    async fn delete_workflow(&self, parts: &Parts, id: WorkflowId) -> Result<(), ApiError> {
        self.authorise(parts, Op::ManageWorkflows).await?;
        self.workflows.delete(id).await
    }

    async fn start_workflow(
        &self,
        parts: &Parts,
        workflow: WorkflowId,
        issue: Option<IssueId>,
    ) -> Result<WorkflowRun, ApiError> {
        let user = self.authorise(parts, Op::StartWorkflow).await?;
        let workflow = self.workflows.get(workflow).await?;
        let issue = match issue {
            Some(id) => Some(self.issues.find_row(id).await?),
            None => None,
        };
        self.workflows
            .start_run(&workflow, issue, &user.username)
            .await
    }

    async fn list_workflow_runs(
        &self,
        parts: &Parts,
        workflow: Option<WorkflowId>,
    ) -> Result<Vec<WorkflowRunSummary>, ApiError> {
        self.authorise(parts, Op::ReadWorkflows).await?;
        self.workflows
            .list_runs(&wf_store::RunFilter {
                workflow_id: workflow.map(|w| w.to_string()),
                ..Default::default()
            })
            .await
    }

    async fn get_workflow_run(
        &self,
        parts: &Parts,
        id: WorkflowRunId,
    ) -> Result<WorkflowRun, ApiError> {
        self.authorise(parts, Op::ReadWorkflows).await?;
        self.workflows.get_run(id).await
    }

    async fn workflow_run_history(
        &self,
        parts: &Parts,
        id: WorkflowRunId,
    ) -> Result<Vec<WorkflowEvent>, ApiError> {
        self.authorise(parts, Op::ReadWorkflows).await?;
        self.workflows.history(id).await
    }

    async fn act_on_run(
        &self,
        parts: &Parts,
        id: WorkflowRunId,
        action: RunAction,
    ) -> Result<WorkflowRun, ApiError> {
        let user = self.authorise(parts, Op::ActOnRun).await?;
        self.workflows.act(id, action, &user.username).await
    }

    async fn list_notifications(&self, parts: &Parts) -> Result<NotificationList, ApiError> {
        let user = self.authorise(parts, Op::OwnAccount).await?;
        self.notifier.list(user.id).await
    }

    async fn mark_notifications_read(
        &self,
        parts: &Parts,
        id: Option<NotificationId>,
    ) -> Result<(), ApiError> {
        let user = self.authorise(parts, Op::OwnAccount).await?;
        self.notifier.mark_read(user.id, id).await
    }

    async fn runners_overview(&self, parts: &Parts) -> Result<RunnersOverview, ApiError> {
        let user = self.authorise(parts, Op::ReadRunners).await?;
        let runners = &self.runners;
        let admin = user.role.at_least(Role::Admin);
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
            })
            .map(str::to_string)
            .unwrap_or_else(|| self.config.addr.to_string());
        let scheme = if self.config.secure_cookies {
            "wss"
        } else {
            "ws"
        };
        Ok(RunnersOverview {
            runners: runners.list().await?,
            tokens: if admin {
                runners.tokens().await?
            } else {
                Vec::new()
            },
            admin,
            lease_secs: runners.config().lease.as_secs(),
            server_url: format!("{scheme}://{host}"),
        })
    }

    async fn create_runner_token(
        &self,
        parts: &Parts,
        name: String,
    ) -> Result<NewRunnerToken, ApiError> {
        let user = self.authorise(parts, Op::ManageRunnerTokens).await?;
        self.runners.create_token(&name, &user.username).await
    }

    async fn revoke_runner_token(&self, parts: &Parts, id: String) -> Result<(), ApiError> {
        self.authorise(parts, Op::ManageRunnerTokens).await?;
        self.runners.revoke_token(&id).await
    }

    async fn api_keys_overview(&self, parts: &Parts) -> Result<ApiKeysOverview, ApiError> {
        let user = self.authorise(parts, Op::ManageApiKeys).await?;
        Ok(ApiKeysOverview {
            keys: crate::auth::api_keys::list(&self.db, &user).await?,
            all_users: user.role.at_least(Role::Admin),
        })
    }

    async fn create_api_key(&self, parts: &Parts, name: String) -> Result<NewApiKey, ApiError> {
        let user = self.authorise(parts, Op::ManageApiKeys).await?;
        crate::auth::api_keys::create(&self.db, &user, &name).await
    }

    async fn revoke_api_key(&self, parts: &Parts, id: String) -> Result<(), ApiError> {
        let user = self.authorise(parts, Op::ManageApiKeys).await?;
        crate::auth::api_keys::revoke(&self.db, &user, &id).await?;
        self.auth.connections.end_api_key(&id);
        Ok(())
    }

    async fn github_overview(&self, parts: &Parts) -> Result<GithubOverview, ApiError> {
        let user = self.authorise(parts, Op::ReadGithub).await?;
        let admin = user.role.at_least(Role::Admin);
        Ok(GithubOverview {
            admin,
            settings: if admin {
                Some(self.github.settings().await?)
            } else {
                None
            },
            repositories: self.repositories.list(true).await?,
            github_login: crate::db::users::github_login_of(&self.db, &user.id.to_string())
                .await
                .or_internal("reading a GitHub link")?,
            sign_in_enabled: self.github_sign_in_enabled().await?,
        })
    }

    async fn save_github_settings(
        &self,
        parts: &Parts,
        input: GithubSettingsInput,
    ) -> Result<GithubSettings, ApiError> {
        self.authorise(parts, Op::ManageGithub).await?;
        self.github.save_settings(input).await
    }

    async fn connect_repository(
        &self,
        parts: &Parts,
        id: Option<RepositoryId>,
        name: String,
        input: GithubConnect,
    ) -> Result<Repository, ApiError> {
        let user = self.authorise(parts, Op::ManageGithub).await?;
        match id {
            Some(id) => self.repositories.connect(id, input).await,
            None => {
                self.repositories
                    .create(
                        &user,
                        RepositoryInput {
                            name,
                            github: Some(app::model::GithubSpec::Connect(input)),
                            local_path: None,
                        },
                    )
                    .await
            }
        }
    }

    async fn test_repository(
        &self,
        parts: &Parts,
        id: RepositoryId,
    ) -> Result<ConnectionCheck, ApiError> {
        self.authorise(parts, Op::ManageGithub).await?;
        self.repositories.test(id).await
    }

    async fn sync_repository(
        &self,
        parts: &Parts,
        id: RepositoryId,
    ) -> Result<SyncReport, ApiError> {
        self.authorise(parts, Op::SyncRepository).await?;
        self.repositories.sync_now(id).await
    }

    async fn set_keep_worktrees(
        &self,
        parts: &Parts,
        id: RepositoryId,
        keep: bool,
    ) -> Result<(), ApiError> {
        self.authorise(parts, Op::ManageGithub).await?;
        self.repositories.set_keep_worktrees(id, keep).await
    }

    async fn github_sign_in_enabled(&self) -> Result<bool, ApiError> {
        self.github
            .oauth_client()
            .await
            .map(|c| c.is_some())
            .or_internal("reading the OAuth settings")
    }

    async fn unlink_github(&self, parts: &Parts) -> Result<(), ApiError> {
        let user = self.authorise(parts, Op::OwnAccount).await?;
        let id = user.id.to_string();
        // Nobody unlinks the only way they have in (an account that joined
        // with GitHub has no password until an admin's reset link).
        let row = crate::db::users::find_by_id(&self.db, &id)
            .await
            .or_internal("finding a user")?
            .ok_or(ApiError::NotFound)?;
        let sso = match self.auth.sso.as_ref() {
            Some(sso) => crate::auth::sso::linked_as(sso, &self.db, &id)
                .await
                .map_err(|_| ApiError::Internal)?
                .is_some(),
            None => false,
        };
        if row.password_hash.starts_with('!') && !sso {
            return Err(ApiError::Conflict(
                "your account has no password to sign in with: unlinking GitHub would lock you out (an admin's reset link gives it a password)".into(),
            ));
        }
        crate::db::users::set_github_account(&self.db, &id, None)
            .await
            .or_internal("unlinking GitHub")?;
        Ok(())
    }
}
