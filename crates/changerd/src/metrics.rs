//! Prometheus metrics (the `metrics` key; off by default), in the text exposition format
//! written by `prometheus-client`. docs/daemon.md lists every name.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use changer::library::DynTransport;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use scsi_changer::transport::{Command, Completion, Transport};

/// Labels of per-library counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LibraryLabel {
    /// Changer serial number.
    pub library: String,
}

/// Labels of moves.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MoveLabels {
    /// Changer serial number.
    pub library: String,
    /// `load`, `unload`, `transfer`, `move`.
    pub kind: String,
    /// `ok` or `failed`.
    pub result: String,
}

/// Labels of SCSI command latencies.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpcodeLabels {
    /// Changer serial number.
    pub library: String,
    /// Operation code, `A5h` style, with its name where known.
    pub opcode: String,
}

/// Labels of sense errors.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SenseLabels {
    /// Changer serial number.
    pub library: String,
    /// Sense key name (`UNIT ATTENTION`).
    pub key: String,
    /// `ASCh/ASCQh`.
    pub asc: String,
}

/// Labels of drive loads.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriveLabels {
    /// Changer serial number.
    pub library: String,
    /// Drive index.
    pub drive: String,
}

/// Labels of AWS Storage Gateway API calls.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// Changer serial number.
    pub library: String,
    /// API operation (`DescribeTapes`).
    pub operation: String,
    /// `ok`, `throttled`, `error`.
    pub outcome: String,
}

/// Labels of archivals.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ArchivalLabels {
    /// Changer serial number.
    pub library: String,
    /// `started`, `refused`, `archived`.
    pub result: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~17 min: READ ELEMENT STATUS on loopback to MOVE MEDIUM on a big robot.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.001, 4.0, 11,
    ))
}

type LatencyFamily = Family<OpcodeLabels, Histogram, fn() -> Histogram>;

/// Every metric the daemon keeps.
pub struct Metrics {
    /// Moves by kind and result.
    pub moves: Family<MoveLabels, Counter>,
    /// SCSI command latency per opcode.
    pub latency: LatencyFamily,
    /// CHECK CONDITIONs by sense key and ASC/ASCQ.
    pub sense_errors: Family<SenseLabels, Counter>,
    /// Reads answered from the cache alone.
    pub cache_hits: Family<LibraryLabel, Counter>,
    /// Reads that asked the library.
    pub cache_misses: Family<LibraryLabel, Counter>,
    /// Seconds since the inventory was read in full (−1: none cached).
    pub inventory_age: Family<LibraryLabel, Gauge<f64, AtomicU64>>,
    /// Successful loads per drive.
    pub loads: Family<DriveLabels, Counter>,
    /// Open client connections.
    pub clients: Gauge<i64, AtomicI64>,
    /// Requests answered, by `op`.
    pub requests: Family<RequestLabels, Counter>,
    /// AWS Storage Gateway API calls by operation and outcome.
    pub gateway_api_calls: Family<ApiLabels, Counter>,
    /// 1 when the gateway answered RUNNING at the last health check.
    pub gateway_up: Family<LibraryLabel, Gauge<i64, AtomicI64>>,
    /// Cache dirty percentage at the last health check.
    pub gateway_cache_dirty: Family<LibraryLabel, Gauge<f64, AtomicU64>>,
    /// Upload buffer used, percent, at the last health check.
    pub gateway_upload_buffer: Family<LibraryLabel, Gauge<f64, AtomicU64>>,
    /// Exports (archivals) started, refused and finished.
    pub archivals: Family<ArchivalLabels, Counter>,
    /// Tapes whose status the daemon follows.
    pub tapes_followed: Family<LibraryLabel, Gauge<i64, AtomicI64>>,
    /// Tapes created by the low-water mark.
    pub tapes_created: Family<LibraryLabel, Counter>,
    /// When each library's inventory was read (ms since the epoch; 0: none), for the age.
    read_at: std::sync::Mutex<Vec<(String, Arc<AtomicU64>)>>,
    registry: Registry,
}

