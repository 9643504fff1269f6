//! The `SET` keys that configure how a job runs rather than what it computes, checked where
//! they are written (a bad value is an error at its position in the file, before anything
//! runs).
//!
//! | key | value | meaning |
//! |---|---|---|
//! | `execution.checkpointing.interval` | a duration (`10s`, `500 ms`, `1 min`) | checkpoints on, this often |
//! | `pipeline.name` | a name | the job's identity: a rerun with the same name resumes it |
//! | `state.checkpoints.dir` | a directory or `file://` URL | where checkpoints go (default `<data-dir>/checkpoints`) |
//! | `state.checkpoints.num-retained` | a number >= 1 | complete checkpoints kept (default 3) |
//! | `execution.checkpointing.tolerable-failed-checkpoints` | a number | failures in a row tolerated (default 3) |
//! | `sluice.source.rows-per-second` | a number > 0 | rate limit of each source task |
//! | `parallelism.default`, `sluice.batch-size` | a number | see [`crate::job`] |
//!
//! Durations use Flink's syntax: a whole number and an optional unit (`ms`, `s`, `min`, `h`,
//! `d` and their long forms, any case, with or without a space); no unit means milliseconds.

use std::time::Duration;

use crate::error::{ErrorKind, Pos, Result, SqlError};

/// Checkpoints on, this often (Flink's key).
pub const CHECKPOINT_INTERVAL: &str = "execution.checkpointing.interval";
/// The job's name (Flink's key).
pub const PIPELINE_NAME: &str = "pipeline.name";
/// Where checkpoints go (Flink's key).
pub const CHECKPOINT_DIR: &str = "state.checkpoints.dir";
/// Complete checkpoints kept (Flink's key).
pub const RETAINED: &str = "state.checkpoints.num-retained";
/// Consecutive failed checkpoints tolerated (Flink's key).
pub const TOLERABLE_FAILURES: &str = "execution.checkpointing.tolerable-failed-checkpoints";
/// Rows per second each source task reads at most (Sluice's key).
pub const ROWS_PER_SECOND: &str = "sluice.source.rows-per-second";

/// Units of Flink's duration syntax, in nanoseconds.
const UNITS: &[(&[&str], u64)] = &[
    (&["d", "day", "days"], 86_400_000_000_000),
    (&["h", "hour", "hours"], 3_600_000_000_000),
    (&["m", "min", "minute", "minutes"], 60_000_000_000),
    (&["s", "sec", "secs", "second", "seconds"], 1_000_000_000),
    (&["ms", "milli", "millis", "millisecond", "milliseconds"], 1_000_000),
    (&["us", "µs", "micro", "micros", "microsecond", "microseconds"], 1_000),
    (&["ns", "nano", "nanos", "nanosecond", "nanoseconds"], 1),
];

/// Parses a duration in Flink's syntax: `10s`, `500 ms`, `1 min`, `2h`, `250` (milliseconds).
///
/// # Errors
/// The reason, for a message: no number, an unknown unit, an overflow.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return Err(format!("'{text}' is not a duration: it must start with a whole number"));
    }
    let (number, unit) = t.split_at(digits);
    let unit = unit.trim().to_lowercase();
    let n: u64 = number.parse().map_err(|_| format!("'{text}' is not a duration: {number} is too large"))?;
    let nanos_per = if unit.is_empty() {
        1_000_000
    } else {
        UNITS.iter().find(|(names, _)| names.contains(&unit.as_str())).map(|(_, ns)| *ns).ok_or_else(
            || format!("'{text}' is not a duration: unknown unit '{unit}' (use ms, s, min, h or d)"),
        )?
    };
    let nanos = n.checked_mul(nanos_per).ok_or_else(|| format!("'{text}' is too long a duration"))?;
    Ok(Duration::from_nanos(nanos))
}

/// Whether `name` can name a job's checkpoints: 1 to 200 ASCII letters, digits, `_`, `-` and
/// `.`, not starting with `.` or `_` (the checkpoint store's rule for a path segment).
///
/// # Errors
/// What is wrong with it.
pub fn check_job_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.len() > 200 {
        return Err("it must be 1 to 200 characters long".into());
    }
    if name.starts_with('.') || name.starts_with('_') {
        return Err("it must not start with '.' or '_'".into());
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
        return Err("only ASCII letters, digits, '_', '-' and '.' are allowed".into());
    }
    Ok(())
}

