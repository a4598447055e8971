//! Who may do what: one rule per operation, used by the server functions,
//! the REST API and every WebSocket dialect alike, so the paths cannot
//! drift apart. Roles are ordered admin > member > viewer.
//!
//! - A viewer reads: agents, runs and their logs, issues, workflows,
//!   runners, the dashboard, and their own notifications.
//! - A member also runs: starts and controls executions, writes issues,
//!   starts workflows and decides approval gates, syncs a repository, and
//!   keeps API keys of their own.
//! - An admin also configures: agents, workflows, runner tokens, GitHub.
//!
//! Rules that depend on more than the role (an admin-only field of a
//! repository, the owner of a notification) live in the service that
//! knows the data; this table is the first line of every operation.

use app::api::ApiError;
use app::model::{Role, User};

/// Every operation a person (or a token acting for one) can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    // Reading.
    ReadAgents,
    ReadExecutions,
    ReadDashboard,
    ReadIssues,
    ReadRepositories,
    ReadWorkflows,
    ReadRunners,
    ReadGithub,
    /// Watch live events over a WebSocket.
    Subscribe,
    /// One's own notifications and GitHub link.
    OwnAccount,
    // Running.
    StartExecution,
    ControlExecution,
    DeleteExecution,
    WriteIssues,
    CreateRepository,
    StartWorkflow,
    ActOnRun,
    SyncRepository,
    /// Make and revoke one's own API keys (an admin: anyone's).
    ManageApiKeys,
    // Configuring.
    ManageAgents,
    ManageWorkflows,
    ManageRunnerTokens,
    ManageGithub,
    /// See everyone's account; change roles; deactivate and reactivate.
    ManageUsers,
}

impl Op {
    /// The lowest role allowed to do it.
    pub const fn min_role(self) -> Role {
        use Op::*;
        match self {
            ReadAgents | ReadExecutions | ReadDashboard | ReadIssues | ReadRepositories
            | ReadWorkflows | ReadRunners | ReadGithub | Subscribe | OwnAccount => Role::Viewer,
            StartExecution | ControlExecution | DeleteExecution | WriteIssues
            | CreateRepository | StartWorkflow | ActOnRun | SyncRepository | ManageApiKeys => {
                Role::Member
            }
            ManageAgents | ManageWorkflows | ManageRunnerTokens | ManageGithub | ManageUsers => {
                Role::Admin
            }
        }
    }
}

/// `Ok` when `user` may do `op`, else `Forbidden`.
pub fn authorize(user: &User, op: Op) -> Result<(), ApiError> {
    if user.role.at_least(op.min_role()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Deleting a run (and its log) is for whoever started it, or an admin:
/// a member cannot erase a colleague's record.
pub fn authorize_delete(user: &User, created_by: Option<&str>) -> Result<(), ApiError> {
    authorize(user, Op::DeleteExecution)?;
    if user.role == Role::Admin || created_by == Some(user.username.as_str()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::UserId;

    /// L6: members delete only their own runs; admins any.
    #[test]
    fn only_the_starter_or_an_admin_deletes_a_run() {
        let member = user(Role::Member);
        assert!(authorize_delete(&member, Some("u")).is_ok());
        assert_eq!(
            authorize_delete(&member, Some("other")),
            Err(ApiError::Forbidden)
        );
        assert_eq!(authorize_delete(&member, None), Err(ApiError::Forbidden));
        assert!(authorize_delete(&user(Role::Admin), Some("other")).is_ok());
        assert!(authorize_delete(&user(Role::Viewer), Some("u")).is_err());
    }

    fn user(role: Role) -> User {
        User {
            id: UserId(uuid::Uuid::nil()),
            username: "u".into(),
            role,
        }
    }

    #[test]
    fn roles_are_ordered() {
        for op in [Op::ReadExecutions, Op::StartExecution, Op::ManageAgents] {
            let min = op.min_role();
            for role in [Role::Viewer, Role::Member, Role::Admin] {
                assert_eq!(
                    authorize(&user(role), op).is_ok(),
                    role.at_least(min),
                    "{op:?} as {role:?}"
                );
            }
        }
        assert_eq!(
            authorize(&user(Role::Viewer), Op::ActOnRun),
            Err(ApiError::Forbidden)
        );
        assert!(authorize(&user(Role::Member), Op::ManageGithub).is_err());
        assert!(authorize(&user(Role::Admin), Op::ManageGithub).is_ok());
    }
}
