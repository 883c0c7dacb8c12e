//! Time as the Docker API writes and reads it.
//!
//! - Written: RFC 3339 with nanoseconds, trailing zeros dropped, as Go's
//!   `time.RFC3339Nano` (`2026-01-02T03:04:05.12Z`); Go's zero time
//!   ([`ZERO`]) for "never"; `<secs>.<9 digits>` for query values.
//! - Read from a user (`--since`, `--until`, prune `until`):
//!   [`get_timestamp`], moby's `api/types/time.GetTimestamp` followed by
//!   `ParseTimestamps`: a Go duration meaning that long before the
//!   reference time (`10m`, `1h30m`, `1.5h`), RFC 3339 with or without a
//!   fraction and a zone, `2006-01-02T15`, `2006-01-02T15:04`, date-only
//!   forms (`2006-01-02`, `2006-01-02Z`, `2006-01-02+07:00`), or Unix
//!   seconds with an optional fraction. Forms without a zone are in the
//!   reference time's zone, as Docker reads them in the local one.
//! - Read from a client (`since`/`until` query values): [`parse_unix`],
//!   moby's `ParseTimestamps`, and [`parse_query`] for the engine's
//!   "empty or 0 means unset".
//!
//! Owns these grammars and their errors; it must never decide what a time
//! selects (filters and handlers do).

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, TimeZone, Utc};

use crate::duration::GoDuration;

/// Go's zero `time.Time`, which Docker prints for a time that never was.
pub const ZERO: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// moby's own message for a value that is neither.
    #[error("failed to parse value as time or duration: {0:?}")]
    NotATime(String),
    /// A value with a `-` that is not one of the timestamp layouts.
    #[error("parsing time {value:?}: {reason}")]
    Layout { value: String, reason: &'static str },
    #[error("invalid timestamp {0:?}: expected Unix seconds with an optional fraction (1700000000.5)")]
    Unix(String),
    #[error("time {0:?} is out of range")]
    OutOfRange(String),
}

pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// RFC 3339 with nanoseconds, as Go's `time.RFC3339Nano` (trailing zeros
/// of the fraction dropped, as Go does): what Docker writes in inspect,
/// logs and events.
pub fn format_rfc3339_nano(t: DateTime<Utc>) -> String {
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

/// RFC 3339 with all nine fraction digits (`…:05.000000000Z`), the docker
/// CLI's `jsonmessage.RFC3339NanoFixed` for lines that must align
/// (`docker events`, `docker logs -t`).
pub fn format_rfc3339_nano_fixed(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub fn now_string() -> String {
    format_rfc3339_nano(now())
}

/// An RFC 3339 time (any offset, any fraction) in UTC.
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// Unix seconds of an RFC 3339 string, 0 when it does not parse.
pub fn unix_secs(s: &str) -> i64 {
    parse_rfc3339(s).map_or(0, |t| t.timestamp())
}

/// `<secs>.<9 digits>`, what the docker CLI sends as `since`/`until`.
pub fn format_unix(t: DateTime<Utc>) -> String {
    format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos())
}

/// moby's `ParseTimestamps`: `1136073600` or `1136073600.000000001`; a
/// fraction of more than nine digits is truncated to nanoseconds.
pub fn parse_unix(s: &str) -> Result<DateTime<Utc>, TimeError> {
    let bad = || TimeError::Unix(s.to_string());
    let (secs, frac) = match s.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let nanos = match frac {
        None => 0,
        Some(f) => {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let n: i64 = f.parse().map_err(|_| bad())?;
            // As moby: n × 10^(9 − len), through float64.
            (n as f64 * 10f64.powi(9 - f.len() as i32)) as i64
        }
    };
    let (secs, nanos) = (secs + nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32);
    DateTime::from_timestamp(secs, nanos).ok_or_else(|| TimeError::OutOfRange(s.to_string()))
}

/// A `since`/`until` query value as the engine reads it: `""` and `"0"`
/// mean "not set"; otherwise Unix seconds ([`parse_unix`]) or, as a
/// courtesy to hand-written requests, an RFC 3339 time.
pub fn parse_query(s: &str) -> Result<Option<DateTime<Utc>>, TimeError> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    if let Some(t) = parse_rfc3339(s) {
        return Ok(Some(t));
    }
    parse_unix(s).map(Some)
}

