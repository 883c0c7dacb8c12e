//! Docker's stdout/stderr frames as the shim's output streams carry them
//! when a process has no TTY: an 8-byte header `[stream, 0, 0, 0, len
//! (u32 big-endian)]`, then `len` bytes. Stream 1 is stdout, 2 stderr.
//!
//! Owns encoding and incremental decoding of that format on the runtime's
//! side (the shim writes it, the engine reads it back when it needs the
//! bytes themselves). It must never do I/O.

pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

const HEADER: usize = 8;

/// One frame around `data`.
pub fn encode(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(HEADER + data.len());
    f.extend_from_slice(&[stream, 0, 0, 0]);
    f.extend_from_slice(&(data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// Splits a framed stream, fed in arbitrary pieces, back into frames.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    /// Adds `bytes`; returns every frame they complete, in order, as
    /// (stream, payload).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut at = 0;
        while self.buf.len() - at >= HEADER {
            let h = &self.buf[at..at + HEADER];
            let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
            if self.buf.len() - at - HEADER < len {
                break;
            }
            let stream = h[0];
            out.push((stream, self.buf[at + HEADER..at + HEADER + len].to_vec()));
            at += HEADER + len;
        }
        self.buf.drain(..at);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_in_any_pieces() {
        let mut wire = encode(STDOUT, b"hello\n");
        wire.extend(encode(STDERR, b""));
        wire.extend(encode(STDERR, b"oops"));
        assert_eq!(&wire[..8], [1, 0, 0, 0, 0, 0, 0, 6]);
        let want = vec![(STDOUT, b"hello\n".to_vec()), (STDERR, vec![]), (STDERR, b"oops".to_vec())];
        let mut d = FrameDecoder::default();
        assert_eq!(d.push(&wire), want);
        let mut d = FrameDecoder::default();
        let got: Vec<_> = wire.iter().flat_map(|b| d.push(std::slice::from_ref(b))).collect();
        assert_eq!(got, want, "byte by byte");
        assert!(d.push(&[1, 0, 0]).is_empty(), "a partial header waits");
    }
}
