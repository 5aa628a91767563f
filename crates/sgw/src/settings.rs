//! What the daemon's configuration says about a gateway, and the fixed retry and timeout policy.

use std::time::Duration;

use crate::error::Error;

/// Attempts per API call, the first included (the SDK's standard retry mode: exponential
/// backoff with jitter, for throttling, 5xx answers, timeouts and connection failures).
/// Tape states change over hours, so retrying harder buys nothing; the caller polls again.
pub const MAX_ATTEMPTS: u32 = 3;

/// Time allowed to open a TCP (and TLS) connection. A dead endpoint fails in seconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Time allowed to one attempt, from sending the request to the end of the answer. Real
/// answers take well under a second; a gateway-scoped call may wait on the gateway itself.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed to a whole call, all attempts and backoff included (one page of a paginated
/// listing is one call).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// One gateway, as a library's `gateway` table in the configuration names it (contract C7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySettings {
    /// `arn:aws:storagegateway:<region>:<account>:gateway/sgw-…`
    pub gateway_arn: String,
    /// AWS region, e.g. `us-east-1`; used for the endpoint and for signing.
    pub region: String,
    /// Another endpoint than AWS's, e.g. `http://127.0.0.1:PORT` for the emulator.
    pub endpoint_url: Option<String>,
}

impl GatewaySettings {
    /// Refuses settings that cannot work, before any request.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let settings = |message: String| Err(Error::Settings { message });
        if !(self.gateway_arn.starts_with("arn:") && self.gateway_arn.contains(":gateway/")) {
            return settings(format!(
                "gateway_arn {:?} is not a gateway ARN \
                 (arn:aws:storagegateway:REGION:ACCOUNT:gateway/sgw-…)",
                self.gateway_arn
            ));
        }
        if self.region.trim().is_empty() || self.region.contains(char::is_whitespace) {
            return settings(format!(
                "region {:?} is not an AWS region name",
                self.region
            ));
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return settings(format!(
                "endpoint_url {url:?} must start with http:// or https://"
            ));
        }
        Ok(())
    }

    /// Where the calls go, for messages: `endpoint_url`, or AWS's endpoint for the region.
    pub(crate) fn endpoint(&self) -> String {
        match &self.endpoint_url {
            Some(url) => url.clone(),
            None => format!("https://storagegateway.{}.amazonaws.com", self.region),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(arn: &str, region: &str, endpoint: Option<&str>) -> GatewaySettings {
        GatewaySettings {
            gateway_arn: arn.into(),
            region: region.into(),
            endpoint_url: endpoint.map(Into::into),
        }
    }

    #[test]
    fn validation() {
        let arn = "arn:aws:storagegateway:us-east-1:111122223333:gateway/sgw-12A3456B";
        let good = [
            settings(arn, "us-east-1", None),
            settings(arn, "eu-west-1", Some("http://127.0.0.1:8080")),
            settings(
                arn,
                "us-east-1",
                Some("https://vpce-1.storagegateway.example"),
            ),
        ];
        for s in good {
            assert_eq!(s.validate(), Ok(()), "{s:?}");
        }
        let bad = [
            (settings("sgw-12A3456B", "us-east-1", None), "gateway_arn"),
            (settings(arn, "", None), "region"),
            (settings(arn, "us east", None), "region"),
            (
                settings(arn, "us-east-1", Some("127.0.0.1:8080")),
                "endpoint_url",
            ),
        ];
        for (s, named) in bad {
            let error = s.validate().expect_err(named);
            assert!(error.to_string().contains(named), "{error}");
        }
    }

    #[test]
    fn endpoint_for_messages() {
        let arn = "arn:aws:storagegateway:eu-west-1:111122223333:gateway/sgw-1";
        assert_eq!(
            settings(arn, "eu-west-1", None).endpoint(),
            "https://storagegateway.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            settings(arn, "eu-west-1", Some("http://127.0.0.1:1")).endpoint(),
            "http://127.0.0.1:1"
        );
    }
}
