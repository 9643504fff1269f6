//! The crate's one error type.
//!
//! The event-time core (time, window, aggregate) can only fail on configuration: a window of
//! size 0 or a negative out-of-orderness bound is refused when the spec is built, so its
//! per-record path has no error to return. Late events are not errors either; they are an
//! expected outcome and come back as a [`Late`](crate::window::Late) value.
//!
//! The runtime adds the errors of a running job: a column that is missing or has the wrong type,
//! an Arrow kernel failure, a source or sink failure, a panicking task. A task error stops the
//! job, and [`DataflowError::Operator`] names the operator it came from. Payloads are strings so
//! the type stays `Clone + Eq`.

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
    /// The pipeline as built cannot run (no source, no sink, aggregate without a window, ...).
    #[error("invalid pipeline: {0}")]
    InvalidPipeline(String),
    /// A column is missing or has a type the operator does not accept.
    #[error("schema: {0}")]
    Schema(String),
    /// An Arrow kernel failed.
    #[error("arrow: {0}")]
    Arrow(String),
    /// A source or sink failed; `kind` and `retry` are the connector's judgement.
    #[error("{message}")]
    Connector {
        /// What failed, naming the topic, file or offset.
        message: String,
        /// Who is at fault.
        kind: ErrorKind,
        /// Whether retrying can help.
        retry: Retry,
    },
    /// An operator (or source or sink) of a running job failed; the job stopped.
    #[error("operator `{operator}` failed: {source}")]
    Operator {
        /// The operator's name in the pipeline, e.g. `"window_aggregate"`.
        operator: String,
        /// What went wrong.
        source: Box<DataflowError>,
    },
    /// A task thread panicked; the job stopped.
    #[error("task `{task}` panicked: {message}")]
    TaskPanicked {
        /// The task, e.g. `"window[1]"`.
        task: String,
        /// The panic payload, if it was a string.
        message: String,
    },
    /// Saving or restoring operator state failed (a damaged or incompatible snapshot, I/O).
    #[error("state: {message}")]
    State {
        /// The state error's message, naming the snapshot, section and offset.
        message: String,
        /// Who is at fault.
        kind: ErrorKind,
        /// Whether retrying can help.
        retry: Retry,
    },
    /// A channel to or from `task` closed early: another task failed first.
    #[error("task `{task}`: a neighbouring task stopped")]
    Disconnected {
        /// The task that noticed.
        task: String,
    },
}

impl From<arrow_schema::ArrowError> for DataflowError {
    fn from(e: arrow_schema::ArrowError) -> Self {
        DataflowError::Arrow(e.to_string())
    }
}

impl From<sluice_state::StateError> for DataflowError {
    fn from(e: sluice_state::StateError) -> Self {
        DataflowError::State { message: e.to_string(), kind: e.kind(), retry: e.retry() }
    }
}

impl DataflowError {
    /// Who is at fault.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            DataflowError::InvalidParameter { .. }
            | DataflowError::InvalidPipeline(_)
            | DataflowError::Schema(_) => ErrorKind::User,
            DataflowError::Arrow(_)
            | DataflowError::TaskPanicked { .. }
            | DataflowError::Disconnected { .. } => ErrorKind::Internal,
            DataflowError::Connector { kind, .. } => *kind,
            DataflowError::Operator { source, .. } => source.kind(),
            DataflowError::State { kind, .. } => *kind,
        }
    }

    /// Whether retrying can help: only a connector may say so.
    #[must_use]
    pub fn retry(&self) -> Retry {
        match self {
            DataflowError::Connector { retry, .. } => *retry,
            DataflowError::Operator { source, .. } => source.retry(),
            DataflowError::State { retry, .. } => *retry,
            _ => Retry::No,
        }
    }

    /// A connector error with the connector's fault and retry judgement.
    #[must_use]
    pub fn connector(message: impl Into<String>, kind: ErrorKind, retry: Retry) -> Self {
        DataflowError::Connector { message: message.into(), kind, retry }
    }

    /// Wraps `self` as the failure of `operator` (unless it already names one).
    #[must_use]
    pub fn in_operator(self, operator: &str) -> Self {
        match self {
            e @ (DataflowError::Operator { .. }
            | DataflowError::TaskPanicked { .. }
            | DataflowError::Disconnected { .. }) => e,
            e => DataflowError::Operator { operator: operator.to_string(), source: Box::new(e) },
        }
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
