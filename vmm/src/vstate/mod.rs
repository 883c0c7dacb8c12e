//! KVM-side state: the VM (`vm`: memory slots, irqchip, PIT, irqfds,
//! ioeventfds), its vCPUs (`vcpu`: boot state and the run loop, one thread
//! each) and guest RAM (`memory`). Nothing here decides what devices exist;
//! the builder does, and hands the buses to the vCPUs.

pub mod memory;
pub mod vcpu;
pub mod vm;
