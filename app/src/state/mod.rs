//! Context providers: who is signed in, and the live connection.

pub mod live;
pub mod session;

pub use live::{provide_live_connection, use_live_connection, LinkStatus, LiveConnection};
pub use session::{provide_session, use_session, SessionContext};
