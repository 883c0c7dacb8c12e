//! Signal names and numbers as `docker kill --signal` and `StopSignal`
//! give them: `SIGTERM`, `TERM`, `term`, `15`, `SIGRTMIN+3`.

use nix::sys::signal::Signal;

pub fn parse(s: &str) -> Result<i32, String> {
    let s = s.trim();
    let bad = || format!("Invalid signal: {s}");
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) { Ok(n) } else { Err(bad()) };
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    if let Some(off) = name.strip_prefix("SIGRTMIN+") {
        let n: i32 = off.parse().map_err(|_| bad())?;
        let v = libc::SIGRTMIN() + n;
        return if v <= libc::SIGRTMAX() { Ok(v) } else { Err(bad()) };
    }
    if let Some(off) = name.strip_prefix("SIGRTMAX-") {
        let n: i32 = off.parse().map_err(|_| bad())?;
        let v = libc::SIGRTMAX() - n;
        return if v >= libc::SIGRTMIN() { Ok(v) } else { Err(bad()) };
    }
    name.parse::<Signal>().map(|s| s as i32).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("SIGTERM"), Ok(15));
        assert_eq!(parse("TERM"), Ok(15));
        assert_eq!(parse("kill"), Ok(9));
        assert_eq!(parse("9"), Ok(9));
        assert_eq!(parse("SIGUSR1"), Ok(10));
        assert_eq!(parse("SIGRTMIN+1"), Ok(libc::SIGRTMIN() + 1));
        assert!(parse("SIGNOPE").is_err());
        assert!(parse("0").is_err());
        assert!(parse("99").is_err());
        assert_eq!(parse("").unwrap_err(), "Invalid signal: ");
    }
}
