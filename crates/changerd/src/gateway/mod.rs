//! The AWS Storage Gateway side of a library (contract C7, docs/aws.md).
//!
//! * [`Link`]: what the library's thread, the server and the follower share — the API client,
//!   the library's gateway settings, the last health check, the tape table, the tapes followed.
//! * `guard`: the export guard the library's thread asks before a move into an I/E slot.
//! * `follow`: the task that polls the API (health, tape list, changing tapes) and imports
//!   retrieved and new tapes through the library's thread.
//! * `service`: `tapes`, `retrieve`, `cancel-archival` for the server.
//! * `hooks`: the shell hooks run after imports.

mod follow;
mod guard;
mod hooks;
mod service;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use changer::gateway::{ExportConfig, GatewayConfig, NewTapesRule};
use changer_proto::{GatewayHealth, TapeEntry};
use sgw::TapeStatus;
use tokio::sync::mpsc;

use crate::metrics::{ApiLabels, LibraryLabel, Metrics};

pub use follow::Follower;
pub use guard::{Guard, GuardContext};

/// Why a tape is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Exported: IN TRANSIT TO VTS → ARCHIVING → ARCHIVED.
    Archive,
    /// CancelArchival asked: back to AVAILABLE.
    Cancel,
    /// RetrieveTapeArchive asked: RETRIEVING → RETRIEVED, then imported.
    Retrieve,
    /// CreateTapes: CREATING → AVAILABLE, then imported.
    Create,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Archive => "archival",
            Purpose::Cancel => "cancelled archival",
            Purpose::Retrieve => "retrieval",
            Purpose::Create => "new tape",
        }
    }
}

/// A tape whose status is changing.
#[derive(Debug, Clone)]
pub struct Followed {
    /// Barcode.
    pub barcode: String,
    /// Last status seen.
    pub status: TapeStatus,
    /// Why it is followed.
    pub purpose: Purpose,
    /// When it was last seen to change.
    pub since: Instant,
    /// When to look next.
    pub next: Instant,
    /// The pause before that look (doubles up to `follow_max_interval`).
    pub pause: Duration,
    /// The import of a RETRIEVED or new tape has been asked for this many times.
    pub import_attempts: u32,
}

/// What a library's gateway side knows.
#[derive(Debug, Default)]
pub struct State {
    /// The last health check: when, and what it found.
    pub health: Option<(Instant, Result<sgw::Health, String>)>,
    /// The gateway's tapes (its VTL) by barcode, from the last DescribeTapes.
    pub tapes: HashMap<String, sgw::Tape>,
    /// When `tapes` was read in full.
    pub tapes_read: Option<Instant>,
    /// Tapes being followed, by ARN.
    pub following: BTreeMap<String, Followed>,
}

/// Something for the follower to do now.
#[derive(Debug)]
pub enum Event {
    /// Follow a tape from this status on.
    Follow {
        /// Tape ARN.
        arn: String,
        /// Barcode.
        barcode: String,
        /// Status now.
        status: TapeStatus,
        /// Why.
        purpose: Purpose,
    },
}

/// One library's gateway, shared by its thread, the server and the follower.
pub struct Link {
    /// The API client.
    pub gateway: sgw::Gateway,
    /// `[library.gateway]`.
    pub config: GatewayConfig,
    /// `[library.export]`.
    pub export: ExportConfig,
    /// `[[library.new_tapes]]`.
    pub rules: Vec<NewTapesRule>,
    /// The library's device as configured.
    pub device: String,
    /// The library's serial.
    pub serial: String,
    state: Mutex<State>,
    events: mpsc::UnboundedSender<Event>,
    metrics: Arc<Metrics>,
    /// The daemon's runtime: the library's thread runs the guard's API calls on it.
    pub runtime: tokio::runtime::Handle,
}

/// Counts the API calls of one library's gateway in the metrics.
struct CallCounter {
    metrics: Arc<Metrics>,
    library: String,
}

impl sgw::CallObserver for CallCounter {
    fn call(&self, operation: &'static str, outcome: sgw::Outcome) {
        let outcome = match outcome {
            sgw::Outcome::Ok => "ok",
            sgw::Outcome::Throttled => "throttled",
            sgw::Outcome::Error => "error",
        };
        self.metrics
            .gateway_api_calls
            .get_or_create(&ApiLabels {
                library: self.library.clone(),
                operation: operation.into(),
                outcome: outcome.into(),
            })
            .inc();
    }
}

