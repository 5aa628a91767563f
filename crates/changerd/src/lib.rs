//! `changerd`: one owner per tape library (contract C5). Each configured library gets a thread
//! that owns its transport, a cache that answers reads ([`changer::cache`]), and a journal
//! that records every move before it is sent ([`journal`]); clients talk newline-delimited
//! JSON ([`changer_proto`]) on a Unix socket ([`server`]). A library behind an AWS Storage
//! Gateway also gets its export guard and lifecycle follower ([`gateway`], contract C7).
//! docs/daemon.md and docs/aws.md are the manual.

pub mod cli;
pub mod daemon;
pub mod gateway;
pub mod journal;
pub mod metrics;
pub mod owner;
pub mod server;
