//! Content digests (`sha256:<64 hex>`) and the hashing readers that compute
//! them while data streams past.
//!
//! Owns the one place where a digest string from a registry, a manifest or a
//! user becomes trusted: [`Digest::parse`]. Every path the store builds from a
//! digest goes through it, so a digest can never smuggle `/` or `..` into a
//! file name. It must never accept an algorithm the engine cannot verify.

use std::cell::RefCell;
use std::fmt;
use std::io::Read;
use std::rc::Rc;

use sha2::{Digest as _, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex digits>")]
    Invalid(String),
}

/// A verified-syntax `sha256:` digest. Other algorithms (sha512) are legal
/// in OCI but unused by Docker registries; refusing them keeps every blob
/// verifiable with one hash.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let hex = s.strip_prefix("sha256:").ok_or_else(|| DigestError::Invalid(s.to_string()))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(DigestError::Invalid(s.to_string()));
        }
        Ok(Digest(s.to_string()))
    }

    pub fn of(bytes: &[u8]) -> Self {
        Self::from_hasher(Sha256::new_with_prefix(bytes))
    }

    pub fn from_hasher(h: Sha256) -> Self {
        Digest(format!("sha256:{}", hex::encode(h.finalize())))
    }

    /// The 64 hex digits: safe as a file name.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Docker's short image ID: the first 12 hex digits.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestError;
    fn try_from(s: String) -> Result<Self, DigestError> {
        Digest::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl std::str::FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, DigestError> {
        Digest::parse(s)
    }
}

/// Running hash and byte count, shared between a [`HashingReader`] buried
/// inside a decoder chain and the code that owns the chain.
#[derive(Default)]
pub struct HashState {
    hasher: Sha256,
    pub bytes: u64,
}

impl HashState {
    pub fn digest(&self) -> Digest {
        Digest::from_hasher(self.hasher.clone())
    }
}

/// Hashes everything read through it. The state is shared (`Rc`) because
/// the reader ends up owned by a decompressor and a tar parser, while the
/// caller needs the digest once they are done; unpacking is single-threaded.
pub struct HashingReader<R> {
    inner: R,
    state: Rc<RefCell<HashState>>,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> (Self, Rc<RefCell<HashState>>) {
        let state = Rc::new(RefCell::new(HashState::default()));
        (HashingReader { inner, state: state.clone() }, state)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut st = self.state.borrow_mut();
        st.hasher.update(&buf[..n]);
        st.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_sha256_hex() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(Digest::parse(&good).unwrap().hex(), "a".repeat(64));
        for bad in [
            "sha256:".to_string(),
            format!("sha512:{}", "a".repeat(64)),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:../{}", "a".repeat(61)),
            "a".repeat(64),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hashing_reader_matches_one_shot_digest() {
        let data = b"hello layers".repeat(1000);
        let (mut r, st) = HashingReader::new(&data[..]);
        let mut sink = Vec::new();
        r.read_to_end(&mut sink).unwrap();
        assert_eq!(st.borrow().digest(), Digest::of(&data));
        assert_eq!(st.borrow().bytes, data.len() as u64);
    }
}