impl Link {
    /// Connects the library's gateway client (no API call is made yet) and returns the link
    /// with the receiving end of its follower's events.
    pub fn connect(
        runtime: &tokio::runtime::Handle,
        library: &changer::config::LibraryConfig,
        gateway: &GatewayConfig,
        device: &str,
        serial: &str,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<(Arc<Link>, mpsc::UnboundedReceiver<Event>)> {
        for rule in &library.new_tapes {
            rule.check().map_err(|e| anyhow::anyhow!("{device}: {e}"))?;
        }
        let settings = sgw::GatewaySettings {
            gateway_arn: gateway.gateway_arn.clone(),
            region: gateway.region.clone(),
            endpoint_url: gateway.endpoint_url.clone(),
        };
        let observer: Arc<dyn sgw::CallObserver> = Arc::new(CallCounter {
            metrics: Arc::clone(&metrics),
            library: serial.to_owned(),
        });
        let client = runtime.block_on(sgw::Gateway::connect(&settings, Some(observer)))?;
        let (events, receiver) = mpsc::unbounded_channel();
        Ok((
            Arc::new(Link {
                gateway: client,
                config: gateway.clone(),
                export: library.export.clone(),
                rules: library.new_tapes.clone(),
                device: device.to_owned(),
                serial: serial.to_owned(),
                state: Mutex::new(State::default()),
                events,
                metrics,
                runtime: runtime.clone(),
            }),
            receiver,
        ))
    }

    /// The shared state (a poisoned lock still holds usable data: every writer leaves it whole).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts following a tape.
    pub fn follow(&self, arn: String, barcode: String, status: TapeStatus, purpose: Purpose) {
        let _ = self.events.send(Event::Follow {
            arn,
            barcode,
            status,
            purpose,
        });
    }

    /// Stores a health check and publishes it.
    pub fn record_health(&self, result: Result<sgw::Health, String>) {
        let label = LibraryLabel {
            library: self.serial.clone(),
        };
        match &result {
            Ok(h) => {
                self.metrics
                    .gateway_up
                    .get_or_create(&label)
                    .set(i64::from(h.running));
                self.metrics
                    .gateway_cache_dirty
                    .get_or_create(&label)
                    .set(h.cache_dirty_percent);
                self.metrics
                    .gateway_upload_buffer
                    .get_or_create(&label)
                    .set(h.upload_buffer_used_percent());
            }
            Err(_) => {
                self.metrics.gateway_up.get_or_create(&label).set(0);
            }
        }
        self.state().health = Some((Instant::now(), result));
    }

    /// The health as `changer status` shows it.
    pub fn report(&self) -> GatewayHealth {
        let state = self.state();
        let (checked, health) = match &state.health {
            Some((at, h)) => (Some(at.elapsed()), Some(h)),
            None => (None, None),
        };
        let ok = health.and_then(|h| h.as_ref().ok());
        GatewayHealth {
            gateway_arn: self.config.gateway_arn.clone(),
            state: ok.map(|h| h.state.clone()),
            connected: ok.is_some(),
            cache_dirty_percent: ok.map(|h| h.cache_dirty_percent),
            upload_buffer_used_percent: ok.map(sgw::Health::upload_buffer_used_percent),
            checked_ms_ago: checked.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            error: health.and_then(|h| h.as_ref().err().cloned()),
            following: state
                .following
                .iter()
                .map(|(arn, f)| TapeEntry {
                    barcode: f.barcode.clone(),
                    status: Some(f.status.as_str().to_owned()),
                    location: None,
                    pool: None,
                    size_used_bytes: None,
                    size_bytes: None,
                    arn: Some(arn.clone()),
                })
                .collect(),
        }
    }

    /// Why the gateway cannot take an export now, or `None` when it can.
    pub fn unhealthy(&self, health: &Result<sgw::Health, String>) -> Option<String> {
        match health {
            Err(e) => Some(format!("the gateway cannot be asked ({e})")),
            Ok(h) if !h.running => Some(format!(
                "the gateway is not running (GatewayState {})",
                h.state
            )),
            Ok(h) if h.cache_dirty_percent > self.config.max_cache_dirty_percent => Some(format!(
                "the gateway's cache is {:.1} % dirty, above max_cache_dirty_percent {:.0}: data not yet uploaded",
                h.cache_dirty_percent, self.config.max_cache_dirty_percent
            )),
            Ok(h) if h.upload_buffer_used_percent() > self.config.max_upload_buffer_percent => {
                Some(format!(
                    "the gateway's upload buffer is {:.1} % used, above max_upload_buffer_percent {:.0}",
                    h.upload_buffer_used_percent(),
                    self.config.max_upload_buffer_percent
                ))
            }
            Ok(_) => None,
        }
    }

    /// Updates the tape table with what the API said of some tapes.
    pub fn remember(&self, tapes: &[sgw::Tape]) {
        let mut state = self.state();
        for t in tapes {
            state.tapes.insert(t.barcode.clone(), t.clone());
        }
    }
}
