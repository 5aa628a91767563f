//! The hooks run after retrieved or new tapes were imported: a shell command line (by default
//! a bconsole script, see `changer::gateway`), with what happened in its environment.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// What the hook is told.
#[derive(Debug, Clone)]
pub struct HookRun<'a> {
    /// `retrieved` or `created`.
    pub event: &'a str,
    /// The library's device.
    pub device: &'a str,
    /// The library's serial.
    pub serial: &'a str,
    /// The tapes, by barcode.
    pub barcodes: Vec<String>,
    /// The storage slots they were imported into (Bareos' numbers), in the same order; empty
    /// when they were not imported.
    pub slots: Vec<u16>,
}

/// Runs `command` with `/bin/sh -c`, killed after `timeout`. The outcome is logged; a failing
/// hook never undoes what the daemon did.
pub async fn run(command: &str, what: HookRun<'_>, timeout: Duration) -> Result<(), String> {
    let join = |v: Vec<String>| v.join(" ");
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .env("CHANGER_EVENT", what.event)
        .env("CHANGER_DEVICE", what.device)
        .env("CHANGER_SERIAL", what.serial)
        .env("CHANGER_BARCODES", join(what.barcodes.clone()))
        .env(
            "CHANGER_SLOTS",
            join(what.slots.iter().map(u16::to_string).collect()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the {} hook: {e}", what.event))?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let collect = async {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        if let Some(s) = out.as_mut() {
            let _ = s.read_to_end(&mut o).await;
        }
        if let Some(s) = err.as_mut() {
            let _ = s.read_to_end(&mut e).await;
        }
        let status = child.wait().await;
        (status, o, e)
    };
    let (status, stdout, stderr) = tokio::time::timeout(timeout, collect).await.map_err(|_| {
        format!(
            "the {} hook ran longer than {timeout:?} and was killed",
            what.event
        )
    })?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_owned();
    let status = status.map_err(|e| format!("the {} hook: {e}", what.event))?;
    tracing::info!(
        event = what.event,
        barcodes = %join(what.barcodes),
        status = %status,
        stdout = %text(&stdout),
        stderr = %text(&stderr),
        "hook finished"
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "the {} hook failed ({status}): {}",
            what.event,
            text(&stderr)
        ))
    }
}
