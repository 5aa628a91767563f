//! Typed errors. Every message names the Storage Gateway operation and says what to do.
//!
//! [`classify`] turns a [`Fault`] (what the SDK reported, as plain data; see `sdk_error.rs`)
//! into an [`Error`]. Keeping that step free of SDK types lets the table of cases be tested
//! without a server.

use crate::settings::MAX_ATTEMPTS;

/// An error of a Storage Gateway call, after the SDK's own retries.
///
/// Messages start with the operation (`DescribeTapes: …`), are lowercase after it and carry no
/// trailing period, so a caller can chain them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The gateway is not connected to AWS (`InvalidGatewayRequestException` with errorCode
    /// `GatewayNotConnected`): the gateway VM is down, or cannot reach AWS.
    #[error(
        "{operation}: the gateway is not connected to AWS (GatewayNotConnected{}); check that \
         the gateway VM is running and that its network reaches AWS",
        said(message)
    )]
    NotConnected {
        /// The API operation, e.g. `"DescribeTapes"`.
        operation: &'static str,
        /// What AWS said.
        message: String,
    },
    /// AWS answered `ThrottlingException` (or another throttling code) to every attempt.
    #[error(
        "{operation}: AWS throttled the request on all {MAX_ATTEMPTS} attempts \
         (ThrottlingException); poll less often or try again later"
    )]
    Throttled {
        /// The API operation.
        operation: &'static str,
    },
    /// The gateway or tape does not exist (errorCode `GatewayNotFound`, `TapeCartridgeNotFound`).
    #[error(
        "{operation}: {what} was not found; check the ARN, the region and the AWS account of \
         the credentials"
    )]
    NotFound {
        /// The API operation.
        operation: &'static str,
        /// What was missing, with its ARN and the error code, e.g.
        /// `"tape arn:…:tape/AB123456 (TapeCartridgeNotFound)"`.
        what: String,
    },
    /// AWS refused the request: wrong state for the operation, invalid parameters, no
    /// permission. Repeating it unchanged fails the same way.
    #[error(
        "{operation}: AWS refused the request{}: {message}",
        code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default()
    )]
    Refused {
        /// The errorCode (e.g. `"InvalidParameters"`) or, without one, the exception name.
        code: Option<String>,
        /// The API operation.
        operation: &'static str,
        /// What AWS said, and what to check where that is known.
        message: String,
    },
    /// `InternalServerError`, or an HTTP 5xx answer.
    #[error(
        "{operation}: AWS Storage Gateway reported an internal error ({message}); try again \
         later"
    )]
    Internal {
        /// The API operation.
        operation: &'static str,
        /// What AWS said, with the error code and HTTP status.
        message: String,
    },
    /// The endpoint could not be reached or did not answer in time, or its answer could not
    /// be read.
    #[error("{operation}: {message}")]
    Transport {
        /// The API operation.
        operation: &'static str,
        /// What failed, naming the endpoint, and what to check.
        message: String,
    },
    /// No credentials could be found, or AWS rejected them.
    #[error("{operation}: {message}")]
    Credentials {
        /// The API operation that needed them.
        operation: &'static str,
        /// What failed and how to provide credentials.
        message: String,
    },
    /// The settings given to [`Gateway::connect`](crate::Gateway::connect) cannot work.
    #[error("gateway settings: {message}")]
    Settings {
        /// What is wrong, naming the setting.
        message: String,
    },
}

/// `": what AWS said"`, or nothing when AWS said nothing.
fn said(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl Error {
    /// The API operation that failed (`"DescribeTapes"`), or `"connect"` for
    /// [`Error::Settings`].
    pub fn operation(&self) -> &str {
        match self {
            Error::NotConnected { operation, .. }
            | Error::Throttled { operation }
            | Error::NotFound { operation, .. }
            | Error::Refused { operation, .. }
            | Error::Internal { operation, .. }
            | Error::Transport { operation, .. }
            | Error::Credentials { operation, .. } => operation,
            Error::Settings { .. } => "connect",
        }
    }

    /// Trying the same call again later may succeed: the gateway was not connected, AWS
    /// throttled or failed internally, or the network failed. The SDK has already retried
    /// what it could; this is for the caller's next poll, not for an immediate loop.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::NotConnected { .. }
                | Error::Throttled { .. }
                | Error::Internal { .. }
                | Error::Transport { .. }
        )
    }
}

/// Which call failed, for the messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// The API operation.
    pub operation: &'static str,
    /// The gateway ARN of the [`Gateway`](crate::Gateway).
    pub gateway: &'a str,
    /// The tape the call is about, when it is about one.
    pub tape: Option<&'a str>,
    /// The endpoint: `endpoint_url`, or the AWS one for the region.
    pub endpoint: &'a str,
}

