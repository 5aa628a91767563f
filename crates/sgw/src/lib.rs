//! AWS Storage Gateway (Tape Gateway) client for changerd.
//!
//! One [`Gateway`] per configured gateway: the tapes of its library (DescribeTapes), of the
//! account (ListTapes) and of the archive (DescribeTapeArchives), the lifecycle calls
//! (retrieve, cancel archival or retrieval, create, delete), the gateway's health and its VTL
//! devices. Listings follow every page; errors come back as one [`Error`] enum whose messages
//! name the operation and say what to check; an optional [`CallObserver`] hears about every
//! API call. Which calls each method makes, and the retry and timeout policy, are in
//! docs/aws-client.md.
//!
//! Credentials come from the standard AWS chain, never from this crate: the daemon's
//! environment, profile files, or the instance role.
//!
//! ```no_run
//! use sgw::{Gateway, GatewaySettings, TapeStatus};
//!
//! # async fn example() -> Result<(), sgw::Error> {
//! let settings = GatewaySettings {
//!     gateway_arn: "arn:aws:storagegateway:us-east-1:111122223333:gateway/sgw-12A3456B".into(),
//!     region: "us-east-1".into(),
//!     endpoint_url: None,
//! };
//! let gateway = Gateway::connect(&settings, None).await?;
//! for tape in gateway.describe_tapes(&[]).await? {
//!     if tape.status == TapeStatus::InTransitToVts {
//!         println!("{} is uploading ({:.0} %)", tape.barcode, tape.progress.unwrap_or(0.0));
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod devices;
mod error;
mod gateway;
mod health;
mod model;
mod observer;
mod sdk_error;
mod settings;
mod status;
mod tapes;

pub use error::Error;
pub use gateway::Gateway;
pub use health::Health;
pub use model::{NewTapes, Tape, TapeArchive, TapeInfo, VtlDevice};
pub use observer::{CallObserver, Outcome};
pub use settings::{
    ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, GatewaySettings, MAX_ATTEMPTS, OPERATION_TIMEOUT,
};
pub use status::TapeStatus;

/// The AWS configuration loader crate, for [`Gateway::connect_with`].
pub use aws_config;
