//! Linux signal names and numbers as Docker reads them (`docker kill
//! --signal`, `StopSignal`, `docker stop --signal`): moby's `ParseSignal`
//! over moby/sys's Linux `SignalMap` — `SIGKILL`, `KILL`, `kill`, `9`,
//! `SIGRTMIN+3`, `RTMAX-1` — and back to a name for display.
//!
//! Owns the table, with the kernel's numbers (x86 and arm64 Linux; real-time
//! signals 34–64 as the kernel numbers them, not as a C library reserves
//! some). It must never send a signal.

/// (name without `SIG`, number), aliases after the canonical name.
const NAMED: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// moby/sys: `sigrtmin = 34`, `sigrtmax = 64`; its map names RTMIN..RTMIN+15
/// and RTMAX-14..RTMAX.
pub const SIGRTMIN: i32 = 34;
pub const SIGRTMAX: i32 = 64;
const RTMIN_NAMED_UP_TO: i32 = 15;
const RTMAX_NAMED_DOWN_TO: i32 = 14;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// moby's `ParseSignal` message.
    #[error("invalid signal: {0}")]
    Invalid(String),
    /// moby's kill handler, for a number outside the table.
    #[error("the linux daemon does not support signal {0}")]
    Unsupported(i32),
}

/// A signal number from a name or number, as Docker: a number other than 0
/// is taken as is, a name case-insensitively with or without `SIG`; the
/// number must then be one Linux has (moby's `ValidSignalForPlatform`).
pub fn parse(raw: &str) -> Result<i32, SignalError> {
    let n = match raw.parse::<i32>() {
        Ok(0) => return Err(SignalError::Invalid(raw.to_string())),
        Ok(n) => n,
        Err(_) => {
            let upper = raw.to_ascii_uppercase();
            let name = upper.strip_prefix("SIG").unwrap_or(&upper);
            by_name(name).ok_or_else(|| SignalError::Invalid(raw.to_string()))?
        }
    };
    if name(n).is_none() {
        return Err(SignalError::Unsupported(n));
    }
    Ok(n)
}

fn by_name(name: &str) -> Option<i32> {
    if let Some(&(_, n)) = NAMED.iter().find(|(k, _)| *k == name) {
        return Some(n);
    }
    // Only the spellings moby's map has: no `+0`, no leading zeros.
    let offset = |s: &str, max: i32| -> Option<i32> {
        let n: i32 = s.parse().ok()?;
        (s == n.to_string() && (1..=max).contains(&n)).then_some(n)
    };
    match name {
        "RTMIN" => Some(SIGRTMIN),
        "RTMAX" => Some(SIGRTMAX),
        _ => {
            if let Some(off) = name.strip_prefix("RTMIN+") {
                offset(off, RTMIN_NAMED_UP_TO).map(|n| SIGRTMIN + n)
            } else if let Some(off) = name.strip_prefix("RTMAX-") {
                offset(off, RTMAX_NAMED_DOWN_TO).map(|n| SIGRTMAX - n)
            } else {
                None
            }
        }
    }
}

