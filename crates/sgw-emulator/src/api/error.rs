//! Errors as AWS sends them (aws-sgw.md §3.4): HTTP status, `__type`, `message`, and for the
//! modeled exceptions `error.errorCode`.

use serde_json::{Value, json};

/// The exception names the emulator answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exception {
    /// Modeled, HTTP 400, carries an `errorCode`.
    InvalidGatewayRequest,
    /// Modeled, carries an `errorCode`; HTTP 500 per the user guide, 400 per the API pages.
    InternalServerError,
    /// Generic, HTTP 400, message "Rate exceeded.".
    Throttling,
    /// Generic, HTTP 400: a member breaks the model's constraints.
    Validation,
    /// Generic, HTTP 400: the body is not the JSON the operation takes.
    Serialization,
    /// Generic, HTTP 400: no such operation.
    UnknownOperation,
}

impl Exception {
    fn name(self) -> &'static str {
        match self {
            Exception::InvalidGatewayRequest => "InvalidGatewayRequestException",
            Exception::InternalServerError => "InternalServerError",
            Exception::Throttling => "ThrottlingException",
            Exception::Validation => "ValidationException",
            Exception::Serialization => "SerializationException",
            Exception::UnknownOperation => "UnknownOperationException",
        }
    }
}

/// One error answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} ({}): {message}", exception.name(), code.unwrap_or("-"))]
pub(crate) struct ApiError {
    pub exception: Exception,
    pub status: u16,
    pub message: String,
    /// `error.errorCode` (model `ErrorCode`), for the modeled exceptions.
    pub code: Option<&'static str>,
}

impl ApiError {
    fn new(exception: Exception, status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            exception,
            status,
            message: message.into(),
            code: None,
        }
    }

    fn gateway(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code: Some(code),
            ..ApiError::new(Exception::InvalidGatewayRequest, 400, message)
        }
    }

    /// The GatewayARN is not the emulated gateway's.
    pub fn gateway_not_found() -> ApiError {
        ApiError::gateway("GatewayNotFound", "The specified gateway was not found.")
    }

    /// The gateway is disconnected (fault `Disconnected`).
    pub fn gateway_not_connected() -> ApiError {
        ApiError::gateway(
            "GatewayNotConnected",
            "The specified gateway is not connected.",
        )
    }

    /// No such tape where the operation looks.
    pub fn tape_not_found(message: impl Into<String>) -> ApiError {
        ApiError::gateway("TapeCartridgeNotFound", message)
    }

    /// A request the model allows but the gateway refuses (wrong state, bad size, reuse).
    pub fn invalid_parameters(message: impl Into<String>) -> ApiError {
        ApiError::gateway("InvalidParameters", message)
    }

    /// The VTL is full.
    pub fn too_many_tapes(message: impl Into<String>) -> ApiError {
        ApiError::gateway("MaximumTapeCartridgeCountExceeded", message)
    }

    /// Fault `InternalError`, answered with `status` (400 or 500).
    pub fn internal(status: u16) -> ApiError {
        ApiError {
            code: Some("InternalError"),
            ..ApiError::new(
                Exception::InternalServerError,
                status,
                "An internal error has occurred. Please try again.",
            )
        }
    }

    /// Fault `Throttle`.
    pub fn throttled() -> ApiError {
        ApiError::new(Exception::Throttling, 400, "Rate exceeded.")
    }

    /// Members that break the model's constraints, in AWS's words.
    pub fn validation(problems: &[String]) -> ApiError {
        let n = problems.len();
        let plural = if n == 1 { "" } else { "s" };
        ApiError::new(
            Exception::Validation,
            400,
            format!(
                "{n} validation error{plural} detected: {}",
                problems.join("; ")
            ),
        )
    }

    /// The body could not be read as the operation's input.
    pub fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::new(Exception::Serialization, 400, message)
    }

    /// No such operation (`X-Amz-Target` as sent).
    pub fn unknown_operation(target: &str) -> ApiError {
        ApiError::new(
            Exception::UnknownOperation,
            400,
            format!("unknown operation {target:?}"),
        )
    }

    /// The response body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "__type": self.exception.name(),
            "message": self.message,
        });
        if let (Some(code), Some(map)) = (self.code, body.as_object_mut()) {
            map.insert("error".into(), json!({ "errorCode": code }));
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_have_the_aws_shapes() {
        let cases = [
            (
                ApiError::gateway_not_found(),
                400,
                json!({"__type": "InvalidGatewayRequestException",
                       "message": "The specified gateway was not found.",
                       "error": {"errorCode": "GatewayNotFound"}}),
            ),
            (
                ApiError::internal(500),
                500,
                json!({"__type": "InternalServerError",
                       "message": "An internal error has occurred. Please try again.",
                       "error": {"errorCode": "InternalError"}}),
            ),
            (
                ApiError::throttled(),
                400,
                json!({"__type": "ThrottlingException", "message": "Rate exceeded."}),
            ),
            (
                ApiError::validation(&["a".into(), "b".into()]),
                400,
                json!({"__type": "ValidationException",
                       "message": "2 validation errors detected: a; b"}),
            ),
        ];
        for (error, status, body) in cases {
            assert_eq!(error.status, status, "{error}");
            assert_eq!(error.body(), body, "{error}");
        }
    }
}
