//! One module per route.

mod auth;
mod dashboard;
mod not_found;
mod sections;
mod settings;

pub use auth::{LoginPage, SetupPage};
pub use dashboard::DashboardPage;
pub use not_found::NotFoundPage;
pub use sections::{AgentsPage, ExecutionsPage, IssuesPage, RunnersPage, WorkflowsPage};
pub use settings::SettingsPage;
