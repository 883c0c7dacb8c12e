//! A userspace network backend: passt's (and QEMU's `-netdev stream`)
//! UNIX-socket protocol, for hosts where creating a TAP interface needs
//! privileges the user does not have. passt runs unprivileged, owns the
//! guest's addresses (DHCP, ARP, NDP) and turns the guest's connections into
//! ordinary host sockets.
//!
//! On the wire each Ethernet frame is preceded by its length as a 32-bit
//! big-endian integer, and there is no virtio-net header: this backend adds
//! a zeroed one on the way in and strips it on the way out. The socket is a
//! byte stream, so frames are reassembled from partial reads, and frames the
//! socket cannot take at once are queued up to a bound and then dropped,
//! as a full NIC queue would.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::backend::FrameBackend;
use super::tap::VNET_HDR_LEN;

/// Largest Ethernet frame passt sends or accepts (64 KiB IP + header).
const MAX_ETH_FRAME: usize = 65_535 + 14 + 4;
/// Bytes of outgoing frames queued while passt is not reading.
const MAX_TX_QUEUE: usize = 1 << 20;

pub struct Passt {
    stream: UnixStream,
    /// Bytes read but not yet returned as a whole frame.
    rx: Vec<u8>,
    /// Length-prefixed frames not yet written.
    tx: VecDeque<u8>,
}

impl Passt {
    /// Connects to a passt instance listening on `socket`.
    pub fn connect(socket: &Path) -> std::io::Result<Self> {
        Self::from_stream(UnixStream::connect(socket)?)
    }

    pub fn from_stream(stream: UnixStream) -> std::io::Result<Self> {
        stream.set_nonblocking(true)?;
        Ok(Passt { stream, rx: Vec::with_capacity(MAX_ETH_FRAME + 4), tx: VecDeque::new() })
    }

    /// The first complete frame in `rx`, as (start, len), if one is there.
    fn complete_frame(&self) -> std::io::Result<Option<(usize, usize)>> {
        let Some(prefix) = self.rx.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if len == 0 || len > MAX_ETH_FRAME {
            return Err(std::io::Error::new(ErrorKind::InvalidData, format!("passt sent a frame of {len} bytes")));
        }
        Ok((self.rx.len() >= 4 + len).then_some((4, len)))
    }

    /// Writes queued bytes until the socket stops taking them.
    fn flush_queue(&mut self) -> std::io::Result<()> {
        while !self.tx.is_empty() {
            let (front, _) = self.tx.as_slices();
            match self.stream.write(front) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.tx.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl AsRawFd for Passt {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

impl FrameBackend for Passt {
    fn read_frame(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some((start, len)) = self.complete_frame()? {
                let out = VNET_HDR_LEN + len;
                if buf.len() < out {
                    return Err(std::io::Error::new(ErrorKind::InvalidInput, "frame buffer too small"));
                }
                buf[..VNET_HDR_LEN].fill(0);
                buf[VNET_HDR_LEN..out].copy_from_slice(&self.rx[start..start + len]);
                self.rx.drain(..start + len);
                return Ok(out);
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(std::io::Error::new(ErrorKind::ConnectionAborted, "passt closed the socket"));
                }
                Ok(n) => self.rx.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn write_frame(&mut self, frame: &[u8]) -> std::io::Result<()> {
        let eth = frame.get(VNET_HDR_LEN..).unwrap_or_default();
        if eth.is_empty() || eth.len() > MAX_ETH_FRAME {
            return Err(std::io::Error::new(ErrorKind::InvalidInput, "frame size out of range"));
        }
        self.flush_queue()?;
        if self.tx.len() + 4 + eth.len() > MAX_TX_QUEUE {
            return Err(std::io::Error::new(ErrorKind::WouldBlock, "passt is not keeping up; frame dropped"));
        }
        self.tx.extend((eth.len() as u32).to_be_bytes());
        self.tx.extend(eth);
        self.flush_queue()
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.flush_queue()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Passt, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        (Passt::from_stream(a).unwrap(), b)
    }

    #[test]
    fn frames_are_reassembled_from_pieces_and_get_a_vnet_header() {
        let (mut p, mut host) = pair();
        let mut buf = vec![0u8; 70_000];
        assert_eq!(p.read_frame(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        host.write_all(&[0, 0, 0, 5, b'a', b'b']).unwrap();
        assert_eq!(p.read_frame(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        host.write_all(&[b'c', b'd', b'e', 0, 0, 0, 2, b'x', b'y']).unwrap();
        let n = p.read_frame(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"\0\0\0\0\0\0\0\0\0\0\0\0abcde");
        let n = p.read_frame(&mut buf).unwrap();
        assert_eq!(&buf[VNET_HDR_LEN..n], b"xy");
    }

    #[test]
    fn outgoing_frames_lose_the_header_and_gain_a_length() {
        let (mut p, mut host) = pair();
        let mut frame = vec![9u8; VNET_HDR_LEN];
        frame.extend_from_slice(b"hello");
        p.write_frame(&frame).unwrap();
        let mut got = [0u8; 9];
        host.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"\0\0\0\x05hello");
        assert!(p.write_frame(&frame[..VNET_HDR_LEN]).is_err(), "header without a frame");
    }

    #[test]
    fn a_slow_peer_gets_frames_queued_then_dropped_never_blocking() {
        let (mut p, mut host) = pair();
        let frame = vec![1u8; VNET_HDR_LEN + 1500];
        let mut sent = 0;
        let dropped = loop {
            match p.write_frame(&frame) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 100_000);
        };
        assert_eq!(dropped.kind(), ErrorKind::WouldBlock);
        // Everything accepted arrives intact once the peer reads.
        host.set_nonblocking(true).unwrap();
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 65536];
        loop {
            match host.read(&mut chunk) {
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(_) => {
                    p.flush().unwrap();
                    if p.tx.is_empty() {
                        while let Ok(n) = host.read(&mut chunk) {
                            bytes.extend_from_slice(&chunk[..n]);
                        }
                        break;
                    }
                }
            }
        }
        assert_eq!(bytes.len(), sent * (4 + 1500));
    }

    #[test]
    fn nonsense_lengths_and_hangups_are_errors() {
        let (mut p, mut host) = pair();
        let mut buf = vec![0u8; 70_000];
        host.write_all(&[0xff, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!(p.read_frame(&mut buf).unwrap_err().kind(), ErrorKind::InvalidData);
        let (mut p, host) = pair();
        drop(host);
        assert_eq!(p.read_frame(&mut buf).unwrap_err().kind(), ErrorKind::ConnectionAborted);
    }
}
