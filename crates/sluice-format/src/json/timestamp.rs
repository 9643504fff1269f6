//! Writes epoch milliseconds as `YYYY-MM-DD HH:MM:SS.fff` (UTC), Flink's SQL timestamp format.
//!
//! Hand-written rather than through chrono or Arrow's display code: it sits on the encoder's
//! per-row path and needs no allocation, no time-zone lookup and no format-string parsing.

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// Appends `ms` (milliseconds since the Unix epoch, UTC) as `YYYY-MM-DD HH:MM:SS.fff`.
///
/// Years outside 0..=9999 are written with a sign and at least four digits (`+10000`,
/// `-0001`), as chrono does.
pub(crate) fn write_millis(ms: i64, out: &mut Vec<u8>) {
    let (year, month, day) = civil_from_days(ms.div_euclid(DAY_MS));
    let in_day = ms.rem_euclid(DAY_MS);
    if (0..=9999).contains(&year) {
        push_digits(out, year, 4);
    } else {
        out.extend_from_slice(format!("{year:+05}").as_bytes());
    }
    out.push(b'-');
    push_digits(out, month, 2);
    out.push(b'-');
    push_digits(out, day, 2);
    out.push(b' ');
    push_digits(out, in_day / 3_600_000, 2);
    out.push(b':');
    push_digits(out, in_day / 60_000 % 60, 2);
    out.push(b':');
    push_digits(out, in_day / 1000 % 60, 2);
    out.push(b'.');
    push_digits(out, in_day % 1000, 3);
}

/// Appends the `width` low decimal digits of non-negative `value`, zero-padded.
fn push_digits(out: &mut Vec<u8>, mut value: i64, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out.iter_mut().skip(start).rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01, proleptic Gregorian.
///
/// Howard Hinnant's `civil_from_days`: shifts the year to start in March so that the leap day
/// is the last day of the year, then works in 400-year eras of 146,097 days.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146_096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of (March-based) year, 0..=365
    let mp = (5 * doy + 2) / 153; // March-based month, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod test {
    use super::*;

    fn fmt(ms: i64) -> String {
        let mut out = Vec::new();
        write_millis(ms, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(fmt(0), "1970-01-01 00:00:00.000");
        assert_eq!(fmt(1_767_225_600_000), "2026-01-01 00:00:00.000");
        assert_eq!(fmt(1_767_225_600_000 + 3_723_045), "2026-01-01 01:02:03.045");
        assert_eq!(fmt(-1), "1969-12-31 23:59:59.999");
        assert_eq!(fmt(951_782_400_000), "2000-02-29 00:00:00.000");
        assert_eq!(fmt(253_402_300_799_999), "9999-12-31 23:59:59.999");
        assert_eq!(fmt(-62_135_596_800_000), "0001-01-01 00:00:00.000");
        assert_eq!(fmt(253_402_300_800_000), "+10000-01-01 00:00:00.000");
    }

    #[test]
    fn extreme_values_do_not_panic() {
        assert!(fmt(i64::MAX).ends_with(".807"));
        assert!(fmt(i64::MIN).starts_with('-'));
    }

    #[test]
    fn every_day_of_a_leap_cycle_is_consecutive() {
        // Walk 1600-03-01 .. 2400-03-01 day by day and check the calendar never skips or repeats.
        let mut prev = civil_from_days(-135_080 - 1);
        for days in -135_080..157_100 {
            let (y, m, d) = civil_from_days(days);
            let next_day = (y, m, d) == (prev.0, prev.1, prev.2 + 1);
            let next_month =
                d == 1 && ((y, m) == (prev.0, prev.1 + 1) || (y, m, prev.1) == (prev.0 + 1, 1, 12));
            assert!(next_day || next_month, "{prev:?} -> {:?}", (y, m, d));
            prev = (y, m, d);
        }
    }
}
