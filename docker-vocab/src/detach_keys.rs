//! Detach keys (`docker attach --detach-keys`, the `detachKeys` query of
//! attach, an exec's `DetachKeys`, the CLI config's `detachKeys`): moby/term's
//! `ToBytes` grammar — comma-separated keys, each one character, `ctrl-@`,
//! `ctrl-a` … `ctrl-z`, `ctrl-[`, `ctrl-\`, `ctrl-]`, `ctrl-^`, `ctrl-_` or
//! `DEL` — and the escape proxy's matching over a stream of keystrokes.
//!
//! Owns the grammar, the default (ctrl-p,ctrl-q) and the matching rule
//! (bytes before the sequence pass, a partial match is held back and given
//! back when the next byte does not continue it). It must never read or
//! write a stream itself: callers feed it what they read.

/// What an empty setting means: ctrl-p, ctrl-q.
pub const DEFAULT: [u8; 2] = [0x10, 0x11];

/// A key the grammar does not know, in moby's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown character: '{0}'")]
pub struct UnknownKey(pub String);

/// `ctrl-p,ctrl-q` → `[0x10, 0x11]`. An empty string is an empty sequence
/// (callers use [`DEFAULT`] for it, as the daemon does).
pub fn parse(keys: &str) -> Result<Vec<u8>, UnknownKey> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    keys.split(',').map(key).collect()
}

fn key(k: &str) -> Result<u8, UnknownKey> {
    if k.len() == 1 {
        return Ok(k.as_bytes()[0]);
    }
    if k == "DEL" {
        return Ok(127);
    }
    let ctrl = k.strip_prefix("ctrl-").filter(|c| c.len() == 1).map(|c| c.as_bytes()[0]);
    match ctrl {
        Some(c @ b'a'..=b'z') => Ok(c - b'a' + 1),
        Some(b'@') => Ok(0),
        Some(c @ (b'[' | b'\\' | b']' | b'^' | b'_')) => Ok(c - b'@'),
        _ => Err(UnknownKey(k.to_string())),
    }
}

/// Watches keystrokes for the sequence, as moby's escape proxy does.
#[derive(Debug, Clone)]
pub struct EscapeScanner {
    keys: Vec<u8>,
    /// How many bytes of `keys` the latest input matched (held back).
    pos: usize,
}

/// What one piece of input comes to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scanned {
    /// Bytes to pass on, in order (held-back bytes of a broken match
    /// included).
    pub pass: Vec<u8>,
    /// The whole sequence was typed: detach. Input after it is dropped.
    pub detach: bool,
}

impl EscapeScanner {
    /// An empty `keys` is [`DEFAULT`].
    pub fn new(keys: &[u8]) -> Self {
        let keys = if keys.is_empty() { DEFAULT.to_vec() } else { keys.to_vec() };
        EscapeScanner { keys, pos: 0 }
    }

    pub fn feed(&mut self, input: &[u8]) -> Scanned {
        let mut out = Scanned::default();
        for &b in input {
            if b == self.keys[self.pos] {
                self.pos += 1;
                if self.pos == self.keys.len() {
                    out.detach = true;
                    return out;
                }
                continue;
            }
            // Not the sequence after all: what was held back goes on, and
            // this byte with it (moby does not retry it as a new start).
            out.pass.extend_from_slice(&self.keys[..self.pos]);
            out.pass.push(b);
            self.pos = 0;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_as_moby_term_reads_them() {
        assert_eq!(parse("ctrl-p,ctrl-q").unwrap(), DEFAULT);
        assert_eq!(parse("ctrl-a").unwrap(), [1]);
        assert_eq!(parse("ctrl-z").unwrap(), [26]);
        assert_eq!(parse("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_").unwrap(), [0, 27, 28, 29, 30, 31]);
        assert_eq!(parse("a,ctrl-x,DEL").unwrap(), [b'a', 24, 127]);
        assert!(parse(",").is_err(), "two empty keys, as moby splits it");
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_keys_are_named() {
        assert_eq!(parse("ctrl-P").unwrap_err().to_string(), "Unknown character: 'ctrl-P'");
        assert_eq!(parse("ctrl-p,xy").unwrap_err(), UnknownKey("xy".into()));
        assert!(parse("ctrl-1").is_err());
        assert!(parse("ctrl-p,").is_err(), "an empty key");
    }

    #[test]
    fn the_sequence_detaches_across_pieces() {
        let mut s = EscapeScanner::new(&[]);
        assert_eq!(s.feed(b"ls\x10"), Scanned { pass: b"ls".to_vec(), detach: false });
        assert_eq!(s.feed(b"\x11after"), Scanned { pass: vec![], detach: true });
        let mut s = EscapeScanner::new(&DEFAULT);
        assert_eq!(s.feed(b"x\x10\x11"), Scanned { pass: b"x".to_vec(), detach: true });
    }

    #[test]
    fn a_broken_match_gives_its_bytes_back() {
        let mut s = EscapeScanner::new(&DEFAULT);
        assert_eq!(s.feed(b"\x10"), Scanned::default());
        assert_eq!(s.feed(b"a"), Scanned { pass: b"\x10a".to_vec(), detach: false });
        // moby's rule: the breaking byte is not a new start.
        assert_eq!(s.feed(b"\x10\x10\x11"), Scanned { pass: b"\x10\x10\x11".to_vec(), detach: false });
        let mut one = EscapeScanner::new(&[24]);
        assert!(one.feed(b"\x18").detach);
    }
}
