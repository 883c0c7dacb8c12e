//! Time as the Docker API writes and reads it: RFC 3339 with nanoseconds
//! (`2026-01-02T03:04:05.123456789Z`), Go's zero time for "never", and the
//! `since`/`until` query values (`<seconds>[.<nanos>]` or RFC 3339).

use chrono::{DateTime, SecondsFormat, Utc};

/// Go's zero `time.Time`, which Docker prints for a time that never was.
pub const ZERO: &str = "0001-01-01T00:00:00Z";

pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// RFC 3339 with nanoseconds, as Docker's `time.RFC3339Nano` (trailing
/// zeros of the fraction dropped, as Go does).
pub fn format(t: DateTime<Utc>) -> String {
    let s = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    // "…:20.120000000Z" → "…:20.12Z"; "…:20.000000000Z" → "…:20Z".
    match s.rsplit_once('.') {
        Some((head, frac)) => {
            let digits = frac.trim_end_matches('Z').trim_end_matches('0');
            if digits.is_empty() { format!("{head}Z") } else { format!("{head}.{digits}Z") }
        }
        None => s,
    }
}

pub fn now_string() -> String {
    format(now())
}

pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// A `since`/`until` query value: `1700000000`, `1700000000.123456789` (what
/// the docker CLI sends) or an RFC 3339 time. Empty or `0` means "not set".
pub fn parse_query(s: &str) -> Result<Option<DateTime<Utc>>, String> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    if let Some(t) = parse(s) {
        return Ok(Some(t));
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let bad = || format!("invalid time value {s:?}: expected a Unix timestamp or an RFC 3339 time");
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    DateTime::from_timestamp(secs, nanos).map(Some).ok_or_else(bad)
}

/// A prune filter's `until`, as Docker's daemon reads it: a Unix time
/// (with a fraction or not), an RFC 3339 time, or a Go duration before now
/// (`90m`, `24h`, `1h30m`, `1.5h`). Unlike [`parse_query`], `0` is the
/// epoch, not "unset".
pub fn parse_until(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    let bad = || format!("invalid filter 'until={s}': use a Unix time, an RFC 3339 time or a duration like 24h");
    if s == "0" {
        return Ok(DateTime::UNIX_EPOCH);
    }
    if let Ok(Some(t)) = parse_query(s) {
        return Ok(t);
    }
    let ago = go_duration(s).ok_or_else(bad)?;
    now().checked_sub_signed(ago).ok_or_else(bad)
}

/// A Go `time.ParseDuration` string of units h, m, s, ms, us/µs, ns.
fn go_duration(s: &str) -> Option<chrono::Duration> {
    let mut rest = s;
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "h" => 3_600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        nanos += value * unit;
    }
    (nanos > 0.0 && nanos < i64::MAX as f64).then(|| chrono::Duration::nanoseconds(nanos as i64))
}

/// Unix seconds of an RFC 3339 string, 0 when it does not parse.
pub fn unix_secs(s: &str) -> i64 {
    parse(s).map_or(0, |t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_rfc3339nano() {
        let t = DateTime::from_timestamp(1_700_000_000, 120_000_000).unwrap();
        assert_eq!(format(t), "2023-11-14T22:13:20.12Z");
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(format(t), "2023-11-14T22:13:20Z");
        assert_eq!(parse(&format(t)), Some(t));
    }

    #[test]
    fn query_values_parse() {
        assert_eq!(parse_query("").unwrap(), None);
        assert_eq!(parse_query("0").unwrap(), None);
        assert_eq!(parse_query("1700000000").unwrap().unwrap().timestamp(), 1_700_000_000);
        let t = parse_query("1700000000.5").unwrap().unwrap();
        assert_eq!(t.timestamp_subsec_nanos(), 500_000_000);
        assert_eq!(parse_query("2023-11-14T22:13:20Z").unwrap().unwrap().timestamp(), 1_700_000_000);
        assert!(parse_query("yesterday").is_err());
        assert!(parse_query("1.1234567890").is_err());
    }

    #[test]
    fn prune_until_takes_times_and_go_durations() {
        assert_eq!(parse_until("1700000000").unwrap().timestamp(), 1_700_000_000);
        assert_eq!(parse_until("0").unwrap(), DateTime::UNIX_EPOCH);
        assert_eq!(parse_until("2023-11-14T22:13:20Z").unwrap().timestamp(), 1_700_000_000);
        let ago = |s: &str| (now() - parse_until(s).unwrap()).num_seconds();
        assert!((5399..=5401).contains(&ago("1h30m")), "{}", ago("1h30m"));
        assert!((5399..=5401).contains(&ago("1.5h")));
        assert!((86399..=86401).contains(&ago("24h")));
        for bad in ["", "24x", "h", "1h30", "yesterday", "-1h"] {
            assert!(parse_until(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn zero_time_is_year_one() {
        assert_eq!(unix_secs(ZERO), -62135596800);
    }
}
