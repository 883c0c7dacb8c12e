//! berth-vmm: the KVM micro-VM monitor that boots berth's guest.
//!
//! This crate owns everything between `/dev/kvm` and a running guest. Data
//! flows one way: a [`config::VmConfig`] is validated, [`builder::build`]
//! turns it into a running [`builder::Vmm`] (memory, KVM VM, devices,
//! kernel, vCPU and device threads), and [`builder::Vmm::wait`] reports how
//! the VM ended ([`exit::VmExit`]). It must never trust the guest: every
//! address, length and descriptor a guest hands over is checked, and a bad
//! one fails that request, never the VMM.
//!
//! # Seccomp
//!
//! The threads that handle guest input (vCPUs, devices) each install a
//! seccomp filter before entering their loops; see [`seccomp`] for the
//! lists and for `--seccomp log`, which names a missing syscall instead of
//! killing the process.

pub mod arch;
pub mod builder;
pub mod config;
pub mod devices;
pub mod event_loop;
pub mod exit;
pub mod kvm_probe;
pub mod loader;
pub mod rotating_log;
pub mod seccomp;
pub mod symbols;
pub mod timeline;
pub mod vstate;
