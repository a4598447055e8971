//! One module per route.

mod agents;
mod auth;
mod dashboard;
mod executions;
mod not_found;
mod sections;
mod settings;

pub use agents::{AgentEditPage, AgentsPage};
pub use auth::{LoginPage, SetupPage};
pub use dashboard::DashboardPage;
pub use executions::{ExecutionPage, ExecutionsPage};
pub use not_found::NotFoundPage;
pub use sections::{IssuesPage, RunnersPage, WorkflowsPage};
pub use settings::SettingsPage;
