//! berth-vmm: the KVM micro-VM monitor that boots berth's guest.
//!
//! This crate owns everything between `/dev/kvm` and a running guest. It
//! must never trust the guest: every address, length and descriptor a guest
//! hands over is checked, and a bad one fails that request, never the VMM.

pub mod kvm_probe;
