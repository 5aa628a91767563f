//! `changerd`: one owner per tape library (contract C5). Each configured library gets a thread
//! that owns its transport, a cache that answers reads ([`changer::cache`]), and a journal
//! that records every move before it is sent ([`journal`]); clients talk newline-delimited
//! JSON ([`changer_proto`]) on a Unix socket ([`server`]). docs/daemon.md is the manual.

pub mod daemon;
pub mod journal;
pub mod metrics;
pub mod owner;
pub mod server;
