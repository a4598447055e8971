use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

id_type!(
    /// A user's id.
    UserId
);
id_type!(
    /// An agent definition's id.
    AgentId
);
id_type!(
    /// One run of an agent.
    ExecutionId
);
id_type!(
    /// A repository that issues belong to.
    RepositoryId
);
id_type!(
    /// An issue (its number is per repository; this is global).
    IssueId
);
id_type!(
    /// A workflow definition.
    WorkflowId
);
id_type!(
    /// One run of a workflow (seed 002's `workflowExecutionId`).
    WorkflowRunId
);
id_type!(
    /// A notification to one user.
    NotificationId
);
