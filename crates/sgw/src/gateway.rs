//! The client: connecting, and the one path every API call takes (classification of errors,
//! the observer, tracing) and every listing takes (pagination).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region};
use aws_sdk_storagegateway::Client;
use aws_sdk_storagegateway::config::http::HttpResponse;
use aws_sdk_storagegateway::error::SdkError;
use tracing::Instrument;

use crate::error::{Call, Error, classify};
use crate::observer::{CallObserver, Outcome};
use crate::sdk_error::{self, OperationError};
use crate::settings::{
    ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, GatewaySettings, MAX_ATTEMPTS, OPERATION_TIMEOUT,
};

/// Records per page of every paginated listing (`Limit`); AWS's maximum is 100 as well.
pub(crate) const PAGE_LIMIT: i32 = 100;

/// A Storage Gateway (Tape Gateway) and the client that talks to it.
///
/// Cheap to clone: the SDK client and the observer are reference-counted.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) client: Client,
    pub(crate) arn: String,
    /// Where calls go, for error messages.
    endpoint: String,
    observer: Option<Arc<dyn CallObserver>>,
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("arn", &self.arn)
            .field("endpoint", &self.endpoint)
            .field("observer", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A client for the gateway of `settings`, with credentials from the standard AWS chain
    /// (environment, profile files, web identity, ECS, EC2 instance metadata), the settings'
    /// region and `endpoint_url`, and this crate's retry and timeout policy
    /// ([`MAX_ATTEMPTS`], [`CONNECT_TIMEOUT`], [`ATTEMPT_TIMEOUT`], [`OPERATION_TIMEOUT`]).
    ///
    /// Sends nothing: credentials are looked up at the first call, so a missing credential
    /// shows as [`Error::Credentials`] there. Fails only with [`Error::Settings`].
    pub async fn connect(
        settings: &GatewaySettings,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Result<Gateway, Error> {
        Gateway::connect_with(
            settings,
            observer,
            aws_config::defaults(BehaviorVersion::latest()),
        )
        .await
    }

    /// As [`connect`](Gateway::connect), starting from `loader` instead of
    /// `aws_config::defaults(BehaviorVersion::latest())`: the way for a test to give
    /// credentials without touching the process environment, e.g.
    /// `aws_config::defaults(BehaviorVersion::latest()).empty_test_environment().test_credentials()`.
    /// The settings' region and endpoint, and the retry and timeout policy, are applied on top
    /// of `loader`.
    pub async fn connect_with(
        settings: &GatewaySettings,
        observer: Option<Arc<dyn CallObserver>>,
        loader: ConfigLoader,
    ) -> Result<Gateway, Error> {
        settings.validate()?;
        let mut loader = loader
            .region(Region::new(settings.region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            );
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        // Without endpoint_url, AWS_ENDPOINT_URL in the environment may still redirect calls;
        // name that endpoint in messages then.
        let endpoint = config
            .endpoint_url()
            .map_or_else(|| settings.endpoint(), str::to_owned);
        tracing::debug!(gateway = %settings.gateway_arn, %endpoint, "storage gateway client ready");
        Ok(Gateway {
            client: Client::new(&config),
            arn: settings.gateway_arn.clone(),
            endpoint,
            observer,
        })
    }

    /// The gateway's ARN, as configured.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// Awaits one API call: classifies its error, tells the observer, traces it.
    pub(crate) async fn call<O, E: OperationError>(
        &self,
        operation: &'static str,
        tape: Option<&str>,
        request: impl Future<Output = Result<O, SdkError<E, HttpResponse>>>,
    ) -> Result<O, Error> {
        let started = Instant::now();
        let result = request
            .instrument(tracing::debug_span!("sgw", operation))
            .await
            .map_err(|e| {
                let call = Call {
                    operation,
                    gateway: &self.arn,
                    tape,
                    endpoint: &self.endpoint,
                };
                classify(call, sdk_error::fault(e))
            });
        let outcome = Outcome::of(&result);
        let elapsed_ms = started.elapsed().as_millis();
        match &result {
            Ok(_) => tracing::debug!(operation, elapsed_ms, "call succeeded"),
            Err(error) => tracing::debug!(operation, elapsed_ms, %error, "call failed"),
        }
        if let Some(observer) = &self.observer {
            observer.call(operation, outcome);
        }
        result
    }

    /// Collects every page of a listing. `page(marker)` makes one call (marker `None` for the
    /// first page) and returns its records and the next marker, if any.
    pub(crate) async fn paginate<T, Fut>(
        &self,
        operation: &'static str,
        mut page: impl FnMut(Option<String>) -> Fut,
    ) -> Result<Vec<T>, Error>
    where
        Fut: Future<Output = Result<(Vec<T>, Option<String>), Error>>,
    {
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let (records, next) = page(marker.clone()).await?;
            all.extend(records);
            match next {
                None => return Ok(all),
                Some(next) if next.is_empty() => return Ok(all),
                // A marker that does not move would loop forever.
                Some(next) if marker.as_deref() == Some(next.as_str()) => {
                    return Err(Error::Internal {
                        operation,
                        message: format!(
                            "the service returned the same Marker {next:?} twice, listing stopped"
                        ),
                    });
                }
                Some(next) => marker = Some(next),
            }
        }
    }
}

/// `None` for "all" (an empty list), the ARNs otherwise.
pub(crate) fn arn_filter(arns: &[String]) -> Option<Vec<String>> {
    (!arns.is_empty()).then(|| arns.to_vec())
}

/// The tape a listing is about, for messages: the only one asked for.
pub(crate) fn only(arns: &[String]) -> Option<&str> {
    match arns {
        [one] => Some(one),
        _ => None,
    }
}
