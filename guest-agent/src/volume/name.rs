//! Volume names: the local driver's rule (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`,
//! so never a `/` nor a leading `.`, hence never `..`) and the random
//! 64-hex names of anonymous volumes.
//!
//! Owns the rule; it must never touch the filesystem but to read
//! `/dev/urandom`.

use std::io::Read;

use super::error::VolumeError;

/// moby's `volumeNameRegex`: one alphanumeric, then at least one of
/// alphanumerics, `_`, `.` and `-`.
pub fn validate(name: &str) -> Result<(), VolumeError> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = name.len() >= 2 && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if first_ok && rest_ok { Ok(()) } else { Err(VolumeError::InvalidName(name.to_string())) }
}

/// The name of a new anonymous volume: 32 random bytes in hex, as Docker's.
pub fn anonymous() -> Result<String, VolumeError> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(VolumeError::io("read", "/dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_docker_takes_and_refuses() {
        for ok in ["data", "my-vol_1.0", "a1", "0abc"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in ["a/b", "..", "../x", ".hidden", "-x", "a", "", "a b", "a:b", "/abs"] {
            assert!(matches!(validate(bad), Err(VolumeError::InvalidName(_))), "{bad}");
        }
    }

    #[test]
    fn anonymous_names_are_64_hex_and_valid() {
        let n = anonymous().unwrap();
        assert_eq!(n.len(), 64);
        assert!(n.bytes().all(|b| b.is_ascii_hexdigit()));
        validate(&n).unwrap();
        assert_ne!(n, anonymous().unwrap());
    }
}