fn bad(pos: Pos, message: String, hint: &str) -> SqlError {
    SqlError::new(ErrorKind::Option, pos, message).hint(hint)
}

/// Checks the value of a `SET` key this module knows (`pos` is the value's position); other
/// keys pass (Flink ignores keys it does not know, and so do we).
///
/// # Errors
/// A value the key cannot take, at `pos`.
pub(crate) fn check(key: &str, value: &str, pos: Pos) -> Result<()> {
    let number = |min: u64| -> Result<()> {
        match value.trim().parse::<u64>() {
            Ok(n) if n >= min => Ok(()),
            _ => Err(bad(
                pos,
                format!("'{key}' must be a whole number of at least {min}, not '{value}'"),
                "for example '3'",
            )),
        }
    };
    match key {
        CHECKPOINT_INTERVAL => match parse_duration(value) {
            Ok(d) if d >= Duration::from_millis(1) => Ok(()),
            Ok(_) => Err(bad(
                pos,
                format!("'{key}' must be at least 1 ms, not '{value}'"),
                "leave the SET out to run without checkpoints",
            )),
            Err(e) => Err(bad(pos, format!("'{key}': {e}"), "for example '10s', '500 ms' or '1 min'")),
        },
        PIPELINE_NAME => check_job_name(value).map_err(|e| {
            bad(pos, format!("'{key}' = '{value}' cannot name the job: {e}"), "for example 'page-views'")
        }),
        RETAINED => number(1),
        TOLERABLE_FAILURES => number(0),
        ROWS_PER_SECOND => match value.trim().parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 => Ok(()),
            _ => Err(bad(
                pos,
                format!("'{key}' must be a number of rows above 0, not '{value}'"),
                "for example '10000'; leave the SET out for no limit",
            )),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_durations() {
        let ms = |t: &str| parse_duration(t).map(|d| d.as_millis());
        assert_eq!(ms("10s"), Ok(10_000));
        assert_eq!(ms("500 ms"), Ok(500));
        assert_eq!(ms("1 min"), Ok(60_000));
        assert_eq!(ms("2h"), Ok(7_200_000));
        assert_eq!(ms("1 d"), Ok(86_400_000));
        assert_eq!(ms("250"), Ok(250));
        assert_eq!(ms(" 3 Seconds "), Ok(3_000));
        assert_eq!(parse_duration("1500us").map(|d| d.as_micros()), Ok(1_500));
    }

    #[test]
    fn bad_durations_say_why() {
        assert!(parse_duration("ten seconds").is_err_and(|e| e.contains("whole number")));
        assert!(parse_duration("10 fortnights").is_err_and(|e| e.contains("unknown unit 'fortnights'")));
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999999999999s").is_err_and(|e| e.contains("too large")));
        assert!(parse_duration("9999999999999999 d").is_err_and(|e| e.contains("too long")));
    }

    #[test]
    fn set_values_are_checked_at_their_position() {
        let at = Pos::new(3, 9);
        assert!(check(CHECKPOINT_INTERVAL, "10s", at).is_ok());
        let e = check(CHECKPOINT_INTERVAL, "0 ms", at).expect_err("zero");
        assert_eq!((e.kind, e.pos), (ErrorKind::Option, at));
        assert!(check(PIPELINE_NAME, "page views", at).is_err_and(|e| e.message.contains("cannot name")));
        assert!(check(PIPELINE_NAME, "page-views.v2", at).is_ok());
        assert!(check(RETAINED, "0", at).is_err());
        assert!(check(RETAINED, "2", at).is_ok());
        assert!(check(TOLERABLE_FAILURES, "0", at).is_ok());
        assert!(check(ROWS_PER_SECOND, "0", at).is_err());
        assert!(check(ROWS_PER_SECOND, "2500.5", at).is_ok());
        assert!(check("table.exec.unknown", "anything", at).is_ok());
    }

    #[test]
    fn job_names_follow_the_store_rule() {
        assert!(check_job_name("pageviews").is_ok());
        assert!(check_job_name("_x").is_err());
        assert!(check_job_name("").is_err());
        assert!(check_job_name("a/b").is_err());
    }
}
