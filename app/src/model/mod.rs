//! Plain data shared by the server and the browser. Everything here compiles
//! to wasm, so nothing here may hold a secret: password hashes, signing keys
//! and tokens stay in `server`.

mod user;

pub use user::{Role, Session, Theme, User, UserId};
