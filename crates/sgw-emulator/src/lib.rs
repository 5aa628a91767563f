//! A local AWS Storage Gateway (Tape Gateway) API emulator (contract C7): the awsJson1_1
//! protocol on 127.0.0.1, the operations a changer daemon uses, the tape lifecycle with
//! configurable delays, injected faults, and — given a simulated library file (contract C3) —
//! the library a Tape Gateway shares with the backup application: a tape moved into an I/E
//! slot is archived and taken out, retrieved and new tapes arrive in I/E slots.
//! docs/aws-emulator.md describes the behaviour; aws-sgw.md (shared/reference) the facts.
//!
//! ```no_run
//! use sgw_emulator::{Delays, Emulator, Options};
//! use std::time::Duration;
//!
//! let running = Emulator::start(Options {
//!     tapes: vec!["AB000001".parse()?, "AB000002=ARCHIVED".parse()?],
//!     delays: Delays::all(Duration::from_millis(20)),
//!     ..Options::default()
//! })?;
//! // Point an SDK client's endpoint_url here, with static dummy credentials.
//! println!("{} serves {}", running.endpoint(), running.gateway_arn());
//! running.update_faults(|f| f.throttle = 2);
//! println!("{:?}", running.calls());
//! running.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules: `options` (what it starts with), `gateway` (names and ARNs), `tape` and `world`
//! (the state and its time-driven transitions), `library` (sharing the library file), `api`
//! (the operations, their input checks and errors), `server` (HTTP), `emulator` (threads).

mod api;
mod emulator;
mod gateway;
mod library;
mod options;
mod server;
mod tape;
mod world;

pub use emulator::{Emulator, Running, StartError};
pub use gateway::GatewayArnError;
pub use options::{
    DEFAULT_GATEWAY_ARN, Delays, Options, SeedError, SeedStatus, SeedTape, parse_barcode,
};
pub use tape::{Place, TapeView};
pub use world::{ControlError, Faults};
