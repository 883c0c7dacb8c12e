//! docker/go-units, the sizes and durations every Docker table prints and
//! every size flag takes: [`human_size`] (`HumanSize`, decimal, 4
//! significant digits), [`human_size_with_precision`] (the docker CLI's
//! tables use 3: `1.23kB`, `4.26MB`), [`bytes_size`] (`BytesSize`, binary:
//! `1.5GiB`), [`ram_in_bytes`] (`RAMInBytes`: `64m`, `1g`, `512KiB`),
//! [`from_human_size`] (`FromHumanSize`: `32kB`, `1.5 GB`) and
//! [`human_duration`] (`HumanDuration`: `Up 2 hours`, `5 days ago`).
//!
//! Owns the exact text, including Go's `%g` (`1e+03kB` for 999,950 bytes, as
//! Docker prints it). It must never take a clock: callers pass durations.

use std::fmt::Write as _;

pub const KB: i64 = 1000;
pub const MB: i64 = 1000 * KB;
pub const GB: i64 = 1000 * MB;
pub const TB: i64 = 1000 * GB;
pub const PB: i64 = 1000 * TB;

pub const KIB: i64 = 1024;
pub const MIB: i64 = 1024 * KIB;
pub const GIB: i64 = 1024 * MIB;
pub const TIB: i64 = 1024 * GIB;
pub const PIB: i64 = 1024 * TIB;

const DECIMAL_ABBRS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_ABBRS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// go-units' messages (`invalid size: '…'`, `invalid suffix: '…'`) and Go's
/// `strconv.ParseFloat` one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("invalid size: '{0}'")]
    InvalidSize(String),
    #[error("invalid suffix: '{0}'")]
    InvalidSuffix(String),
    #[error("strconv.ParseFloat: parsing {0:?}: invalid syntax")]
    Number(String),
}

