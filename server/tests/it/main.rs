//! Integration tests: each starts the real server on 127.0.0.1:0 with a
//! temporary data directory and talks HTTP and WebSocket to it. One test
//! binary (not one per file) keeps linking time and disk use down.

mod common;

mod auth;
mod board;
mod changes;
mod cli;
mod client;
mod dialects;
mod executions;
mod fake_github;
mod github;
mod insights;
mod metrics;
mod openapi;
mod people;
mod replicas;
mod restart;
mod runner_tls;
mod runners;
mod sandbox;
mod security;
mod site;
mod sso;
mod storage;
mod team;
mod usage;
mod workflows;
mod ws;