/// moby's `GetTimestamp(value, reference)` then `ParseTimestamps`: the time
/// a user's `--since`/`--until`/`until=` means. A duration counts back from
/// `reference` and, as in Docker, keeps whole seconds; zone-less forms are
/// read in `reference`'s zone.
pub fn get_timestamp(value: &str, reference: DateTime<FixedOffset>) -> Result<DateTime<Utc>, TimeError> {
    if value != "0"
        && let Ok(d) = GoDuration::parse(value)
    {
        let t = reference.with_timezone(&Utc).checked_sub_signed(d.to_chrono());
        return t
            .and_then(|t| DateTime::from_timestamp(t.timestamp(), 0))
            .ok_or_else(|| TimeError::OutOfRange(value.to_string()));
    }
    match parse_layout(value, *reference.offset()) {
        Ok(t) => Ok(t),
        // A `-` means it was meant as a date: its error stands.
        Err(reason) if value.contains('-') => Err(TimeError::Layout { value: value.to_string(), reason }),
        Err(_) => parse_unix(value).map_err(|_| TimeError::NotATime(value.to_string())),
    }
}

/// [`get_timestamp`] against now in this machine's zone, as the docker CLI
/// and daemon call it.
pub fn get_timestamp_now(value: &str) -> Result<DateTime<Utc>, TimeError> {
    get_timestamp(value, chrono::Local::now().fixed_offset())
}

