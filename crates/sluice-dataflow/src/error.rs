//! The crate's one error type.
//!
//! Only configuration is fallible: a window of size 0 or a negative out-of-orderness bound is
//! refused when the spec is built, so the per-record path has no error to return. Late events
//! are not errors either; they are an expected outcome and come back as a
//! [`Late`](crate::window::Late) value.

use sluice_types::{ErrorKind, Retry};

/// Result alias for the dataflow crate.
pub type Result<T, E = DataflowError> = std::result::Result<T, E>;

/// Everything that can go wrong when configuring event time, windows or aggregates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataflowError {
    /// A time or window parameter is out of range.
    #[error("{what} must be {rule}, got {value}")]
    InvalidParameter {
        /// The parameter, e.g. `"window size"`.
        what: &'static str,
        /// The rule it breaks, e.g. `"> 0"`.
        rule: &'static str,
        /// The rejected value.
        value: i64,
    },
}

impl DataflowError {
    /// Who is at fault: always the user, these are configuration errors.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            DataflowError::InvalidParameter { .. } => ErrorKind::User,
        }
    }

    /// Whether retrying can help: it cannot, the same parameters fail the same way.
    #[must_use]
    pub fn retry(&self) -> Retry {
        Retry::No
    }

    /// Checks `value > 0`.
    pub(crate) fn positive(what: &'static str, value: i64) -> Result<i64> {
        if value > 0 {
            Ok(value)
        } else {
            Err(DataflowError::InvalidParameter { what, rule: "> 0", value })
        }
    }

    /// Checks `value >= 0`.
    pub(crate) fn non_negative(what: &'static str, value: i64) -> Result<i64> {
        if value >= 0 {
            Ok(value)
        } else {
            Err(DataflowError::InvalidParameter { what, rule: ">= 0", value })
        }
    }
}