/// What went wrong, as read from the SDK's error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fault {
    /// The service answered with an error.
    Service {
        /// The exception name (`__type`), e.g. `InvalidGatewayRequestException`.
        exception: Option<String>,
        /// `error.errorCode` of the modeled exceptions, e.g. `GatewayNotConnected`.
        error_code: Option<String>,
        /// The exception's message.
        message: Option<String>,
        /// HTTP status of the answer.
        status: u16,
    },
    /// The credentials chain gave nothing (no request was sent).
    Credentials(String),
    /// No answer in time (operation or last attempt timeout).
    Timeout(String),
    /// The request could not be sent or its answer not received.
    Dispatch(String),
    /// An answer arrived but could not be read.
    Response {
        /// HTTP status of the answer.
        status: u16,
        /// Why it could not be read.
        detail: String,
    },
    /// The request could not be built.
    Construction(String),
}

/// Exception names the SDK's standard retry treats as throttling (aws-runtime
/// `retries::classifiers::THROTTLING_ERRORS`); after the retries they mean [`Error::Throttled`].
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Exceptions of AWS's common errors that mean the credentials were rejected, not the request.
const REJECTED_CREDENTIALS: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "IncompleteSignature",
    "IncompleteSignatureException",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "SignatureDoesNotMatch",
];

/// How to give this crate credentials, for the messages.
const CREDENTIALS_HINT: &str = "give credentials the standard AWS way: AWS_ACCESS_KEY_ID and \
                                AWS_SECRET_ACCESS_KEY, AWS_PROFILE with ~/.aws/credentials, or \
                                an instance role";

/// Turns what the SDK reported into an [`Error`].
pub(crate) fn classify(call: Call<'_>, fault: Fault) -> Error {
    let operation = call.operation;
    let endpoint = call.endpoint;
    match fault {
        Fault::Service {
            exception,
            error_code,
            message,
            status,
        } => service_error(
            call,
            exception,
            error_code,
            message.unwrap_or_default(),
            status,
        ),
        Fault::Credentials(detail) => Error::Credentials {
            operation,
            message: format!("no AWS credentials found ({detail}); {CREDENTIALS_HINT}"),
        },
        Fault::Timeout(detail) => Error::Transport {
            operation,
            message: format!(
                "no answer from {endpoint} in time ({detail}); check endpoint_url, the network \
                 and any proxy"
            ),
        },
        Fault::Dispatch(detail) => Error::Transport {
            operation,
            message: format!(
                "cannot reach {endpoint} ({detail}); check endpoint_url, the network and any \
                 proxy"
            ),
        },
        Fault::Response { status: 429, .. } => Error::Throttled { operation },
        Fault::Response { status, detail } if status >= 500 => Error::Internal {
            operation,
            message: format!("HTTP {status}, unreadable answer: {detail}"),
        },
        Fault::Response { status, detail } => Error::Transport {
            operation,
            message: format!(
                "the answer from {endpoint} is not a Storage Gateway answer (HTTP {status}: \
                 {detail}); check that endpoint_url points at AWS Storage Gateway"
            ),
        },
        Fault::Construction(detail) => Error::Refused {
            operation,
            code: None,
            message: format!(
                "the request could not be built ({detail}); check the region and endpoint_url"
            ),
        },
    }
}

