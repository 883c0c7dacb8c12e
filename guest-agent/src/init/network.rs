//! The guest's own name and loopback interface. Nothing listens on a
//! network interface here: the engine is reached over vsock.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `berth.hostname=NAME` from the kernel command line, else "berth".
pub fn hostname_from_cmdline(cmdline: &str) -> &str {
    cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("berth.hostname="))
        .filter(|h| !h.is_empty() && h.len() <= 64)
        .unwrap_or("berth")
}

pub fn set_hostname(name: &str) -> nix::Result<()> {
    nix::unistd::sethostname(name)
}

/// Sets IFF_UP on `lo`, the one interface the guest brings up itself.
pub fn loopback_up() -> std::io::Result<()> {
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid socket that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS writes into `req`, a valid ifreq naming lo.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the flags member of the union is the one SIOCGIFFLAGS filled.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads `req`, a valid ifreq with lo's name and flags.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_comes_from_the_command_line() {
        assert_eq!(hostname_from_cmdline("quiet berth.hostname=dev1 x"), "dev1");
        assert_eq!(hostname_from_cmdline("quiet"), "berth");
        assert_eq!(hostname_from_cmdline("berth.hostname="), "berth");
    }
}
