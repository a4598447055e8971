//! One module per route.

mod account;
mod agents;
mod api_keys;
mod audit;
mod auth;
mod common;
mod dashboard;
mod executions;
mod insights;
mod issue;
mod issues;
mod not_found;
mod people;
mod runners;
mod settings;
mod workflow_editor;
mod workflow_run;
mod workflows;

pub use account::AccountPage;
pub use agents::{AgentEditPage, AgentsPage};
pub use api_keys::ApiKeysPage;
pub use audit::AuditLogPage;
pub use auth::{InvitePage, LoginPage, SetupPage};
pub use dashboard::DashboardPage;
pub use executions::{ExecutionPage, ExecutionsPage};
pub use insights::InsightsPage;
pub use issue::IssuePage;
pub use issues::IssuesPage;
pub use not_found::NotFoundPage;
pub use people::PeoplePage;
pub use runners::RunnersPage;
pub use settings::SettingsPage;
pub use workflow_editor::WorkflowEditPage;
pub use workflow_run::WorkflowRunPage;
pub use workflows::WorkflowsPage;