/// The layouts `GetTimestamp` picks from the value's shape: with a `.`,
/// RFC 3339 with nanoseconds; with a `T`, hours, minutes or seconds by the
/// number of colons (one less for a `±hh:mm` zone); else a date. A value
/// with `Z`, `+` or three dashes carries its zone; any other is local.
fn parse_layout(value: &str, local: FixedOffset) -> Result<DateTime<Utc>, &'static str> {
    let zoned = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    let time_fields = if value.contains('.') {
        Some(3)
    } else if value.contains('T') {
        let mut colons = value.matches(':').count();
        if zoned && !value.contains(['z', 'Z']) && colons > 0 {
            colons -= 1;
        }
        Some(colons.min(2) + 1)
    } else {
        None
    };
    let mut c = Cursor { s: value.as_bytes(), i: 0 };
    let year = c.digits(4, 4).ok_or("cannot parse the year")?;
    c.expect(b'-').ok_or("expected '-' after the year")?;
    let month = c.digits(2, 2).ok_or("cannot parse the month")?;
    c.expect(b'-').ok_or("expected '-' after the month")?;
    let day = c.digits(2, 2).ok_or("cannot parse the day")?;
    let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0);
    if let Some(fields) = time_fields {
        c.expect(b'T').ok_or("expected 'T' after the date")?;
        hour = c.digits(1, 2).ok_or("cannot parse the hour")?;
        if fields >= 2 {
            c.expect(b':').ok_or("expected ':' after the hour")?;
            minute = c.digits(2, 2).ok_or("cannot parse the minutes")?;
        }
        if fields >= 3 {
            c.expect(b':').ok_or("expected ':' after the minutes")?;
            second = c.digits(2, 2).ok_or("cannot parse the seconds")?;
            // Go reads a fraction after the seconds of any layout, keeping
            // nine digits.
            if c.peek() == Some(b'.') && c.s.get(c.i + 1).is_some_and(u8::is_ascii_digit) {
                c.i += 1;
                let start = c.i;
                while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                    c.i += 1;
                }
                let digits = &value[start..c.i];
                let kept = &digits[..digits.len().min(9)];
                nanos = format!("{kept:0<9}").parse().map_err(|_| "cannot parse the fraction")?;
            }
        }
    }
    let offset = if zoned {
        match c.peek() {
            Some(b'Z') => {
                c.i += 1;
                FixedOffset::east_opt(0)
            }
            Some(sign @ (b'+' | b'-')) => {
                c.i += 1;
                let h = c.digits(2, 2).ok_or("cannot parse the zone")?;
                c.expect(b':').ok_or("cannot parse the zone")?;
                let m = c.digits(2, 2).ok_or("cannot parse the zone")?;
                if h > 24 || m > 59 {
                    return Err("time zone offset out of range");
                }
                let secs = (h * 3600 + m * 60) as i32;
                FixedOffset::east_opt(if sign == b'-' { -secs } else { secs })
            }
            _ => return Err("expected a zone (Z or ±hh:mm)"),
        }
        .ok_or("time zone offset out of range")?
    } else {
        local
    };
    if c.i != c.s.len() {
        return Err("extra text after the time");
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or("day or month out of range")?;
    let naive = date.and_hms_nano_opt(hour, minute, second, nanos).ok_or("hour, minute or second out of range")?;
    offset.from_local_datetime(&naive).single().map(|t| t.with_timezone(&Utc)).ok_or("time out of range")
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.peek() == Some(b)).then(|| self.i += 1)
    }

    /// `min..=max` ASCII digits as a number.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        while self.i - start < max && self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        if self.i - start < min {
            return None;
        }
        std::str::from_utf8(&self.s[start..self.i]).ok()?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc_now() -> DateTime<FixedOffset> {
        Utc::now().fixed_offset()
    }

    #[test]
    fn formats_like_go_rfc3339nano() {
        let t = DateTime::from_timestamp(1_700_000_000, 120_000_000).unwrap();
        assert_eq!(format_rfc3339_nano(t), "2023-11-14T22:13:20.12Z");
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(format_rfc3339_nano(t), "2023-11-14T22:13:20Z");
        assert_eq!(parse_rfc3339(&format_rfc3339_nano(t)), Some(t));
        let t = DateTime::from_timestamp(1_136_073_600, 1).unwrap();
        assert_eq!(format_rfc3339_nano(t), "2006-01-01T00:00:00.000000001Z");
        assert_eq!(format_unix(t), "1136073600.000000001");
        let t = DateTime::from_timestamp(1_714_557_600, 0).unwrap();
        assert_eq!(format_rfc3339_nano_fixed(t), "2024-05-01T10:00:00.000000000Z");
        assert_eq!(unix_secs(ZERO), -62135596800);
    }

    /// moby's `TestGetTimestamp`, row for row (reference time in UTC).
    #[test]
    fn get_timestamp_as_moby() {
        let now = utc_now();
        let table: &[(&str, Option<&str>)] = &[
            ("2006-01-02T15:04:05.999999999+07:00", Some("1136189045.999999999")),
            ("2006-01-02T15:04:05.999999999Z", Some("1136214245.999999999")),
            ("2006-01-02T15:04:05.999999999", Some("1136214245.999999999")),
            ("2006-01-02T15:04:05Z", Some("1136214245.000000000")),
            ("2006-01-02T15:04:05", Some("1136214245.000000000")),
            ("2006-01-02T15:04:0Z", None),
            ("2006-01-02T15:04:0", None),
            ("2006-01-02T15:04Z", Some("1136214240.000000000")),
            ("2006-01-02T15:04+00:00", Some("1136214240.000000000")),
            ("2006-01-02T15:04-00:00", Some("1136214240.000000000")),
            ("2006-01-02T15:04", Some("1136214240.000000000")),
            ("2006-01-02T15:0Z", None),
            ("2006-01-02T15:0", None),
            ("2006-01-02T15Z", Some("1136214000.000000000")),
            ("2006-01-02T15+00:00", Some("1136214000.000000000")),
            ("2006-01-02T15-00:00", Some("1136214000.000000000")),
            ("2006-01-02T15", Some("1136214000.000000000")),
            ("2006-01-02T1Z", Some("1136163600.000000000")),
            ("2006-01-02T1", Some("1136163600.000000000")),
            ("2006-01-02TZ", None),
            ("2006-01-02T", None),
            ("2006-01-02+00:00", Some("1136160000.000000000")),
            ("2006-01-02-00:00", Some("1136160000.000000000")),
            ("2006-01-02-00:01", Some("1136160060.000000000")),
            ("2006-01-02Z", Some("1136160000.000000000")),
            ("2006-01-02", Some("1136160000.000000000")),
            ("2015-05-13T20:39:09Z", Some("1431549549.000000000")),
            ("1136073600", Some("1136073600.000000000")),
            ("1136073600.000000001", Some("1136073600.000000001")),
            ("invalid", None),
            ("", None),
        ];
        for (input, want) in table {
            let got = get_timestamp(input, now).map(format_unix);
            match want {
                Some(w) => assert_eq!(got.as_deref(), Ok(*w), "{input:?}"),
                None => assert!(got.is_err(), "{input:?} gave {got:?}"),
            }
        }
        assert_eq!(
            get_timestamp("invalid", now).unwrap_err().to_string(),
            r#"failed to parse value as time or duration: "invalid""#
        );
    }

    #[test]
    fn durations_count_back_in_whole_seconds() {
        let now = utc_now();
        let secs = |s: &str| get_timestamp(s, now).unwrap().timestamp();
        assert_eq!(secs("1m"), (now - chrono::TimeDelta::minutes(1)).timestamp());
        assert_eq!(secs("1.5h"), (now - chrono::TimeDelta::minutes(90)).timestamp());
        assert_eq!(secs("1h30m"), (now - chrono::TimeDelta::minutes(90)).timestamp());
        assert_eq!(get_timestamp("1h30m", now).unwrap().timestamp_subsec_nanos(), 0);
        // A negative duration is a time ahead, as Go's arithmetic gives.
        assert_eq!(secs("-1h"), (now + chrono::TimeDelta::hours(1)).timestamp());
        // "0" is the epoch, not "now minus nothing".
        assert_eq!(secs("0"), 0);
    }

    #[test]
    fn zone_less_forms_take_the_reference_zone() {
        let plus2 = FixedOffset::east_opt(2 * 3600).unwrap().with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        let t = get_timestamp("2024-05-01T12:00", plus2).unwrap();
        assert_eq!(t.timestamp(), 1_714_557_600, "12:00 at +02:00 is 10:00Z");
        assert_eq!(get_timestamp("2024-05-01T12:00Z", plus2).unwrap().timestamp(), 1_714_564_800);
        assert!(get_timestamp("2024-02-30", plus2).is_err(), "day out of range");
        assert!(get_timestamp("2024-05-01T25", plus2).is_err());
    }

    /// moby's `TestParseTimestamps`.
    #[test]
    fn parse_unix_as_moby() {
        let nanos = |s: &str| parse_unix(s).map(|t| (t.timestamp(), t.timestamp_subsec_nanos()));
        assert_eq!(nanos("1136073600"), Ok((1_136_073_600, 0)));
        assert_eq!(nanos("1136073600.000000001"), Ok((1_136_073_600, 1)));
        assert_eq!(nanos("1136073600.0000000010"), Ok((1_136_073_600, 1)));
        assert_eq!(nanos("1136073600.00000001"), Ok((1_136_073_600, 10)));
        assert_eq!(nanos("1700000000.5"), Ok((1_700_000_000, 500_000_000)));
        assert!(parse_unix("foo.bar").is_err());
        assert!(parse_unix("1136073600.bar").is_err());
        assert!(parse_unix("").is_err());
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
    }
}
