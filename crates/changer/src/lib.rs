//! `changer`: the Changer Command for Bareos and Bacula (protocol mode, contract C1) and the
//! operator's tool for tape libraries (human commands).

pub mod cache;
pub mod cli;
pub mod client;
pub mod compat;
pub mod config;
pub mod gateway;
pub mod human;
pub mod library;
pub mod lock;
pub mod logging;
pub mod ops;
pub mod protocol;
pub mod signals;