/// Labels of requests.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `bareos`, `status`, `move`, `libraries`, `bad_request`.
    pub op: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// All metrics, registered under the `changer_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("changer");
        let moves = Family::<MoveLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        let sense_errors = Family::<SenseLabels, Counter>::default();
        let cache_hits = Family::<LibraryLabel, Counter>::default();
        let cache_misses = Family::<LibraryLabel, Counter>::default();
        let inventory_age = Family::<LibraryLabel, Gauge<f64, AtomicU64>>::default();
        let loads = Family::<DriveLabels, Counter>::default();
        let clients = Gauge::<i64, AtomicI64>::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("moves", "Robot moves by kind and result", moves.clone());
        registry.register_with_unit(
            "scsi_command_duration",
            "SCSI command latency per operation code",
            prometheus_client::registry::Unit::Seconds,
            latency.clone(),
        );
        registry.register(
            "sense_errors",
            "CHECK CONDITION answers by sense key and ASC/ASCQ",
            sense_errors.clone(),
        );
        registry.register(
            "cache_hits",
            "Reads answered from the cache without a SCSI command",
            cache_hits.clone(),
        );
        registry.register(
            "cache_misses",
            "Reads that read the library",
            cache_misses.clone(),
        );
        registry.register_with_unit(
            "inventory_age",
            "Time since the inventory was read in full (-1: nothing cached)",
            prometheus_client::registry::Unit::Seconds,
            inventory_age.clone(),
        );
        registry.register("drive_loads", "Successful loads per drive", loads.clone());
        registry.register(
            "clients_connected",
            "Open client connections",
            clients.clone(),
        );
        registry.register(
            "requests",
            "Requests answered, by operation",
            requests.clone(),
        );
        let gateway_api_calls = Family::<ApiLabels, Counter>::default();
        let gateway_up = Family::<LibraryLabel, Gauge<i64, AtomicI64>>::default();
        let gateway_cache_dirty = Family::<LibraryLabel, Gauge<f64, AtomicU64>>::default();
        let gateway_upload_buffer = Family::<LibraryLabel, Gauge<f64, AtomicU64>>::default();
        let archivals = Family::<ArchivalLabels, Counter>::default();
        let tapes_followed = Family::<LibraryLabel, Gauge<i64, AtomicI64>>::default();
        let tapes_created = Family::<LibraryLabel, Counter>::default();
        registry.register(
            "gateway_api_calls",
            "AWS Storage Gateway API calls by operation and outcome",
            gateway_api_calls.clone(),
        );
        registry.register(
            "gateway_up",
            "1 when the gateway was RUNNING and connected at the last health check",
            gateway_up.clone(),
        );
        registry.register(
            "gateway_cache_dirty_percent",
            "Gateway cache dirty percentage at the last health check",
            gateway_cache_dirty.clone(),
        );
        registry.register(
            "gateway_upload_buffer_used_percent",
            "Gateway upload buffer used, percent, at the last health check",
            gateway_upload_buffer.clone(),
        );
        registry.register(
            "archivals",
            "Exports to the tape shelf: started, refused by the guard, archived",
            archivals.clone(),
        );
        registry.register(
            "tapes_followed",
            "Tapes whose status changes the daemon follows",
            tapes_followed.clone(),
        );
        registry.register(
            "tapes_created",
            "Tapes created to keep the low-water mark",
            tapes_created.clone(),
        );
        Metrics {
            gateway_api_calls,
            gateway_up,
            gateway_cache_dirty,
            gateway_upload_buffer,
            archivals,
            tapes_followed,
            tapes_created,
            moves,
            latency,
            sense_errors,
            cache_hits,
            cache_misses,
            inventory_age,
            loads,
            clients,
            requests,
            read_at: std::sync::Mutex::new(Vec::new()),
            registry,
        }
    }

    /// The clock of one library's inventory age.
    pub fn inventory_clock(&self, library: &str) -> Arc<AtomicU64> {
        let clock = Arc::new(AtomicU64::new(0));
        if let Ok(mut all) = self.read_at.lock() {
            all.push((library.to_owned(), Arc::clone(&clock)));
        }
        clock
    }

    /// The text exposition, ages computed now.
    pub fn render(&self) -> String {
        let now = epoch_ms();
        if let Ok(all) = self.read_at.lock() {
            for (library, clock) in all.iter() {
                let at = clock.load(Ordering::Relaxed);
                let age = if at == 0 {
                    -1.0
                } else {
                    now.saturating_sub(at) as f64 / 1000.0
                };
                self.inventory_age
                    .get_or_create(&LibraryLabel {
                        library: library.clone(),
                    })
                    .set(age);
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Milliseconds since the Unix epoch.
pub fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A transport that times every command and counts its sense errors.
pub struct Metered {
    inner: DynTransport,
    metrics: Arc<Metrics>,
    /// The library's serial once it is known (the first commands read it).
    library: Arc<std::sync::OnceLock<String>>,
}

impl Metered {
    /// Wraps `inner`.
    pub fn new(
        inner: DynTransport,
        metrics: Arc<Metrics>,
        library: Arc<std::sync::OnceLock<String>>,
    ) -> Metered {
        Metered {
            inner,
            metrics,
            library,
        }
    }

    fn label(&self) -> String {
        self.library
            .get()
            .cloned()
            .unwrap_or_else(|| self.inner.name().to_owned())
    }

    fn observe(&self, code: u8, took: Duration, result: &std::io::Result<Completion>) {
        self.metrics
            .latency
            .get_or_create(&OpcodeLabels {
                library: self.label(),
                opcode: opcode_label(code),
            })
            .observe(took.as_secs_f64());
        if let Ok(c) = result
            && let Some(sense) = c.decoded_sense()
        {
            self.metrics
                .sense_errors
                .get_or_create(&SenseLabels {
                    library: self.label(),
                    key: sense.key.name().to_owned(),
                    asc: format!("{:02X}h/{:02X}h", sense.asc, sense.ascq),
                })
                .inc();
        }
    }
}

/// `A5h MOVE MEDIUM`.
fn opcode_label(code: u8) -> String {
    let name = match code {
        0x00 => " TEST UNIT READY",
        0x03 => " REQUEST SENSE",
        0x07 => " INITIALIZE ELEMENT STATUS",
        0x12 => " INQUIRY",
        0x1a => " MODE SENSE(6)",
        0x1b => " LOAD UNLOAD",
        0x1e => " PREVENT ALLOW MEDIUM REMOVAL",
        0x37 => " INITIALIZE ELEMENT STATUS WITH RANGE",
        0x5a => " MODE SENSE(10)",
        0xa5 => " MOVE MEDIUM",
        0xa6 => " EXCHANGE MEDIUM",
        0xb8 => " READ ELEMENT STATUS",
        _ => "",
    };
    format!("{code:02X}h{name}")
}

impl Transport for Metered {
    fn execute(&mut self, cmd: Command<'_>) -> std::io::Result<Completion> {
        let code = opcode(&cmd);
        let started = Instant::now();
        let result = self.inner.execute(cmd);
        let took = result
            .as_ref()
            .ok()
            .and_then(|c| c.duration)
            .unwrap_or_else(|| started.elapsed());
        self.observe(code, took, &result);
        result
    }

    fn execute_many(&mut self, cmds: &mut [Command<'_>]) -> Vec<std::io::Result<Completion>> {
        let codes: Vec<u8> = cmds.iter().map(opcode).collect();
        let started = Instant::now();
        let results = self.inner.execute_many(cmds);
        let elapsed = started.elapsed();
        for (code, result) in codes.into_iter().zip(&results) {
            let took = result
                .as_ref()
                .ok()
                .and_then(|c| c.duration)
                .unwrap_or(elapsed);
            self.observe(code, took, result);
        }
        results
    }

    fn name(&self) -> &str {
        self.inner.name()
    }
}

fn opcode(cmd: &Command<'_>) -> u8 {
    cmd.cdb.first().copied().unwrap_or(0)
}
