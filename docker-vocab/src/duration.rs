//! Go's `time.Duration` as text: [`GoDuration::parse`] is
//! `time.ParseDuration` (`1h30m`, `1.5h`, `300ms`, `-3s`, units ns, us, µs,
//! ms, s, m, h) and its `Display` is `Duration.String` (`1h30m0s`, `1.5µs`,
//! `0s`), digit for digit, because Docker users type the one and read the
//! other (`--since 1h30m`, `--stop-timeout`, health-check intervals).
//!
//! Owns the grammar and the nanosecond arithmetic, with Go's overflow rules
//! (a duration is a signed 64-bit count of nanoseconds). It must never read
//! a clock: "that long before now" is [`crate::time`]'s business.

use std::fmt;

/// A signed count of nanoseconds, as Go's `time.Duration`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(i64);

/// Go's messages, word for word (`time: invalid duration "x"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("time: unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit { unit: String, input: String },
}

pub const NANOSECOND: i64 = 1;
pub const MICROSECOND: i64 = 1_000;
pub const MILLISECOND: i64 = 1_000_000;
pub const SECOND: i64 = 1_000_000_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;

fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => NANOSECOND,
        // U+00B5 (micro sign) and U+03BC (Greek mu), as Go accepts both.
        "us" | "µs" | "μs" => MICROSECOND,
        "ms" => MILLISECOND,
        "s" => SECOND,
        "m" => MINUTE,
        "h" => HOUR,
        _ => return None,
    } as u64)
}

const LIMIT: u64 = 1 << 63;

impl GoDuration {
    pub const ZERO: GoDuration = GoDuration(0);

    pub const fn from_nanos(n: i64) -> Self {
        GoDuration(n)
    }

    pub const fn from_secs(s: i64) -> Self {
        GoDuration(s.saturating_mul(SECOND))
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// Whole seconds, truncated toward zero (Go's `int(d.Seconds())`).
    pub const fn secs(self) -> i64 {
        self.0 / SECOND
    }

    pub fn to_chrono(self) -> chrono::TimeDelta {
        chrono::TimeDelta::nanoseconds(self.0)
    }

    /// `time.ParseDuration`: a possibly signed sequence of decimal numbers,
    /// each with an optional fraction and a unit.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let invalid = || DurationError::Invalid(input.to_string());
        let mut s = input.as_bytes();
        let mut neg = false;
        if let Some(&c) = s.first()
            && (c == b'-' || c == b'+')
        {
            neg = c == b'-';
            s = &s[1..];
        }
        if s == b"0" {
            return Ok(GoDuration(0));
        }
        if s.is_empty() {
            return Err(invalid());
        }
        let mut total: u64 = 0;
        while !s.is_empty() {
            if !(s[0] == b'.' || s[0].is_ascii_digit()) {
                return Err(invalid());
            }
            let before = s.len();
            let (mut v, rest) = leading_int(s).ok_or_else(invalid)?;
            s = rest;
            let pre = before != s.len();
            let (mut f, mut scale, mut post) = (0u64, 1f64, false);
            if s.first() == Some(&b'.') {
                s = &s[1..];
                let before = s.len();
                (f, scale, s) = leading_fraction(s);
                post = before != s.len();
            }
            if !pre && !post {
                return Err(invalid());
            }
            let unit_len = s.iter().position(|c| *c == b'.' || c.is_ascii_digit()).unwrap_or(s.len());
            if unit_len == 0 {
                return Err(DurationError::MissingUnit(input.to_string()));
            }
            let unit = String::from_utf8_lossy(&s[..unit_len]).into_owned();
            s = &s[unit_len..];
            let per = unit_nanos(&unit).ok_or_else(|| DurationError::UnknownUnit { unit, input: input.to_string() })?;
            if v > LIMIT / per {
                return Err(invalid());
            }
            v *= per;
            if f > 0 {
                // As Go: float64 is nanosecond-accurate for fractions of an hour.
                v += (f as f64 * (per as f64 / scale)) as u64;
                if v > LIMIT {
                    return Err(invalid());
                }
            }
            total += v;
            if total > LIMIT {
                return Err(invalid());
            }
        }
        if neg {
            // total ≤ 2^63, so its negation fits (2^63 is i64::MIN).
            return Ok(GoDuration((total as i128).wrapping_neg() as i64));
        }
        if total > LIMIT - 1 {
            return Err(invalid());
        }
        Ok(GoDuration(total as i64))
    }
}

/// `[0-9]*` as an integer; `None` on overflow past 2^63.
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut x: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if x > LIMIT / 10 {
            return None;
        }
        x = x * 10 + u64::from(s[i] - b'0');
        if x > LIMIT {
            return None;
        }
        i += 1;
    }
    Some((x, &s[i..]))
}

/// The digits after a `.`: their value and 10^(digits kept); digits past
/// what 63 bits hold are consumed and ignored, as Go does.
fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let (mut x, mut scale, mut overflow) = (0u64, 1f64, false);
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        let c = u64::from(s[i] - b'0');
        i += 1;
        if overflow {
            continue;
        }
        if x > (LIMIT - 1) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + c;
        if y > LIMIT {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[i..])
}

/// `v / 10^prec` as `.ddd` with trailing zeros (and then the point)
/// dropped; returns the text and the integer part.
fn frac(v: u64, prec: u32) -> (String, u64) {
    let mut digits = Vec::new();
    let mut v = v;
    let mut printed = false;
    for _ in 0..prec {
        let d = v % 10;
        printed = printed || d != 0;
        if printed {
            digits.push(b'0' + d as u8);
        }
        v /= 10;
    }
    if !printed {
        return (String::new(), v);
    }
    digits.reverse();
    (format!(".{}", String::from_utf8_lossy(&digits)), v)
}

