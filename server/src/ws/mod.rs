//! WebSocket endpoints, one session loop per dialect. The upgrade handlers
//! authenticate; the session loops only speak their dialect.

pub mod ktcp;
pub mod native;
pub mod tasks;
