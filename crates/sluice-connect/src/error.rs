//! Turning the errors of the log, the format crate and I/O into the dataflow's error type.
//!
//! The `Source`/`Sink` traits return `sluice_dataflow::DataflowError`, so this crate has no
//! error enum of its own: each failure becomes `DataflowError::Connector` carrying the
//! original error's [`ErrorKind`] and [`Retry`] hint and a message that says where it
//! happened (topic, file, position).

use std::path::Path;

use sluice_dataflow::DataflowError;
use sluice_format::FormatError;
use sluice_log::LogError;
use sluice_types::{ErrorKind, Retry};

/// A log error, with what was being done (e.g. ``reading topic `page_views` ``).
pub(crate) fn log(context: &str, e: &LogError) -> DataflowError {
    DataflowError::connector(format!("{context}: {e}"), e.kind(), e.retry())
}

/// A format error: a malformed record in strict mode (its message names the position), or a
/// schema the format cannot decode or encode.
pub(crate) fn format(e: &FormatError) -> DataflowError {
    DataflowError::connector(e.to_string(), e.kind(), e.retry())
}

/// An I/O error on `path`. Missing files and permissions are the user's; the rest external.
pub(crate) fn io(what: &str, path: &Path, e: &std::io::Error) -> DataflowError {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => ErrorKind::User,
        _ => ErrorKind::External,
    };
    DataflowError::connector(format!("{what} {}: {e}", path.display()), kind, Retry::No)
}

/// A configuration mistake of the user's (unknown column, empty directory, ...).
pub(crate) fn user(message: impl Into<String>) -> DataflowError {
    DataflowError::connector(message, ErrorKind::User, Retry::No)
}
