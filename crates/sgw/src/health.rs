//! Gateway health: state, cache backlog, upload buffer — enough to refuse new exports while the
//! gateway is backed up, without CloudWatch.

use crate::error::Error;
use crate::gateway::Gateway;

/// The gateway's state and how full its cache and upload buffer are.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// `GatewayState` as AWS sends it (`RUNNING`, `SHUTDOWN`, AWS's own example says
    /// `STATE_RUNNING`).
    pub state: String,
    /// The state is `RUNNING` or `STATE_RUNNING`.
    pub running: bool,
    /// `CacheDirtyPercentage`: data written to tapes and not yet uploaded to AWS, 0–100.
    pub cache_dirty_percent: f64,
    /// `CacheUsedPercentage`, 0–100.
    pub cache_used_percent: f64,
    /// `UploadBufferUsedInBytes`.
    pub upload_buffer_used_bytes: u64,
    /// `UploadBufferAllocatedInBytes`.
    pub upload_buffer_allocated_bytes: u64,
}

impl Health {
    /// Upload buffer use in percent, 0–100; 0 when no upload buffer is allocated.
    pub fn upload_buffer_used_percent(&self) -> f64 {
        if self.upload_buffer_allocated_bytes == 0 {
            return 0.0;
        }
        // u64 → f64 loses precision only above 2^53 bytes (8 PiB), far beyond the 2 TiB
        // maximum of an upload buffer.
        let percent = self.upload_buffer_used_bytes as f64 * 100.0
            / self.upload_buffer_allocated_bytes as f64;
        percent.clamp(0.0, 100.0)
    }
}

impl Gateway {
    /// DescribeGatewayInformation, DescribeCache and DescribeUploadBuffer (3 calls, one after
    /// the other; the first error ends it).
    ///
    /// A gateway that is not connected answers the first with [`Error::NotConnected`]; the
    /// emulator and AWS do not promise that a stopped gateway answers the others.
    pub async fn health(&self) -> Result<Health, Error> {
        let gateway = self.arn.as_str();
        let information = self
            .call(
                "DescribeGatewayInformation",
                None,
                self.client
                    .describe_gateway_information()
                    .gateway_arn(gateway)
                    .send(),
            )
            .await?;
        let cache = self
            .call(
                "DescribeCache",
                None,
                self.client.describe_cache().gateway_arn(gateway).send(),
            )
            .await?;
        let buffer = self
            .call(
                "DescribeUploadBuffer",
                None,
                self.client
                    .describe_upload_buffer()
                    .gateway_arn(gateway)
                    .send(),
            )
            .await?;
        let state = information.gateway_state().unwrap_or_default().to_owned();
        Ok(Health {
            running: is_running(&state),
            state,
            cache_dirty_percent: cache.cache_dirty_percentage(),
            cache_used_percent: cache.cache_used_percentage(),
            upload_buffer_used_bytes: u64::try_from(buffer.upload_buffer_used_in_bytes())
                .unwrap_or(0),
            upload_buffer_allocated_bytes: u64::try_from(buffer.upload_buffer_allocated_in_bytes())
                .unwrap_or(0),
        })
    }
}

/// Whether a `GatewayState` means running. Both spellings occur in AWS's documentation.
pub(crate) fn is_running(state: &str) -> bool {
    matches!(state, "RUNNING" | "STATE_RUNNING")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(used: u64, allocated: u64) -> Health {
        Health {
            state: "RUNNING".into(),
            running: true,
            cache_dirty_percent: 0.0,
            cache_used_percent: 0.0,
            upload_buffer_used_bytes: used,
            upload_buffer_allocated_bytes: allocated,
        }
    }

    #[test]
    fn upload_buffer_percent() {
        let gib = 1u64 << 30;
        let cases = [
            (0, 0, 0.0),
            (5, 0, 0.0),
            (0, 150 * gib, 0.0),
            (75 * gib, 150 * gib, 50.0),
            (150 * gib, 150 * gib, 100.0),
            (2 * 150 * gib, 150 * gib, 100.0),
            (1, 4, 25.0),
        ];
        for (used, allocated, percent) in cases {
            let got = health(used, allocated).upload_buffer_used_percent();
            assert!(
                (got - percent).abs() < 1e-9,
                "{used}/{allocated}: {got} != {percent}"
            );
        }
    }

    #[test]
    fn running_states() {
        for (state, running) in [
            ("RUNNING", true),
            ("STATE_RUNNING", true),
            ("SHUTDOWN", false),
            ("STATE_SHUTDOWN", false),
            ("running", false),
            ("", false),
        ] {
            assert_eq!(is_running(state), running, "{state:?}");
        }
    }
}
