//! Bounds on what a tar stream can make the tar crate hold in memory: a
//! reader under `tar::Archive` that follows the archive's framing (headers,
//! data, padding) as the bytes pass and fails the stream at the header that
//! breaks a limit, before the tar crate reads that member.
//!
//! Why below the tar crate: it reads a GNU long name (`L`/`K`) or a PAX
//! record set (`x`/`g`) whole into a `Vec` sized by the header, so a few KB
//! of gzip claiming a 4 GiB long name exhaust the engine (PID 1 in a
//! machine). The limits are Go's `archive/tar` ones that Docker and
//! containerd unpack with: a long name at most PATH_MAX (4096) bytes, PAX
//! records at most 1 MiB; and a cap on the members of one archive.
//!
//! Owns only counting and the framing it needs for that (the header's size
//! field, a PAX `size` record overriding it for the next member, GNU sparse
//! extension blocks, the end-of-archive block after which nothing is
//! parsed). It must never change a byte: what passes is what the tar crate
//! and the digests see.

use std::io::{self, Read};

const BLOCK: usize = 512;

/// Go's `archive/tar`: PATH_MAX for a GNU long name or link.
pub const MAX_LONG_NAME: u64 = 4096;
/// Go's `archive/tar` `maxSpecialFileSize`, for a PAX header's records.
pub const MAX_PAX_RECORDS: u64 = 1 << 20;
/// Members of one archive (every header but the extension ones): well over
/// the largest image layers, far under what exhausts the engine.
pub const MAX_MEMBERS: u64 = 1 << 21;

/// A limit the archive broke, carried inside the `io::Error` the tar crate
/// passes on.
#[derive(Debug, thiserror::Error)]
pub enum TarLimit {
    #[error("a GNU long name of {0} bytes is over the {MAX_LONG_NAME}-byte limit")]
    LongName(u64),
    #[error("PAX records of {0} bytes are over the {MAX_PAX_RECORDS}-byte limit")]
    PaxRecords(u64),
    #[error("the archive has more than {MAX_MEMBERS} members")]
    Members,
    #[error("a tar header has an unreadable size field")]
    BadSize,
}

enum State {
    /// Collecting a 512-byte header (or a GNU sparse extension block).
    Header { sparse_ext: bool },
    /// A member's data; `pax` collects a PAX header's records.
    Data { left: u64, pad: u64, pax: Option<Vec<u8>> },
    /// After the end-of-archive block: padding, not parsed.
    Done,
}

/// The reader; see the module comment.
pub struct Bounded<R> {
    inner: R,
    state: State,
    block: Vec<u8>,
    /// A PAX `size` record for the next member.
    pax_size: Option<u64>,
    /// A GNU sparse member's data size, while its extension blocks pass.
    sparse_size: Option<u64>,
    members: u64,
}

impl<R: Read> Bounded<R> {
    pub fn new(inner: R) -> Self {
        Bounded {
            inner,
            state: State::Header { sparse_ext: false },
            block: Vec::with_capacity(BLOCK),
            pax_size: None,
            sparse_size: None,
            members: 0,
        }
    }

    fn observe(&mut self, mut bytes: &[u8]) -> Result<(), TarLimit> {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Done => return Ok(()),
                State::Header { sparse_ext } => {
                    let sparse_ext = *sparse_ext;
                    let take = (BLOCK - self.block.len()).min(bytes.len());
                    self.block.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if self.block.len() == BLOCK {
                        let block = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK));
                        self.state = if sparse_ext { self.sparse_block(&block) } else { self.header(&block)? };
                    }
                }
                State::Data { left, pad, pax } => {
                    let take = (*left + *pad).min(bytes.len() as u64) as usize;
                    let data = (*left).min(take as u64) as usize;
                    if let Some(p) = pax {
                        p.extend_from_slice(&bytes[..data]);
                    }
                    *left -= data as u64;
                    *pad -= (take - data) as u64;
                    bytes = &bytes[take..];
                    if *left == 0 && *pad == 0 {
                        if let Some(p) = pax.take() {
                            self.pax_size = pax_size(&p);
                        }
                        self.state = State::Header { sparse_ext: false };
                    }
                }
            }
        }
        Ok(())
    }

    /// What follows a header: its data, or more header blocks.
    fn header(&mut self, h: &[u8]) -> Result<State, TarLimit> {
        if h.iter().all(|b| *b == 0) {
            // The tar crate stops at the first zero block.
            return Ok(State::Done);
        }
        let size = size_field(&h[124..136]).ok_or(TarLimit::BadSize)?;
        // The tar crate gathers extension headers only in ustar or GNU
        // headers; in others they are plain members.
        let recognized = &h[257..265] == b"ustar\x0000" || &h[257..265] == b"ustar  \x00";
        let mut pax = None;
        let size = match h[156] {
            b'L' | b'K' if size > MAX_LONG_NAME => return Err(TarLimit::LongName(size)),
            b'x' | b'g' if size > MAX_PAX_RECORDS => return Err(TarLimit::PaxRecords(size)),
            b'L' | b'K' if recognized => size,
            b'x' if recognized => {
                pax = Some(Vec::with_capacity(size as usize));
                size
            }
            kind => {
                self.members += 1;
                if self.members > MAX_MEMBERS {
                    return Err(TarLimit::Members);
                }
                // Records gathered before apply to this member, and only
                // a member that is no extension header takes their size.
                let pax_size = self.pax_size.take();
                let size = if matches!(kind, b'L' | b'K' | b'x' | b'g') { size } else { pax_size.unwrap_or(size) };
                // GNU sparse: extension blocks follow the header (the flag
                // at 482 of the GNU header), then the data.
                if kind == b'S' && h[482] != 0 {
                    self.sparse_size = Some(size);
                    return Ok(State::Header { sparse_ext: true });
                }
                size
            }
        };
        Ok(data(size, pax))
    }

    /// A GNU sparse extension block: another follows while byte 504 is set.
    fn sparse_block(&mut self, b: &[u8]) -> State {
        if b[504] != 0 {
            return State::Header { sparse_ext: true };
        }
        data(self.sparse_size.take().unwrap_or(0), None)
    }
}

