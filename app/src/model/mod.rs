//! Plain data shared by the server and the browser. Everything here compiles
//! to wasm, so nothing here may hold a secret: password hashes, signing keys
//! and tokens stay in `server`.

mod agent;
mod event;
mod execution;
mod ids;
mod user;

pub use agent::{
    Agent, AgentInput, AgentType, Preset, DEFAULT_OUTPUT_CAP, DEFAULT_TIMEOUT_SECS, PLACEHOLDERS,
    PRESETS,
};
pub use event::{EventBody, ExecutionEvent};
pub use execution::{
    Dashboard, Execution, ExecutionAction, ExecutionPage, ExecutionQuery, ExecutionStatus,
    LogLevel, LogStream, ResourceUsage,
};
pub use ids::{AgentId, ExecutionId, UserId};
pub use user::{Role, Session, Theme, User};
