//! Sections whose features are still being built. Each says plainly what
//! it will hold; none shows made-up data.

use leptos::prelude::*;

use crate::components::empty_state::{EmptyState, PageHeader};

#[component]
pub fn WorkflowsPage() -> impl IntoView {
    view! {
        <PageHeader title="Workflows" subtitle="Agents chained into stages, with approval gates." />
        <EmptyState
            title="No workflows yet"
            body="Workflow definitions and their runs will live here. This part of Yagura is not built yet."
        />
    }
}

#[component]
pub fn IssuesPage() -> impl IntoView {
    view! {
        <PageHeader title="Issues" subtitle="The work your agents pick up, local or from GitHub." />
        <EmptyState
            title="No issues yet"
            body="Issues from your repositories will be listed here. This part of Yagura is not built yet."
        />
    }
}

#[component]
pub fn RunnersPage() -> impl IntoView {
    view! {
        <PageHeader title="Runners" subtitle="Machines that dial in to run agents remotely." />
        <EmptyState
            title="No runners connected"
            body="Agents run on this server by default. Remote runners, their tokens and their live state will be shown here. This part of Yagura is not built yet."
        />
    }
}
