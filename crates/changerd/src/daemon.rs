//! Start-up and shut-down: open every library, bind (or inherit) the socket, tell systemd,
//! serve until SIGTERM or SIGINT, drain, release.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use changer::config::Config;
use scsi_changer::discovery::{self, Roots};
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::gateway::{Follower, Link};
use crate::metrics::Metrics;
use crate::owner::Owner;
use crate::server::{self, QUEUE_DEPTH, Route, Router};

/// Sends a state to systemd when it asked for notifications (`NOTIFY_SOCKET`); nothing
/// otherwise.
fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(cause = %e, "cannot notify the service manager");
    }
}

fn status(text: &str) {
    tracing::info!("{text}");
    notify(&[sd_notify::NotifyState::Status(text)]);
}

/// The devices to own: every `[[library]]` (by device, or by serial found in sysfs); with no
/// `[[library]]` at all, every changer sysfs knows.
fn devices(config: &Config, roots: &Roots) -> anyhow::Result<Vec<String>> {
    if config.libraries.is_empty() {
        let found: Vec<String> = discovery::scan(roots)
            .unwrap_or_default()
            .into_iter()
            .filter(discovery::ScsiDevice::is_changer)
            .map(|d| d.sg.display().to_string())
            .collect();
        return Ok(found);
    }
    let mut out = Vec::new();
    for lib in &config.libraries {
        match (&lib.device, &lib.serial) {
            (Some(device), _) => out.push(device.clone()),
            (None, Some(serial)) => {
                let found = discovery::scan(roots)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(discovery::ScsiDevice::is_changer)
                    .find(|d| discovery::cached_serial(roots, &d.sg).as_deref() == Some(serial));
                match found {
                    Some(d) => out.push(d.sg.display().to_string()),
                    None => tracing::error!(
                        serial,
                        "no changer with this serial number in sysfs; it is not served"
                    ),
                }
            }
            (None, None) => anyhow::bail!("a [[library]] names neither `device` nor `serial`"),
        }
    }
    Ok(out)
}

