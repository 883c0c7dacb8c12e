//! KVM-side state: the VM (`vm`: memory slots, irqchip, PIT, irqfds,
//! ioeventfds), its vCPUs (`vcpu`: boot state and the run loop, one thread
//! each), guest RAM (`memory`), and what a crashed vCPU leaves behind
//! (`crash_report`, with `guest_walk` reading guest memory through the
//! guest's page tables). Nothing here decides what devices exist; the
//! builder does, and hands the buses to the vCPUs.

pub mod crash_report;
pub mod guest_walk;
pub mod memory;
pub mod vcpu;
pub mod vm;
