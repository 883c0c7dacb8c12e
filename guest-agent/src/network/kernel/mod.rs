//! The kernel's side of networks: network namespaces kept as files
//! (`netns`), the bridge, veth pairs, addresses and routes of an
//! endpoint, made over netlink (`links`), and the engine's nftables table
//! for egress and isolation (`firewall`). No `ip`, `iptables` or `nft`
//! binary is ever run.
//!
//! Owns no state: what exists is read back from the kernel, so every
//! operation is idempotent and a restarted engine finds what it left.

pub mod firewall;
pub mod links;
pub mod netns;
pub mod uplink;

/// What went wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Netlink {
        what: String,
        #[source]
        source: rtnetlink::Error,
    },
}

impl KernelError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> KernelError {
        let what = what.into();
        move |source| KernelError::Io { what, source }
    }

    pub fn netlink(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> KernelError {
        let what = what.into();
        move |source| KernelError::Netlink { what, source }
    }
}
