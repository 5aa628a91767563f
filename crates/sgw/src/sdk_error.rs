//! Reads an SDK error into a [`Fault`]: which exception and errorCode the service answered, or
//! what failed before an answer arrived.

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_storagegateway::config::http::HttpResponse;
use aws_sdk_storagegateway::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_storagegateway::operation;
use aws_sdk_storagegateway::types::error::{InternalServerError, InvalidGatewayRequestException};

use crate::error::Fault;

/// The two exceptions every Storage Gateway operation models.
pub(crate) enum Modeled<'a> {
    InvalidRequest(&'a InvalidGatewayRequestException),
    Internal(&'a InternalServerError),
    /// Not modeled: throttling and AWS's other common errors (read by code).
    Other,
}

/// The per-operation error enums of the SDK, seen through what they all have in common.
pub(crate) trait OperationError:
    ProvideErrorMetadata + StdError + Send + Sync + 'static
{
    fn modeled(&self) -> Modeled<'_>;
}

macro_rules! operation_errors {
    ($($error:ty),+ $(,)?) => {$(
        impl OperationError for $error {
            fn modeled(&self) -> Modeled<'_> {
                match self {
                    Self::InvalidGatewayRequestException(e) => Modeled::InvalidRequest(e),
                    Self::InternalServerError(e) => Modeled::Internal(e),
                    _ => Modeled::Other,
                }
            }
        }
    )+};
}

operation_errors!(
    operation::describe_gateway_information::DescribeGatewayInformationError,
    operation::describe_cache::DescribeCacheError,
    operation::describe_upload_buffer::DescribeUploadBufferError,
    operation::describe_tapes::DescribeTapesError,
    operation::list_tapes::ListTapesError,
    operation::describe_tape_archives::DescribeTapeArchivesError,
    operation::retrieve_tape_archive::RetrieveTapeArchiveError,
    operation::cancel_archival::CancelArchivalError,
    operation::cancel_retrieval::CancelRetrievalError,
    operation::create_tapes::CreateTapesError,
    operation::create_tape_with_barcode::CreateTapeWithBarcodeError,
    operation::delete_tape::DeleteTapeError,
    operation::delete_tape_archive::DeleteTapeArchiveError,
    operation::describe_vtl_devices::DescribeVTLDevicesError,
);

/// What the SDK's error says happened.
pub(crate) fn fault<E: OperationError>(error: SdkError<E, HttpResponse>) -> Fault {
    // The credentials chain fails inside the attempt, before sending; the SDK reports that as
    // a dispatch failure wrapping the chain's error. Look for it first, whatever the wrapper.
    if let Some(credentials) = find::<CredentialsError>(&error) {
        return Fault::Credentials(chain(credentials));
    }
    match error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let error = service.err();
            let (exception, error_code, message) = match error.modeled() {
                Modeled::InvalidRequest(e) => (
                    Some("InvalidGatewayRequestException"),
                    e.error()
                        .and_then(|d| d.error_code())
                        .map(|c| c.as_str().to_owned()),
                    e.message(),
                ),
                Modeled::Internal(e) => (
                    Some("InternalServerError"),
                    e.error()
                        .and_then(|d| d.error_code())
                        .map(|c| c.as_str().to_owned()),
                    e.message(),
                ),
                // No exception name: the body was not a Storage Gateway answer at all (a
                // proxy's or web server's page, or a success that is not JSON).
                Modeled::Other if error.code().is_none() => {
                    return Fault::Response {
                        status,
                        detail: sources(error),
                    };
                }
                Modeled::Other => (error.code(), None, error.message()),
            };
            Fault::Service {
                exception: exception.map(str::to_owned),
                error_code,
                message: message.map(str::to_owned),
                status,
            }
        }
        SdkError::TimeoutError(_) => Fault::Timeout(sources(&error)),
        SdkError::DispatchFailure(_) => Fault::Dispatch(sources(&error)),
        SdkError::ResponseError(ref response) => Fault::Response {
            status: response.raw().status().as_u16(),
            detail: sources(&error),
        },
        SdkError::ConstructionFailure(_) => Fault::Construction(sources(&error)),
        // SdkError is non-exhaustive; a kind added later is at worst a transport problem.
        _ => Fault::Dispatch(chain(&error)),
    }
}

/// The first error of type `T` in `error`'s source chain, `error` included.
fn find<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        next = current.source();
    }
    None
}

/// The messages of `error`'s sources, without `error`'s own (the SDK's kind, like "dispatch
/// failure", which the [`Fault`] already says).
fn sources(error: &(dyn StdError + 'static)) -> String {
    match error.source() {
        Some(source) => chain(source),
        None => error.to_string(),
    }
}

/// The messages of `error` and its sources joined with ": ", each once (wrappers often repeat
/// their source's message).
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        let text = current.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_storagegateway::error::ConnectorError;
    use aws_sdk_storagegateway::operation::describe_tapes::DescribeTapesError;

    #[test]
    fn missing_credentials_are_found_under_the_dispatch_failure() {
        let chain_error =
            CredentialsError::not_loaded("no providers in chain provided credentials");
        let error: SdkError<DescribeTapesError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(chain_error.into(), None));
        match fault(error) {
            Fault::Credentials(detail) => assert!(detail.contains("no providers"), "{detail}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn connection_failure_is_dispatch() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let error: SdkError<DescribeTapesError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(io.into()));
        match fault(error) {
            Fault::Dispatch(detail) => assert!(detail.contains("Connection refused"), "{detail}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn chain_drops_repeats() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "wrapped: {}", self.0)
            }
        }
        impl StdError for Wrapper {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let error = Wrapper(std::io::Error::other("timed out"));
        assert_eq!(chain(&error), "wrapped: timed out");
    }
}