fn service_error(
    call: Call<'_>,
    exception: Option<String>,
    error_code: Option<String>,
    message: String,
    status: u16,
) -> Error {
    let operation = call.operation;
    let exception_is = |name: &str| exception.as_deref() == Some(name);
    if exception_is("InvalidGatewayRequestException") {
        return match error_code.as_deref() {
            Some("GatewayNotConnected") => Error::NotConnected { operation, message },
            Some("GatewayNotFound") => Error::NotFound {
                operation,
                what: format!("gateway {} (GatewayNotFound)", call.gateway),
            },
            Some("TapeCartridgeNotFound") => Error::NotFound {
                operation,
                what: match call.tape {
                    Some(tape) => format!("tape {tape} (TapeCartridgeNotFound)"),
                    None => format!("a tape of the request (TapeCartridgeNotFound: {message})"),
                },
            },
            _ => Error::Refused {
                operation,
                code: error_code.or(exception),
                message,
            },
        };
    }
    if exception_is("InternalServerError") {
        let code = error_code.map(|c| format!(", {c}")).unwrap_or_default();
        return Error::Internal {
            operation,
            message: format!("InternalServerError{code}, HTTP {status}{}", said(&message)),
        };
    }
    if status == 429
        || exception
            .as_deref()
            .is_some_and(|e| THROTTLING.contains(&e))
    {
        return Error::Throttled { operation };
    }
    if let Some(rejected) = exception
        .as_deref()
        .filter(|e| REJECTED_CREDENTIALS.contains(e))
    {
        return Error::Credentials {
            operation,
            message: format!(
                "AWS rejected the credentials ({rejected}{}); check the access key, secret and \
                 session token, and the system clock; {CREDENTIALS_HINT}",
                said(&message)
            ),
        };
    }
    if exception_is("AccessDeniedException") {
        return Error::Refused {
            operation,
            code: exception,
            message: format!(
                "{message}; the IAM policy of these credentials must allow \
                 storagegateway:{operation}"
            ),
        };
    }
    if status >= 500 {
        let name = exception.unwrap_or_else(|| "no exception name".to_owned());
        return Error::Internal {
            operation,
            message: format!("{name}, HTTP {status}{}", said(&message)),
        };
    }
    Error::Refused {
        operation,
        code: exception,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATEWAY: &str = "arn:aws:storagegateway:us-east-1:111122223333:gateway/sgw-12A3456B";
    const TAPE: &str = "arn:aws:storagegateway:us-east-1:111122223333:tape/AB123456";

    fn call(operation: &'static str, tape: Option<&'static str>) -> Call<'static> {
        Call {
            operation,
            gateway: GATEWAY,
            tape,
            endpoint: "http://127.0.0.1:9",
        }
    }

    fn service(exception: &str, error_code: Option<&str>, message: &str, status: u16) -> Fault {
        Fault::Service {
            exception: Some(exception.to_owned()),
            error_code: error_code.map(str::to_owned),
            message: Some(message.to_owned()),
            status,
        }
    }

    #[test]
    fn classification_table() {
        let igre = "InvalidGatewayRequestException";
        let cases: Vec<(&str, Call<'_>, Fault, Error)> = vec![
            (
                "not connected",
                call("DescribeCache", None),
                service(
                    igre,
                    Some("GatewayNotConnected"),
                    "The gateway is not connected.",
                    400,
                ),
                Error::NotConnected {
                    operation: "DescribeCache",
                    message: "The gateway is not connected.".into(),
                },
            ),
            (
                "gateway not found",
                call("DescribeTapes", None),
                service(
                    igre,
                    Some("GatewayNotFound"),
                    "The specified gateway was not found.",
                    400,
                ),
                Error::NotFound {
                    operation: "DescribeTapes",
                    what: format!("gateway {GATEWAY} (GatewayNotFound)"),
                },
            ),
            (
                "tape not found, one tape",
                call("RetrieveTapeArchive", Some(TAPE)),
                service(igre, Some("TapeCartridgeNotFound"), "not found", 400),
                Error::NotFound {
                    operation: "RetrieveTapeArchive",
                    what: format!("tape {TAPE} (TapeCartridgeNotFound)"),
                },
            ),
            (
                "tape not found, a list",
                call("DescribeTapeArchives", None),
                service(igre, Some("TapeCartridgeNotFound"), "no such tape", 400),
                Error::NotFound {
                    operation: "DescribeTapeArchives",
                    what: "a tape of the request (TapeCartridgeNotFound: no such tape)".into(),
                },
            ),
            (
                "wrong state",
                call("CancelArchival", Some(TAPE)),
                service(
                    igre,
                    Some("InvalidParameters"),
                    "The tape is not in transit.",
                    400,
                ),
                Error::Refused {
                    operation: "CancelArchival",
                    code: Some("InvalidParameters".into()),
                    message: "The tape is not in transit.".into(),
                },
            ),
            (
                "invalid request without an errorCode",
                call("CreateTapes", None),
                service(igre, None, "bad", 400),
                Error::Refused {
                    operation: "CreateTapes",
                    code: Some(igre.into()),
                    message: "bad".into(),
                },
            ),
            (
                "internal server error, 500",
                call("ListTapes", None),
                service("InternalServerError", Some("InternalError"), "boom", 500),
                Error::Internal {
                    operation: "ListTapes",
                    message: "InternalServerError, InternalError, HTTP 500: boom".into(),
                },
            ),
            (
                "internal server error, 400",
                call("ListTapes", None),
                service("InternalServerError", None, "", 400),
                Error::Internal {
                    operation: "ListTapes",
                    message: "InternalServerError, HTTP 400".into(),
                },
            ),
            (
                "throttled",
                call("ListTapes", None),
                service("ThrottlingException", None, "Rate exceeded.", 400),
                Error::Throttled {
                    operation: "ListTapes",
                },
            ),
            (
                "429 without a name",
                call("ListTapes", None),
                Fault::Service {
                    exception: None,
                    error_code: None,
                    message: None,
                    status: 429,
                },
                Error::Throttled {
                    operation: "ListTapes",
                },
            ),
            (
                "unknown 503",
                call("ListTapes", None),
                service("ServiceUnavailable", None, "down", 503),
                Error::Internal {
                    operation: "ListTapes",
                    message: "ServiceUnavailable, HTTP 503: down".into(),
                },
            ),
            (
                "validation",
                call("ListTapes", None),
                service("ValidationException", None, "Limit too big", 400),
                Error::Refused {
                    operation: "ListTapes",
                    code: Some("ValidationException".into()),
                    message: "Limit too big".into(),
                },
            ),
        ];
        for (name, call, fault, expected) in cases {
            assert_eq!(classify(call, fault), expected, "{name}");
        }
    }

    #[test]
    fn credentials_transport_and_construction() {
        let c = call("DescribeTapes", None);
        let missing = classify(c, Fault::Credentials("no providers in chain".into()));
        assert!(matches!(
            missing,
            Error::Credentials {
                operation: "DescribeTapes",
                ..
            }
        ));
        assert!(
            missing.to_string().contains("AWS_ACCESS_KEY_ID"),
            "{missing}"
        );
        assert!(!missing.is_transient());

        let rejected = classify(
            c,
            service("UnrecognizedClientException", None, "bad token", 400),
        );
        assert!(
            matches!(rejected, Error::Credentials { .. }),
            "{rejected:?}"
        );
        assert!(
            rejected.to_string().contains("rejected the credentials"),
            "{rejected}"
        );

        let denied = classify(
            c,
            service("AccessDeniedException", None, "User is not authorized", 400),
        );
        assert!(
            denied.to_string().contains("storagegateway:DescribeTapes"),
            "{denied}"
        );

        for fault in [
            Fault::Timeout("timed out".into()),
            Fault::Dispatch("Connection refused (os error 111)".into()),
            Fault::Response {
                status: 200,
                detail: "not JSON".into(),
            },
        ] {
            let error = classify(c, fault.clone());
            assert!(
                matches!(error, Error::Transport { .. }),
                "{fault:?} -> {error:?}"
            );
            assert!(error.to_string().contains("http://127.0.0.1:9"), "{error}");
            assert!(error.is_transient());
        }
        let gateway_page = classify(
            c,
            Fault::Response {
                status: 502,
                detail: "HTML".into(),
            },
        );
        assert!(
            matches!(gateway_page, Error::Internal { .. }),
            "{gateway_page:?}"
        );

        let built = classify(c, Fault::Construction("missing field".into()));
        assert!(
            matches!(built, Error::Refused { code: None, .. }),
            "{built:?}"
        );
    }

    #[test]
    fn messages_name_the_operation_and_what_to_do() {
        let not_connected = Error::NotConnected {
            operation: "DescribeCache",
            message: String::new(),
        };
        assert_eq!(
            not_connected.to_string(),
            "DescribeCache: the gateway is not connected to AWS (GatewayNotConnected); check \
             that the gateway VM is running and that its network reaches AWS"
        );
        assert_eq!(
            Error::Throttled {
                operation: "ListTapes"
            }
            .to_string(),
            "ListTapes: AWS throttled the request on all 3 attempts (ThrottlingException); \
             poll less often or try again later"
        );
        assert_eq!(
            Error::Refused {
                operation: "CancelArchival",
                code: Some("InvalidParameters".into()),
                message: "The tape is not in transit.".into()
            }
            .to_string(),
            "CancelArchival: AWS refused the request (InvalidParameters): The tape is not in transit."
        );
        let settings = Error::Settings {
            message: "region is empty".into(),
        };
        assert_eq!(settings.operation(), "connect");
        assert_eq!(settings.to_string(), "gateway settings: region is empty");
    }

    #[test]
    fn transient_errors() {
        let op = "ListTapes";
        let table = [
            (
                Error::NotConnected {
                    operation: op,
                    message: String::new(),
                },
                true,
            ),
            (Error::Throttled { operation: op }, true),
            (
                Error::Internal {
                    operation: op,
                    message: String::new(),
                },
                true,
            ),
            (
                Error::Transport {
                    operation: op,
                    message: String::new(),
                },
                true,
            ),
            (
                Error::NotFound {
                    operation: op,
                    what: String::new(),
                },
                false,
            ),
            (
                Error::Refused {
                    operation: op,
                    code: None,
                    message: String::new(),
                },
                false,
            ),
            (
                Error::Credentials {
                    operation: op,
                    message: String::new(),
                },
                false,
            ),
            (
                Error::Settings {
                    message: String::new(),
                },
                false,
            ),
        ];
        for (error, transient) in table {
            assert_eq!(error.is_transient(), transient, "{error:?}");
            if !matches!(error, Error::Settings { .. }) {
                assert_eq!(error.operation(), op);
            }
        }
    }
}