/// `Duration.String`: `72h3m0.5s`, `1.5µs`, `0s`; the leading unit is the
/// largest that is not zero, up to hours (days vary in length).
impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.0 < 0;
        let u = self.0.unsigned_abs();
        let sign = if neg { "-" } else { "" };
        if u < SECOND as u64 {
            let (prec, unit) = match u {
                0 => return f.write_str("0s"),
                u if u < MICROSECOND as u64 => (0, "ns"),
                u if u < MILLISECOND as u64 => (3, "µs"),
                _ => (6, "ms"),
            };
            let (fr, int) = frac(u, prec);
            return write!(f, "{sign}{int}{fr}{unit}");
        }
        let (fr, secs) = frac(u, 9);
        let (s, mins) = (secs % 60, secs / 60);
        if mins == 0 {
            return write!(f, "{sign}{s}{fr}s");
        }
        let (m, hours) = (mins % 60, mins / 60);
        if hours == 0 {
            return write!(f, "{sign}{m}m{s}{fr}s");
        }
        write!(f, "{sign}{hours}h{m}m{s}{fr}s")
    }
}

impl std::str::FromStr for GoDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, DurationError> {
        GoDuration::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> i64 {
        GoDuration::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).nanos()
    }

    /// Go's own `parseDurationTests` (time/time_test.go), a selection.
    #[test]
    fn parses_like_go() {
        let table: &[(&str, i64)] = &[
            ("0", 0),
            ("5s", 5 * SECOND),
            ("30s", 30 * SECOND),
            ("1478s", 1478 * SECOND),
            ("-5s", -5 * SECOND),
            ("+5s", 5 * SECOND),
            ("-0", 0),
            ("+0", 0),
            ("5.0s", 5 * SECOND),
            ("5.6s", 5 * SECOND + 600 * MILLISECOND),
            ("5.s", 5 * SECOND),
            (".5s", 500 * MILLISECOND),
            ("1.0s", SECOND),
            ("1.00s", SECOND),
            ("1.004s", SECOND + 4 * MILLISECOND),
            ("1.0040s", SECOND + 4 * MILLISECOND),
            ("100.00100s", 100 * SECOND + MILLISECOND),
            ("10ns", 10),
            ("11us", 11 * MICROSECOND),
            ("12µs", 12 * MICROSECOND),
            ("12μs", 12 * MICROSECOND),
            ("13ms", 13 * MILLISECOND),
            ("14s", 14 * SECOND),
            ("15m", 15 * MINUTE),
            ("16h", 16 * HOUR),
            ("3h30m", 3 * HOUR + 30 * MINUTE),
            ("1h30m", 90 * MINUTE),
            ("1.5h", 90 * MINUTE),
            ("10.5s4m", 4 * MINUTE + 10 * SECOND + 500 * MILLISECOND),
            ("-2m3.4s", -(2 * MINUTE + 3 * SECOND + 400 * MILLISECOND)),
            ("1h2m3s4ms5us6ns", HOUR + 2 * MINUTE + 3 * SECOND + 4 * MILLISECOND + 5 * MICROSECOND + 6),
            ("39h9m14.425s", 39 * HOUR + 9 * MINUTE + 14 * SECOND + 425 * MILLISECOND),
            ("52763797000ns", 52763797000),
            ("0.3333333333333333333h", 20 * MINUTE),
            ("9007199254740993ns", (1 << 53) + 1),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("0.100000000000000000000h", 6 * MINUTE),
            ("0.830103483285477580700h", 49 * MINUTE + 48 * SECOND + 372539827),
        ];
        for (s, want) in table {
            assert_eq!(p(s), *want, "{s}");
        }
    }

    #[test]
    fn refuses_what_go_refuses_with_its_messages() {
        for bad in [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "9223372036854775808ns",
            "-9223372036854775809ns",
            "9223372036854775.808us",
            "3000000h",
        ] {
            assert!(GoDuration::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(GoDuration::parse("3").unwrap_err().to_string(), r#"time: missing unit in duration "3""#);
        assert_eq!(GoDuration::parse("1d").unwrap_err().to_string(), r#"time: unknown unit "d" in duration "1d""#);
        assert_eq!(GoDuration::parse("x").unwrap_err().to_string(), r#"time: invalid duration "x""#);
    }

    /// Go's `durationTests` (`Duration.String`).
    #[test]
    fn formats_like_go() {
        let table: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (1100, "1.1µs"),
            (2200 * MICROSECOND, "2.2ms"),
            (3300 * MILLISECOND, "3.3s"),
            (4 * MINUTE + 5 * SECOND, "4m5s"),
            (4 * MINUTE + 5001 * MILLISECOND, "4m5.001s"),
            (5 * HOUR + 6 * MINUTE + 7001 * MILLISECOND, "5h6m7.001s"),
            (8 * MINUTE + 1, "8m0.000000001s"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
            (90 * MINUTE, "1h30m0s"),
            (HOUR, "1h0m0s"),
            (2 * HOUR + 45 * MINUTE + 500 * MILLISECOND, "2h45m0.5s"),
            (300 * MILLISECOND, "300ms"),
            (-3 * SECOND, "-3s"),
        ];
        for (n, want) in table {
            assert_eq!(GoDuration::from_nanos(*n).to_string(), *want);
        }
        for s in ["1h30m", "1.5h", "300ms", "2h45m0.5s", "-3s", "1.1µs"] {
            let d = GoDuration::parse(s).unwrap();
            assert_eq!(GoDuration::parse(&d.to_string()).unwrap(), d, "{s} round-trips");
        }
    }
}