fn size_and_unit(mut size: f64, base: f64, units: &[&'static str]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// `HumanSizeWithPrecision`: decimal units, `precision` significant digits.
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    let (size, unit) = size_and_unit(size, 1000.0, &DECIMAL_ABBRS);
    format!("{}{unit}", go_g(size, precision))
}

/// `HumanSize`: decimal units, 4 significant digits (`1.024kB`, `2.746MB`).
pub fn human_size(size: f64) -> String {
    human_size_with_precision(size, 4)
}

/// `BytesSize`: binary units, 4 significant digits (`1KiB`, `3.42GiB`).
pub fn bytes_size(size: f64) -> String {
    let (size, unit) = size_and_unit(size, 1024.0, &BINARY_ABBRS);
    format!("{}{unit}", go_g(size, 4))
}

/// `FromHumanSize`: a size with decimal units (`32kB` is 32,000).
pub fn from_human_size(s: &str) -> Result<i64, SizeError> {
    parse_size(s, &[(b'k', KB), (b'm', MB), (b'g', GB), (b't', TB), (b'p', PB)])
}

/// `RAMInBytes`: a size with binary units, case-insensitive, `b`/`ib`
/// optional (`64m`, `1g`, `512KiB`, `32.3 mb`).
pub fn ram_in_bytes(s: &str) -> Result<i64, SizeError> {
    parse_size(s, &[(b'k', KIB), (b'm', MIB), (b'g', GIB), (b't', TIB), (b'p', PIB)])
}

/// go-units' `parseSize`: a number, at most one space, then an optional
/// suffix of a unit letter with `b` or `ib`, or a lone `b`.
fn parse_size(s: &str, units: &[(u8, i64)]) -> Result<i64, SizeError> {
    let (num, sfx) = match s.split_once(' ') {
        Some(parts) => parts,
        None => {
            let sep =
                s.rfind(|c: char| c.is_ascii_digit() || c == '.').ok_or_else(|| SizeError::InvalidSize(s.into()))?;
            (&s[..=sep], &s[sep + 1..])
        }
    };
    let size: f64 = num.parse().map_err(|_| SizeError::Number(num.into()))?;
    // Backward compatibility (go-units): negative sizes are refused; so are
    // the infinities and NaN, which Go would turn into nonsense.
    if size < 0.0 || !size.is_finite() {
        return Err(SizeError::InvalidSize(s.into()));
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    let bad = || SizeError::InvalidSuffix(sfx.to_ascii_lowercase());
    if sfx.len() > 3 {
        return Err(SizeError::InvalidSuffix(sfx.into()));
    }
    let lower = sfx.to_ascii_lowercase();
    let b = lower.as_bytes();
    if b[0] == b'b' {
        return if b.len() == 1 { Ok(size as i64) } else { Err(bad()) };
    }
    let mul = units.iter().find(|(c, _)| *c == b[0]).map(|(_, m)| *m).ok_or_else(bad)?;
    match b.len() {
        2 if b[1] != b'b' => return Err(bad()),
        3 if &b[1..] != b"ib" => return Err(bad()),
        _ => {}
    }
    Ok((size * mul as f64) as i64)
}

/// `HumanDuration` of `secs` seconds: `Less than a second`, `1 second`,
/// `N seconds`, `About a minute`, `N minutes`, `About an hour`, `N hours`
/// (hours rounded to nearest: 5,400 s is `2 hours`), `N days`, `N weeks`,
/// `N months`, `N years`.
pub fn human_duration(secs: i64) -> String {
    let minutes = secs / 60;
    // Go: int(d.Hours() + 0.5).
    let hours = (secs as f64 / 3600.0 + 0.5) as i64;
    match secs {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        // Go truncates here: int(d.Hours()) / 24 / 365.
        _ => format!("{} years", secs / 3600 / 24 / 365),
    }
}

/// Go's `fmt.Sprintf("%.*g", precision, v)`: `precision` significant
/// digits, trailing zeros dropped, exponent form (`1e+03`) when the
/// exponent is below -4 or not below the precision.
fn go_g(v: f64, precision: usize) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let prec = precision.max(1);
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // Rust rounds to `prec` significant digits exactly as Go does (to
    // nearest, ties to even on the exact binary value).
    let e = format!("{:.*e}", prec - 1, v);
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let prec = prec as i32;
    let mut eprec = prec;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let digit = |i: i32| if (0..nd).contains(&i) { digits[i as usize] as char } else { '0' };
    if exp < -4 || exp >= eprec {
        let shown = prec.min(nd);
        out.push(digit(0));
        if shown > 1 {
            out.push('.');
            (1..shown).for_each(|i| out.push(digit(i)));
        }
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exp.abs());
        return out;
    }
    let p = if prec > dp { nd } else { prec };
    let decimals = (p - dp).max(0);
    if dp > 0 {
        (0..dp).for_each(|i| out.push(digit(i)));
    } else {
        out.push('0');
    }
    if decimals > 0 {
        out.push('.');
        (0..decimals).for_each(|i| out.push(digit(dp + i)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// go-units' `TestHumanSize`, `TestBytesSize`, and the docker CLI's
    /// three-digit column.
    #[test]
    fn sizes_as_go_units_prints_them() {
        assert_eq!(human_size(1000.0), "1kB");
        assert_eq!(human_size(1024.0), "1.024kB");
        assert_eq!(human_size(1_000_000.0), "1MB");
        assert_eq!(human_size(1_048_576.0), "1.049MB");
        assert_eq!(human_size(2.0 * MB as f64), "2MB");
        assert_eq!(human_size(3.42 * GB as f64), "3.42GB");
        assert_eq!(human_size(5.372 * TB as f64), "5.372TB");
        assert_eq!(human_size(2.22 * PB as f64), "2.22PB");
        assert_eq!(human_size(10_000_000_000_000.0 * PB as f64), "1e+04YB");
        assert_eq!(bytes_size(1024.0), "1KiB");
        assert_eq!(bytes_size(1024.0 * 1024.0), "1MiB");
        assert_eq!(bytes_size(2.0 * MIB as f64), "2MiB");
        assert_eq!(bytes_size(3.42 * GIB as f64), "3.42GiB");
        assert_eq!(bytes_size(5.372 * TIB as f64), "5.372TiB");
        assert_eq!(bytes_size(2.22 * PIB as f64), "2.22PiB");
        assert_eq!(bytes_size(1.5 * GIB as f64), "1.5GiB");
        assert_eq!(bytes_size((KIB * KIB * KIB * KIB * KIB) as f64 * PIB as f64), "1.049e+06YiB");
        let ps = |n: i64| human_size_with_precision(n as f64, 3);
        assert_eq!(ps(0), "0B");
        assert_eq!(ps(1234), "1.23kB");
        assert_eq!(ps(1240), "1.24kB");
        assert_eq!(ps(4_261_000), "4.26MB");
        assert_eq!(ps(42_600_000), "42.6MB");
        assert_eq!(ps(426_000_000), "426MB");
        assert_eq!(ps(999), "999B");
        assert_eq!(ps(999_950), "1e+03kB", "Go's %.3g of 999.95");
        assert_eq!(ps(12_000), "12kB");
        assert_eq!(ps(100_000), "100kB");
    }

    #[test]
    fn go_g_matches_fmt() {
        for (v, p, want) in [
            (0.000012345, 3, "1.23e-05"),
            (0.0001, 3, "0.0001"),
            (123456.0, 3, "1.23e+05"),
            (12.5, 3, "12.5"),
            (12.0, 3, "12"),
            (0.5, 3, "0.5"),
            (1.0, 4, "1"),
            (-2.5, 2, "-2.5"),
        ] {
            assert_eq!(go_g(v, p), want, "{v} %.{p}g");
        }
    }

    /// go-units' `TestFromHumanSize` and `TestRAMInBytes`.
    #[test]
    fn sizes_parse_as_go_units_reads_them() {
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("0b", 0),
            ("0B", 0),
            ("0 B", 0),
            ("32", 32),
            ("32b", 32),
            ("32B", 32),
            ("32k", 32 * KB),
            ("32K", 32 * KB),
            ("32kb", 32 * KB),
            ("32Kb", 32 * KB),
            ("32Mb", 32 * MB),
            ("32Gb", 32 * GB),
            ("32Tb", 32 * TB),
            ("32Pb", 32 * PB),
            ("32.5kB", 32_500),
            ("32.5 kB", 32_500),
            ("32.5 B", 32),
            ("0.3 K", 300),
            (".3kB", 300),
            ("0.", 0),
            ("0. ", 0),
            ("0.b", 0),
            ("-0", 0),
            ("-0 b", 0),
            ("32.", 32),
            ("32. B", 32),
            ("0 ", 0),
        ];
        for (s, want) in ok {
            assert_eq!(from_human_size(s), Ok(*want), "{s:?}");
        }
        for bad in [
            " 0", " 0b", "0b ", "0 B ", "", "hello", ".", ". ", " ", "  ", " .", "-32", "-32b", "-32 B", "32b.",
            "32 b.", "32 bb", "32 b b", "32  b", " 32 ", "32m b", "32bm",
        ] {
            assert!(from_human_size(bad).is_err(), "{bad:?}");
        }
        let ok: &[(&str, i64)] = &[
            ("32", 32),
            ("32b", 32),
            ("32k", 32 * KIB),
            ("32Kib", 32 * KIB),
            ("32KIB", 32 * KIB),
            ("32Mb", 32 * MIB),
            ("32Gb", 32 * GIB),
            ("32Tb", 32 * TIB),
            ("32Pb", 32 * PIB),
            ("32PB", 32 * PIB),
            ("32P", 32 * PIB),
            ("32.3", 32),
            ("32.3 mb", (32.3 * MIB as f64) as i64),
            ("0.3MB", (0.3 * MIB as f64) as i64),
            ("64m", 64 << 20),
            ("1g", 1 << 30),
        ];
        for (s, want) in ok {
            assert_eq!(ram_in_bytes(s), Ok(*want), "{s:?}");
        }
        for bad in ["", "hello", "-32", " 32 ", "32m b", "32bm"] {
            assert!(ram_in_bytes(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ram_in_bytes("32bm").unwrap_err().to_string(), "invalid suffix: 'bm'");
        assert_eq!(ram_in_bytes("-32").unwrap_err().to_string(), "invalid size: '-32'");
        assert_eq!(ram_in_bytes("hello").unwrap_err().to_string(), "invalid size: 'hello'");
    }

    /// go-units' `TestHumanDuration`, in seconds.
    #[test]
    fn durations_as_go_units_prints_them() {
        let (min, hour, day) = (60, 3600, 86_400);
        let (week, month, year) = (7 * day, 30 * day, 365 * day);
        let table: &[(i64, &str)] = &[
            (0, "Less than a second"),
            (1, "1 second"),
            (45, "45 seconds"),
            (59, "59 seconds"),
            (60, "About a minute"),
            (3 * min, "3 minutes"),
            (35 * min + 40, "35 minutes"),
            (59 * min, "59 minutes"),
            (hour, "About an hour"),
            (hour + 29 * min, "About an hour"),
            (5400, "2 hours"),
            (hour + 31 * min, "2 hours"),
            (3 * hour + 29 * min, "3 hours"),
            (3 * hour + 31 * min, "4 hours"),
            (24 * hour, "24 hours"),
            (day + 12 * hour, "36 hours"),
            (2 * day, "2 days"),
            (13 * day + 5 * hour, "13 days"),
            (2 * week, "2 weeks"),
            (2 * week + 4 * day, "2 weeks"),
            (month, "4 weeks"),
            (month + 2 * week, "6 weeks"),
            (2 * month, "2 months"),
            (5 * month + 2 * week, "5 months"),
            (24 * month, "24 months"),
            (24 * month + 2 * week, "2 years"),
            (3 * year + 2 * month, "3 years"),
        ];
        for (secs, want) in table {
            assert_eq!(human_duration(*secs), *want, "{secs} s");
        }
    }
}