/// The listening socket: inherited from systemd (socket activation, `LISTEN_FDS`), else bound
/// at `path` with mode 0660 and the configured group.
fn listener(path: &Path, group: Option<&str>) -> anyhow::Result<std::os::unix::net::UnixListener> {
    let mut fds = listenfd::ListenFd::from_env();
    if let Some(l) = fds
        .take_unix_listener(0)
        .context("the socket passed by the service manager (LISTEN_FDS) is not a Unix listener")?
    {
        tracing::info!("listening on the socket passed by the service manager");
        return Ok(l);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the socket's directory {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            anyhow::bail!(
                "another changerd answers on {}; stop it first (one owner per robot)",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
    }
    // Bound in a private directory (0700, ours), given its mode and group there, then renamed
    // into place: the socket is never reachable with a wider mode or another group, whatever
    // the umask (fchmod on a socket descriptor would not change the file).
    let dir = path.parent().unwrap_or(Path::new("."));
    let private = dir.join(format!(".changerd.{}", std::process::id()));
    if private.symlink_metadata().is_ok() {
        // A previous daemon with this pid died between mkdir and rename.
        let _ = std::fs::remove_dir_all(&private);
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .with_context(|| format!("cannot create {}", private.display()))?;
    // 0700 even under a umask that takes the owner's own bits (mkdir just made it, it is ours
    // and no link: checked before the change by path).
    let made = private
        .symlink_metadata()
        .with_context(|| format!("cannot read {}", private.display()))?;
    if !made.is_dir() || made.uid() != nix::unistd::geteuid().as_raw() {
        anyhow::bail!("{} changed under changerd; not used", private.display());
    }
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set the mode of {}", private.display()))?;
    let bound = bind_private(&private, path, group);
    let _ = std::fs::remove_dir_all(&private);
    let l = bound?;
    tracing::info!(socket = %path.display(), "listening");
    Ok(l)
}

/// Binds the socket as `s` in `private`, sets mode 0660 and `group`, and renames it to `path`.
fn bind_private(
    private: &Path,
    path: &Path,
    group: Option<&str>,
) -> anyhow::Result<std::os::unix::net::UnixListener> {
    let staged = private.join("s");
    let l = std::os::unix::net::UnixListener::bind(&staged)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    if let Some(name) = group {
        let g = nix::unistd::Group::from_name(name)
            .with_context(|| format!("cannot look up group {name}"))?
            .with_context(|| format!("no group {name} (socket_group)"))?;
        nix::unistd::chown(&staged, None, Some(g.gid))
            .with_context(|| format!("cannot give {} to group {name}", path.display()))?;
    }
    std::fs::rename(&staged, path)
        .with_context(|| format!("cannot move the socket into place at {}", path.display()))?;
    Ok(l)
}

/// What `run` needs besides the configuration.
pub struct Options {
    /// The socket path (`CHANGER_SOCKET` or the `socket` key).
    pub socket: PathBuf,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(config: Config, options: Options) -> anyhow::Result<()> {
    let roots = Roots::default();
    let metrics = Arc::new(Metrics::new());
    let stopping = CancellationToken::new();
    let devices = devices(&config, &roots)?;
    // First: the gateway clients and the library threads' API calls run on it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut routes = Vec::new();
    let mut threads = Vec::new();
    let mut failures = Vec::new();
    let mut followers = Vec::new();
    for device in &devices {
        status(&format!("opening {device}"));
        let served: Vec<_> = routes
            .iter()
            .map(|r: &Route| Arc::clone(&r.shared))
            .collect();
        let mut events = None;
        let mut connect = |device: &str, serial: &str| -> anyhow::Result<Option<Arc<Link>>> {
            let Some(library) = config.library(device, Some(serial)) else {
                return Ok(None);
            };
            let Some(gateway) = &library.gateway else {
                return Ok(None);
            };
            let (link, receiver) = Link::connect(
                runtime.handle(),
                library,
                gateway,
                device,
                serial,
                Arc::clone(&metrics),
            )?;
            events = Some(receiver);
            Ok(Some(link))
        };
        match Owner::start(
            device,
            &config,
            &roots,
            Arc::clone(&metrics),
            &served,
            &mut connect,
        ) {
            Ok(owner) => {
                let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
                let shared = owner.shared();
                let gateway = owner.gateway();
                let stop = stopping.clone();
                let thread = std::thread::Builder::new()
                    .name(format!("library {}", shared.serial))
                    .spawn(move || owner.serve(jobs, stop))
                    .context("cannot start a library thread")?;
                threads.push(thread);
                if let (Some(link), Some(events)) = (&gateway, events) {
                    followers.push(Follower::new(
                        Arc::clone(link),
                        queue.clone(),
                        events,
                        stopping.clone(),
                    ));
                }
                routes.push(Route {
                    shared,
                    queue,
                    gateway,
                });
            }
            Err(e) => {
                tracing::error!(device, cause = format!("{e:#}"), "library not served");
                failures.push(format!("{device}: {e:#}"));
            }
        }
    }
    if routes.is_empty() && !devices.is_empty() {
        anyhow::bail!("no library could be opened: {}", failures.join("; "));
    }
    let std_listener = listener(&options.socket, config.socket_group.as_deref())?;
    std_listener.set_nonblocking(true)?;
    let default_budget = Duration::from_secs(config.max_changer_wait.max(1));
    let served = routes.len();
    let summary = routes
        .iter()
        .map(|r| {
            format!(
                "{} ({}, cache {})",
                r.shared.device,
                r.shared.serial,
                r.shared.mode.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    runtime.block_on(async {
        let listener = UnixListener::from_std(std_listener)?;
        let follow = tokio_util::task::TaskTracker::new();
        for follower in followers {
            follow.spawn(follower.run());
        }
        follow.close();
        if let Some(endpoint) = &config.metrics {
            serve_metrics(endpoint, Arc::clone(&metrics)).await?;
        }
        let router = Arc::new(Router::new(
            routes,
            roots,
            stopping.clone(),
            Arc::clone(&metrics),
            default_budget,
        ));
        let ready = if failures.is_empty() {
            format!(
                "serving {served} librar{}: {summary}",
                if served == 1 { "y" } else { "ies" }
            )
        } else {
            format!(
                "serving {served} of {} libraries: {summary}; not served: {}",
                devices.len(),
                failures.join("; ")
            )
        };
        tracing::info!("{ready}");
        notify(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(&ready),
        ]);
        server::run(listener, router, stopping.clone(), shutdown_signal()).await;
        stopping.cancel();
        follow.wait().await;
        anyhow::Ok(())
    })?;
    notify(&[
        sd_notify::NotifyState::Stopping,
        sd_notify::NotifyState::Status("finishing the work under way"),
    ]);
    stopping.cancel();
    // The router (and every queue sender) is gone: each thread refuses what is still queued,
    // after the robot command it is running has finished, and ends.
    for t in threads {
        let _ = t.join();
    }
    if options.socket.exists() && std::env::var_os("LISTEN_FDS").is_none() {
        let _ = std::fs::remove_file(&options.socket);
    }
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM (systemd stop) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot handle SIGTERM/SIGINT; stop the daemon with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}

/// Serves metrics on a Unix socket path or `IP:PORT`.
async fn serve_metrics(endpoint: &str, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    if let Ok(addr) = endpoint.parse::<std::net::SocketAddr>() {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for metrics on {addr}"))?;
        tracing::info!(%addr, "metrics on");
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(server::metrics_http(s, Arc::clone(&metrics)));
            }
        });
    } else {
        let path = PathBuf::from(endpoint);
        if path.exists() {
            let _ = std::fs::remove_file(&path);
        }
        let l = UnixListener::bind(&path)
            .with_context(|| format!("cannot listen for metrics on {}", path.display()))?;
        tracing::info!(path = %path.display(), "metrics on");
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(server::metrics_http(s, Arc::clone(&metrics)));
            }
        });
    }
    Ok(())
}
