//! A connect to a host UNIX socket that never blocks the device thread.
//!
//! `UnixStream::connect` blocks while the listener's backlog is full (its
//! owner is not accepting), and with it every device on the thread. Here
//! the socket is made non-blocking before `connect(2)`: on a UNIX stream
//! socket the kernel then answers at once, with the connection or with
//! `EAGAIN` (backlog full), which the muxer treats as a refusal.
//!
//! Owns only that one call; it must never retry or wait.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Connects to `path` without blocking; the stream is non-blocking.
pub fn connect_nonblocking(path: &Path) -> std::io::Result<UnixStream> {
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: an all-zero sockaddr_un is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "socket path too long or has a NUL"));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: socket(2) with constant arguments; the fd is owned at once.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a socket this function just made and owns alone.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
    // SAFETY: addr is a filled sockaddr_un that outlives the call; len is
    // within it.
    let rc = unsafe { libc::connect(std::os::fd::AsRawFd::as_raw_fd(&fd), (&raw const addr).cast(), len) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(UnixStream::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_backlog_is_an_error_at_once_and_a_free_one_connects() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // Nobody accepts: the backlog fills, and then connect says so.
        let mut held = Vec::new();
        let err = loop {
            match connect_nonblocking(&path) {
                Ok(s) => held.push(s),
                Err(e) => break e,
            }
            assert!(held.len() < 100_000, "the backlog never filled");
        };
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
        drop(held);
        drop(listener);
        let _l = std::os::unix::net::UnixListener::bind(dir.path().join("m.sock")).unwrap();
        assert!(connect_nonblocking(&dir.path().join("m.sock")).is_ok());
        assert!(connect_nonblocking(&dir.path().join("none.sock")).is_err());
    }
}
