//! The seeds' dialects, each as a client written from its seed (and
//! DIALECTS.md) would speak it.

mod cc_anywhere;
mod nospace;
mod seeds;
mod team_dashboard;
