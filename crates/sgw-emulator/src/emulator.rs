//! Starting and stopping: the world, an HTTP server on its own thread (a current-thread tokio
//! runtime, so the emulator runs the same from plain tests, async tests and the binary), and a
//! ticker thread that advances time and looks at the shared library file.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::api::lock;
use crate::gateway::{Gateway, GatewayArnError};
use crate::library::LibraryLink;
use crate::options::{Options, SeedError, SeedStatus, SeedTape, parse_barcode};
use crate::tape::TapeView;
use crate::world::{ControlError, Faults, World};

/// Why an emulator did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Contract C7: nothing off 127.0.0.1.
    #[error(
        "refusing to listen on {addr}: the emulator listens on a loopback address only (127.0.0.1 or ::1)"
    )]
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The gateway ARN is not one.
    #[error(transparent)]
    GatewayArn(#[from] GatewayArnError),
    /// A barcode of `new_barcodes` is not one AWS accepts.
    #[error("new tape barcodes: {0}")]
    NewBarcode(SeedError),
    /// The library file cannot be opened, read or written.
    #[error("cannot share the library file {}: {source}", path.display())]
    Library {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: scsi_changer::Error,
    },
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A thread or the runtime could not be created.
    #[error("cannot start the emulator's {what}: {source}")]
    Runtime {
        /// Which part.
        what: &'static str,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// The AWS Storage Gateway emulator. [`Emulator::start`] runs one.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Starts an emulator: seeds its tapes, takes its first look at the library file, binds
    /// the address and serves until the returned [`Running`] is shut down or dropped.
    pub fn start(options: Options) -> Result<Running, StartError> {
        if !options.listen.ip().is_loopback() {
            return Err(StartError::NotLoopback {
                addr: options.listen,
            });
        }
        let gateway = Gateway::parse(&options.gateway_arn, options.region.as_deref())?;
        let now = Instant::now();
        let mut world = World::new(gateway, options.delays, options.library.is_some());
        let mut link = match &options.library {
            Some(path) => {
                let library_error = |source| StartError::Library {
                    path: path.clone(),
                    source,
                };
                let link = LibraryLink::open(path).map_err(library_error)?;
                if options.seed_from_library {
                    for barcode in link.barcodes().map_err(library_error)? {
                        world.seed(
                            &SeedTape {
                                barcode,
                                status: SeedStatus::Available,
                            },
                            now,
                        );
                    }
                }
                Some(link)
            }
            None => None,
        };
        for seed in &options.tapes {
            world.seed(seed, now);
        }
        for barcode in &options.new_barcodes {
            parse_barcode(barcode).map_err(StartError::NewBarcode)?;
            if world.barcode_used(barcode) {
                tracing::warn!(%barcode, "a new tape barcode is a tape already; CreateTapes will not hand it out");
            }
        }
        world.set_new_barcodes(options.new_barcodes.clone());
        let world = Arc::new(Mutex::new(world));
        if let (Some(link), Some(path)) = (link.as_mut(), &options.library) {
            link.poll(&world).map_err(|source| StartError::Library {
                path: path.clone(),
                source,
            })?;
        }

        let listener = TcpListener::bind(options.listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| StartError::Listen {
                addr: options.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: options.listen,
            source,
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|source| StartError::Runtime {
                what: "runtime",
                source,
            })?;

        let (stop_server, stopped) = oneshot::channel();
        let server_world = Arc::clone(&world);
        let server = std::thread::Builder::new()
            .name("sgw-emulator-http".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => crate::server::serve(listener, server_world, stopped).await,
                        Err(e) => tracing::error!(error = %e, "cannot listen"),
                    }
                });
            })
            .map_err(|source| StartError::Runtime {
                what: "HTTP thread",
                source,
            })?;
        // From here on, dropping `running` stops what was started.
        let mut running = Running {
            addr,
            gateway_arn: options.gateway_arn.clone(),
            world: Arc::clone(&world),
            stop: Some(Stop {
                server: stop_server,
                server_thread: server,
                ticker: None,
            }),
        };
        let (stop_ticker, ticker_stopped) = mpsc::channel::<()>();
        let poll = options.poll;
        let ticker = std::thread::Builder::new()
            .name("sgw-emulator-ticker".into())
            .spawn(move || {
                // Until told to stop (or the sender is gone with its `Running`).
                while let Err(RecvTimeoutError::Timeout) = ticker_stopped.recv_timeout(poll) {
                    match link.as_mut() {
                        // Failures are logged by the link; the next look retries.
                        Some(link) => {
                            let _ = link.poll(&world);
                        }
                        None => lock(&world).advance(Instant::now()),
                    }
                }
            })
            .map_err(|source| StartError::Runtime {
                what: "ticker thread",
                source,
            })?;
        if let Some(stop) = running.stop.as_mut() {
            stop.ticker = Some((stop_ticker, ticker));
        }
        tracing::info!(%addr, gateway = %options.gateway_arn, library = ?options.library, "emulator listening");
        Ok(running)
    }
}

struct Stop {
    server: oneshot::Sender<()>,
    server_thread: JoinHandle<()>,
    ticker: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

/// A running emulator. Dropping it stops it (as [`Running::shutdown`] does).
pub struct Running {
    addr: SocketAddr,
    gateway_arn: String,
    world: Arc<Mutex<World>>,
    stop: Option<Stop>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .field("gateway_arn", &self.gateway_arn)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL to give an SDK (`endpoint_url`): `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The emulated gateway's ARN.
    pub fn gateway_arn(&self) -> &str {
        &self.gateway_arn
    }

    /// AWS calls answered so far per operation, throttled and failed ones included (the
    /// `Calls` control operation).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.world)
            .calls()
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect()
    }

    /// Starts the call counts again at zero.
    pub fn reset_calls(&self) {
        lock(&self.world).reset_calls();
    }

    /// Every tape with its status and place (the `State` control operation).
    pub fn tapes(&self) -> Vec<TapeView> {
        let mut world = lock(&self.world);
        world.advance(Instant::now());
        world.tapes().map(|t| t.view()).collect()
    }

    /// Changes the faults (the `SetFaults` control operation).
    pub fn update_faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut lock(&self.world).faults);
    }

    /// The backup application exported `barcode` (the `Eject` control operation).
    pub fn eject(&self, barcode: &str) -> Result<(), ControlError> {
        let mut world = lock(&self.world);
        let now = Instant::now();
        world.advance(now);
        world.eject(barcode, now)
    }

    /// Stops accepting connections, closes the open ones and stops the ticker; returns when
    /// the emulator's threads have ended.
    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        let Some(stop) = self.stop.take() else {
            return;
        };
        // A send fails only when the receiver is gone: that thread has ended already.
        let _ = stop.server.send(());
        if let Some((tx, thread)) = stop.ticker {
            let _ = tx.send(());
            if thread.join().is_err() {
                tracing::error!("the emulator's ticker thread panicked");
            }
        }
        if stop.server_thread.join().is_err() {
            tracing::error!("the emulator's HTTP thread panicked");
        }
        tracing::info!(addr = %self.addr, "emulator stopped");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop_threads();
    }
}