/// The canonical name of a signal number (`SIGKILL`, `SIGRTMIN+3`,
/// `SIGRTMAX-1`), `None` for a number Linux does not have.
pub fn name(n: i32) -> Option<String> {
    if let Some((k, _)) = NAMED.iter().find(|(_, v)| *v == n) {
        return Some(format!("SIG{k}"));
    }
    match n {
        SIGRTMIN => Some("SIGRTMIN".into()),
        SIGRTMAX => Some("SIGRTMAX".into()),
        n if (SIGRTMIN + 1..=SIGRTMIN + RTMIN_NAMED_UP_TO).contains(&n) => Some(format!("SIGRTMIN+{}", n - SIGRTMIN)),
        n if (SIGRTMAX - RTMAX_NAMED_DOWN_TO..SIGRTMAX).contains(&n) => Some(format!("SIGRTMAX-{}", SIGRTMAX - n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_as_docker() {
        let table: &[(&str, i32)] = &[
            ("SIGKILL", 9),
            ("KILL", 9),
            ("kill", 9),
            ("sigkill", 9),
            ("9", 9),
            ("SIGTERM", 15),
            ("TERM", 15),
            ("SIGUSR1", 10),
            ("SIGCHLD", 17),
            ("CLD", 17),
            ("IOT", 6),
            ("POLL", 29),
            ("SIGWINCH", 28),
            ("SIGRTMIN", 34),
            ("SIGRTMIN+3", 37),
            ("rtmin+15", 49),
            ("SIGRTMAX-14", 50),
            ("SIGRTMAX-1", 63),
            ("RTMAX", 64),
            ("64", 64),
        ];
        for (s, n) in table {
            assert_eq!(parse(s), Ok(*n), "{s}");
        }
        for bad in ["SIGNOPE", "", "SIG", "SIGRTMIN+16", "SIGRTMAX-15", "SIGRTMIN+0", "SIGRTMIN+03", "-SIGKILL"] {
            assert!(matches!(parse(bad), Err(SignalError::Invalid(_))), "{bad:?}");
        }
        assert_eq!(parse("0").unwrap_err().to_string(), "invalid signal: 0");
        assert_eq!(parse("SIGNOPE").unwrap_err().to_string(), "invalid signal: SIGNOPE");
        assert_eq!(parse("99").unwrap_err().to_string(), "the linux daemon does not support signal 99");
        assert!(parse("32").is_err() && parse("33").is_err(), "reserved by the C library, not in Docker's map");
    }

    #[test]
    fn numbers_name_back_and_round_trip() {
        assert_eq!(name(9).as_deref(), Some("SIGKILL"));
        assert_eq!(name(6).as_deref(), Some("SIGABRT"));
        assert_eq!(name(17).as_deref(), Some("SIGCHLD"));
        assert_eq!(name(29).as_deref(), Some("SIGIO"));
        assert_eq!(name(37).as_deref(), Some("SIGRTMIN+3"));
        assert_eq!(name(63).as_deref(), Some("SIGRTMAX-1"));
        assert_eq!(name(0), None);
        assert_eq!(name(65), None);
        for n in (1..=31).chain(34..=64) {
            let s = name(n).unwrap();
            assert_eq!(parse(&s), Ok(n), "{s}");
        }
    }

    /// The table's numbers are the C library's (which are the kernel's).
    #[test]
    fn table_matches_libc() {
        let libc: &[(&str, i32)] = &[
            ("HUP", libc::SIGHUP),
            ("INT", libc::SIGINT),
            ("QUIT", libc::SIGQUIT),
            ("ILL", libc::SIGILL),
            ("TRAP", libc::SIGTRAP),
            ("ABRT", libc::SIGABRT),
            ("BUS", libc::SIGBUS),
            ("FPE", libc::SIGFPE),
            ("KILL", libc::SIGKILL),
            ("USR1", libc::SIGUSR1),
            ("SEGV", libc::SIGSEGV),
            ("USR2", libc::SIGUSR2),
            ("PIPE", libc::SIGPIPE),
            ("ALRM", libc::SIGALRM),
            ("TERM", libc::SIGTERM),
            ("STKFLT", libc::SIGSTKFLT),
            ("CHLD", libc::SIGCHLD),
            ("CONT", libc::SIGCONT),
            ("STOP", libc::SIGSTOP),
            ("TSTP", libc::SIGTSTP),
            ("TTIN", libc::SIGTTIN),
            ("TTOU", libc::SIGTTOU),
            ("URG", libc::SIGURG),
            ("XCPU", libc::SIGXCPU),
            ("XFSZ", libc::SIGXFSZ),
            ("VTALRM", libc::SIGVTALRM),
            ("PROF", libc::SIGPROF),
            ("WINCH", libc::SIGWINCH),
            ("IO", libc::SIGIO),
            ("PWR", libc::SIGPWR),
            ("SYS", libc::SIGSYS),
        ];
        for (k, n) in libc {
            assert_eq!(by_name(k), Some(*n), "{k}");
        }
        assert_eq!(SIGRTMAX, libc::SIGRTMAX());
    }
}
