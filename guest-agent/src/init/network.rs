//! The guest's own name (its loopback is `crate::loopback`'s). Nothing
//! listens on a network interface here: the engine is reached over vsock.

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
