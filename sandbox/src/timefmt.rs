//! Instants as whole unix seconds, and their RFC 3339 renderings.
//!
//! The sandbox keeps every instant as `i64` unix seconds (the API's precision).
//! Formatting is hand-rolled because millions of timestamps are rendered while
//! the data set is generated; parsing of client input goes through chrono.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of a canonical UTC rendering, `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) const CANONICAL_LEN: usize = 20;

/// Current wall-clock time truncated to whole unix seconds.
pub(crate) fn now_secs() -> i64 {
    unix_secs(SystemTime::now())
}

/// Whole unix seconds of a `SystemTime` (floor).
pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    // The sandbox never sees instants before 1970; clamp rather than fail.
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Appends the canonical rendering `YYYY-MM-DDTHH:MM:SSZ` of `secs`.
pub(crate) fn push_utc(out: &mut String, secs: i64) {
    push_local(out, secs);
    out.push('Z');
}

/// The canonical rendering `YYYY-MM-DDTHH:MM:SSZ` of `secs`.
pub(crate) fn format_utc(secs: i64) -> String {
    let mut s = String::with_capacity(CANONICAL_LEN);
    push_utc(&mut s, secs);
    s
}

/// Appends `secs` rendered in the UTC offset `offset_minutes`, e.g.
/// `2024-03-01T12:00:00+02:00`; an offset of zero renders as `Z`.
pub(crate) fn push_with_offset(out: &mut String, secs: i64, offset_minutes: i32) {
    if offset_minutes == 0 {
        push_utc(out, secs);
        return;
    }
    push_local(out, secs + i64::from(offset_minutes) * 60);
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let abs = offset_minutes.unsigned_abs();
    let _ = write!(out, "{sign}{:02}:{:02}", abs / 60, abs % 60);
}

/// Appends the wall-clock part `YYYY-MM-DDTHH:MM:SS` of `secs` (already shifted).
fn push_local(out: &mut String, secs: i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    push_digits(out, y, 4);
    out.push('-');
    push_digits(out, i64::from(m), 2);
    out.push('-');
    push_digits(out, i64::from(d), 2);
    out.push('T');
    push_digits(out, hh, 2);
    out.push(':');
    push_digits(out, mm, 2);
    out.push(':');
    push_digits(out, ss, 2);
}

/// Appends `value` zero-padded to `width` digits (values are non-negative here).
fn push_digits(out: &mut String, value: i64, width: u32) {
    let mut div = 10_i64.pow(width - 1);
    let mut v = value.max(0);
    if v >= div * 10 {
        // Out-of-range years keep all their digits rather than being truncated.
        let _ = write!(out, "{v}");
        return;
    }
    while div > 0 {
        out.push(char::from(b'0' + (v / div) as u8));
        v %= div;
        div /= 10;
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day)
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01 (inverse of [`civil_from_days`]).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a canonical `YYYY-MM-DDTHH:MM:SSZ` rendering; `None` for anything else.
pub(crate) fn parse_canonical(s: &[u8]) -> Option<i64> {
    if s.len() != CANONICAL_LEN
        || s[4] != b'-'
        || s[7] != b'-'
        || s[10] != b'T'
        || s[13] != b':'
        || s[16] != b':'
        || s[19] != b'Z'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        s[range].iter().try_fold(0_i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    Some(days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Parses any RFC 3339 instant (any UTC offset, optional fraction) to whole
/// unix seconds, rounding down: filters compare whole seconds, and for both an
/// exclusive lower bound and an inclusive upper bound the floor is exact.
pub(crate) fn parse_instant(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|dt| dt.timestamp())
}

/// Renders a calendar date `YYYY-MM-DD` for a day number since the epoch.
pub(crate) fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    let mut s = String::with_capacity(10);
    push_digits(&mut s, y, 4);
    s.push('-');
    push_digits(&mut s, i64::from(m), 2);
    s.push('-');
    push_digits(&mut s, i64::from(d), 2);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_rendering_matches_chrono() {
        for secs in [0, 1_672_531_200, 1_709_287_200, 1_735_689_599, 951_782_400] {
            let ours = format_utc(secs);
            let theirs = chrono::DateTime::from_timestamp(secs, 0)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn offset_rendering_denotes_the_same_instant() {
        let secs = 1_709_287_200; // 2024-03-01T10:00:00Z
        for offset in [120, -300, 330, 345, -720, 840] {
            let mut s = String::new();
            push_with_offset(&mut s, secs, offset);
            assert_eq!(parse_instant(&s), Some(secs), "{s}");
        }
        let mut s = String::new();
        push_with_offset(&mut s, secs, 120);
        assert_eq!(s, "2024-03-01T12:00:00+02:00");
    }

    #[test]
    fn zero_offset_renders_as_z() {
        let mut s = String::new();
        push_with_offset(&mut s, 0, 0);
        assert_eq!(s, "1970-01-01T00:00:00Z");
    }

    #[test]
    fn canonical_parse_inverts_formatting_and_rejects_other_shapes() {
        for secs in [0, 1_672_531_200, 1_735_689_599] {
            assert_eq!(parse_canonical(format_utc(secs).as_bytes()), Some(secs));
        }
        assert_eq!(parse_canonical(b"2024-03-01T12:00:00+02:00"), None);
        assert_eq!(parse_canonical(b"2024-13-01T12:00:00Z"), None);
        assert_eq!(parse_canonical(b"2024-03-01 12:00:00Z"), None);
    }

    #[test]
    fn query_instants_accept_any_offset_and_round_fractions_down() {
        assert_eq!(
            parse_instant("2024-03-01T12:00:00+02:00"),
            Some(1_709_287_200)
        );
        assert_eq!(
            parse_instant("2024-03-01T10:00:00.900Z"),
            Some(1_709_287_200)
        );
        assert_eq!(parse_instant("2024-03-01"), None);
        assert_eq!(parse_instant("yesterday"), None);
    }

    #[test]
    fn dates_render_as_calendar_days() {
        assert_eq!(format_date(days_from_civil(1990, 2, 28)), "1990-02-28");
    }
}
