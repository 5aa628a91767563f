//! The client: connecting, and the one path every API call takes (classification of errors,
//! the observer, tracing) and every listing takes (pagination).

use std::collections::HashSet;
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
        // Markers already followed: a service that hands one out again would loop forever.
        let mut followed = HashSet::new();
        loop {
            let (records, next) = page(marker.clone()).await?;
            all.extend(records);
            match next {
                None => return Ok(all),
                Some(next) if next.is_empty() => return Ok(all),
                Some(next) if !followed.insert(next.clone()) => {
                    return Err(Error::Internal {
                        operation,
                        message: format!(
                            "the service returned Marker {next:?} a second time; listing stopped (it would never end)"
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A client that is never used to send: `paginate` and `call` are tested with futures of
    /// their own.
    async fn offline_gateway(observer: Option<Arc<dyn CallObserver>>) -> Gateway {
        let settings = GatewaySettings {
            gateway_arn: "arn:aws:storagegateway:us-east-1:111122223333:gateway/sgw-1".into(),
            region: "us-east-1".into(),
            endpoint_url: Some("http://127.0.0.1:9".into()),
        };
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .empty_test_environment()
            .test_credentials();
        Gateway::connect_with(&settings, observer, loader)
            .await
            .expect("offline client")
    }

    #[tokio::test]
    async fn pages_are_followed_until_no_marker() {
        let gateway = offline_gateway(None).await;
        let asked = Mutex::new(Vec::new());
        let all = gateway
            .paginate("ListTapes", |marker| {
                asked.lock().unwrap().push(marker.clone());
                async move {
                    Ok(match marker.as_deref() {
                        None => (vec![1, 2], Some("a".to_owned())),
                        Some("a") => (vec![3], Some("b".to_owned())),
                        _ => (vec![4], Some(String::new())),
                    })
                }
            })
            .await;
        assert_eq!(all, Ok(vec![1, 2, 3, 4]));
        assert_eq!(
            *asked.lock().unwrap(),
            [None, Some("a".into()), Some("b".into())]
        );
    }

    #[tokio::test]
    async fn a_marker_seen_before_stops_the_listing() {
        let gateway = offline_gateway(None).await;
        let result: Result<Vec<u8>, Error> = gateway
            .paginate("ListTapes", |marker| async move {
                // a → b → a → …
                let next = if marker.as_deref() == Some("a") {
                    "b"
                } else {
                    "a"
                };
                Ok((vec![1], Some(next.to_owned())))
            })
            .await;
        let error = result.expect_err("endless listing");
        assert!(
            matches!(
                error,
                Error::Internal {
                    operation: "ListTapes",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("a second time"), "{error}");
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(&'static str, Outcome)>>);

    impl CallObserver for Recorder {
        fn call(&self, operation: &'static str, outcome: Outcome) {
            self.0.lock().unwrap().push((operation, outcome));
        }
    }

    #[tokio::test]
    async fn observer_sees_each_call_once_with_its_outcome() {
        let recorder = Arc::new(Recorder::default());
        let gateway = offline_gateway(Some(recorder.clone())).await;
        type Sdk =
            SdkError<aws_sdk_storagegateway::operation::list_tapes::ListTapesError, HttpResponse>;
        let ok = gateway
            .call("ListTapes", None, async { Ok::<_, Sdk>(()) })
            .await;
        assert_eq!(ok, Ok(()));
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let failed = gateway
            .call("ListTapes", None, async {
                Err::<(), _>(Sdk::dispatch_failure(
                    aws_sdk_storagegateway::error::ConnectorError::io(refused.into()),
                ))
            })
            .await;
        assert!(matches!(failed, Err(Error::Transport { .. })), "{failed:?}");
        assert!(
            failed
                .unwrap_err()
                .to_string()
                .contains("http://127.0.0.1:9")
        );
        assert_eq!(
            *recorder.0.lock().unwrap(),
            [("ListTapes", Outcome::Ok), ("ListTapes", Outcome::Error)]
        );
    }

    #[test]
    fn outcome_labels() {
        assert_eq!(Outcome::of::<()>(&Ok(())), Outcome::Ok);
        assert_eq!(
            Outcome::of::<()>(&Err(Error::Throttled { operation: "X" })),
            Outcome::Throttled
        );
        assert_eq!(Outcome::Throttled.as_str(), "throttled");
    }

    fn assert_send<T: Send>(_: &T) {}

    /// The daemon spawns these on a multi-threaded runtime: every future must be Send.
    #[tokio::test]
    async fn every_operation_can_be_spawned() {
        let gateway = offline_gateway(Some(Arc::new(Recorder::default()))).await;
        let arns = vec!["arn".to_owned()];
        let spec = crate::NewTapes {
            prefix: "AB".into(),
            size_bytes: 1,
            count: 1,
            pool_id: None,
            client_token: "token".into(),
        };
        assert_send(&gateway.health());
        assert_send(&gateway.describe_tapes(&arns));
        assert_send(&gateway.list_tapes(&arns));
        assert_send(&gateway.describe_tape_archives(&arns));
        assert_send(&gateway.vtl_devices());
        assert_send(&gateway.retrieve_tape_archive("arn"));
        assert_send(&gateway.cancel_archival("arn"));
        assert_send(&gateway.cancel_retrieval("arn"));
        assert_send(&gateway.create_tapes(&spec));
        assert_send(&gateway.create_tape_with_barcode("AB00001", 1, None));
        assert_send(&gateway.delete_tape("arn"));
        assert_send(&gateway.delete_tape_archive("arn"));
        assert_send(&Gateway::connect(
            &GatewaySettings {
                gateway_arn: String::new(),
                region: String::new(),
                endpoint_url: None,
            },
            None,
        ));
        fn sync_and_send<T: Send + Sync + Clone + 'static>() {}
        sync_and_send::<Gateway>();
        sync_and_send::<Error>();
    }

    #[tokio::test]
    async fn bad_settings_are_refused_before_anything() {
        let settings = GatewaySettings {
            gateway_arn: "sgw-1".into(),
            region: "us-east-1".into(),
            endpoint_url: None,
        };
        let error = Gateway::connect(&settings, None)
            .await
            .expect_err("not an ARN");
        assert!(matches!(error, Error::Settings { .. }), "{error:?}");
    }
}
