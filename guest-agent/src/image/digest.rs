//! The hashing readers that compute content digests while data streams
//! past. The digest type itself ([`Digest`], the one place a digest string
//! becomes trusted) is the shared vocabulary's, re-exported here. It must
//! never buffer what it hashes: bytes are hashed as they pass.

use std::cell::RefCell;
use std::io::Read;
use std::rc::Rc;

pub use docker_vocab::digest::Digest;
use sha2::{Digest as _, Sha256};

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
    fn hashing_reader_matches_one_shot_digest() {
        let data = b"hello layers".repeat(1000);
        let (mut r, st) = HashingReader::new(&data[..]);
        let mut sink = Vec::new();
        r.read_to_end(&mut sink).unwrap();
        assert_eq!(st.borrow().digest(), Digest::of(&data));
        assert_eq!(st.borrow().bytes, data.len() as u64);
    }
}
