//! The hook through which the daemon counts API calls (metrics, the closing note's calls per
//! operation).

use crate::error::Error;

/// Told about every API call this crate makes.
///
/// [`call`](CallObserver::call) runs once per API operation sent — each page of a paginated
/// listing counts once — after the SDK's own retries, with the final outcome. Retried attempts
/// inside one call are not reported separately (an HTTP-level count, like the emulator's
/// `Calls`, can therefore be higher). It runs on the caller's task, so it must be quick and
/// must not block.
pub trait CallObserver: Send + Sync {
    /// `operation` is the API name, e.g. `"DescribeTapes"`.
    fn call(&self, operation: &'static str, outcome: Outcome);
}

/// How an API call ended, after retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It succeeded (possibly after throttled or failed attempts).
    Ok,
    /// It was still throttled after the last attempt ([`Error::Throttled`]).
    Throttled,
    /// It failed in any other way.
    Error,
}

impl Outcome {
    /// The outcome of a call's result.
    pub(crate) fn of<T>(result: &Result<T, Error>) -> Outcome {
        match result {
            Ok(_) => Outcome::Ok,
            Err(Error::Throttled { .. }) => Outcome::Throttled,
            Err(_) => Outcome::Error,
        }
    }

    /// A short lowercase label for metrics: `ok`, `throttled`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Throttled => "throttled",
            Outcome::Error => "error",
        }
    }
}