/// A member's data and its padding to the next block (an empty one ends
/// as soon as the next byte is seen).
fn data(size: u64, pax: Option<Vec<u8>>) -> State {
    let pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
    State::Data { left: size, pad, pax }
}

/// A PAX record set's `size`, as the tar crate applies it.
fn pax_size(records: &[u8]) -> Option<u64> {
    tar::PaxExtensions::new(records)
        .filter_map(Result::ok)
        .find(|e| e.key_bytes() == b"size")
        .and_then(|e| e.value().ok()?.parse().ok())
}

/// The header's size field: octal text, or base-256 when the top bit is set.
fn size_field(f: &[u8]) -> Option<u64> {
    if f[0] & 0x80 != 0 {
        let mut v: u64 = u64::from(f[0] & 0x7f);
        for &b in &f[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let end = f.iter().position(|b| *b == 0).unwrap_or(f.len());
    let text = std::str::from_utf8(&f[..end]).ok()?.trim();
    u64::from_str_radix(text, 8).ok()
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(&buf[..n]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u8, size: u64) -> [u8; BLOCK] {
        let mut h = tar::Header::new_gnu();
        h.set_path("m").expect("path");
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_size(size);
        h.set_cksum();
        *h.as_bytes()
    }

    /// Long names, PAX records (one overriding the next member's size) and
    /// plain members pass unchanged, and the tar crate reads each member.
    #[test]
    fn well_formed_archives_pass_byte_for_byte() {
        let mut b = tar::Builder::new(Vec::new());
        let long = format!("{}/file", "d".repeat(300));
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        b.append_data(&mut h, &long, &b"abc"[..]).expect("long name");
        b.append_pax_extensions([("SCHILY.xattr.user.k", &b"v"[..])]).expect("pax");
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        b.append_data(&mut h, "x", &b"hello"[..]).expect("file");
        // A PAX `size` record, and the member's own size field left 0.
        b.append_pax_extensions([("size", &b"7"[..])]).expect("pax size");
        let mut h = tar::Header::new_ustar();
        h.set_path("sized").expect("path");
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &b"1234567"[..]).expect("file");
        let mut raw = b.into_inner().expect("tar");
        raw.extend_from_slice(&[7u8; 1000]); // padding after the end: not parsed

        let mut a = tar::Archive::new(Bounded::new(&raw[..]));
        let mut seen = Vec::new();
        for e in a.entries().expect("entries") {
            let mut e = e.expect("entry");
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("data");
            seen.push((e.path().expect("path").display().to_string(), data));
        }
        assert_eq!(
            seen,
            vec![(long, b"abc".to_vec()), ("x".into(), b"hello".to_vec()), ("sized".into(), b"1234567".to_vec())]
        );
        let mut copied = Vec::new();
        Bounded::new(&raw[..]).read_to_end(&mut copied).expect("copy");
        assert_eq!(copied, raw);
    }

    #[test]
    fn oversized_extension_headers_are_refused_at_their_header() {
        for (kind, size, what) in
            [(b'L', MAX_LONG_NAME + 1, "long name"), (b'K', 1 << 32, "long name"), (b'x', MAX_PAX_RECORDS + 1, "PAX")]
        {
            let h = header(kind, size);
            let err = Bounded::new(&h[..]).read_to_end(&mut Vec::new()).expect_err("refused");
            assert!(err.to_string().contains(what), "{err}");
        }
        let ok = header(b'L', MAX_LONG_NAME);
        Bounded::new(&ok[..]).read_to_end(&mut Vec::new()).expect("a name at the limit passes");
    }

    /// Headers without data, repeated past the cap: refused at the first
    /// member over it.
    #[test]
    fn members_past_the_cap_are_refused() {
        let h = header(b'5', 0);
        /// The same block `left` times.
        struct Repeat([u8; BLOCK], usize, usize);
        impl Read for Repeat {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let mut n = 0;
                while n < buf.len() && self.1 > 0 {
                    let take = (BLOCK - self.2).min(buf.len() - n);
                    buf[n..n + take].copy_from_slice(&self.0[self.2..self.2 + take]);
                    (n, self.2) = (n + take, (self.2 + take) % BLOCK);
                    if self.2 == 0 {
                        self.1 -= 1;
                    }
                }
                Ok(n)
            }
        }
        let blocks = Repeat(h, MAX_MEMBERS as usize + 1, 0);
        let err = std::io::copy(&mut Bounded::new(blocks), &mut std::io::sink()).expect_err("refused");
        assert!(err.to_string().contains("members"), "{err}");
    }
}
