//! x86_64 boot: where things live in guest memory (`layout`), the
//! descriptor tables and registers a vCPU starts with (`gdt`, `regs`), what
//! the guest learns about CPUs, memory and devices (`cpuid`, `mptable`,
//! `acpi`, `boot_params`) and the local APIC wiring (`lapic`). These modules write
//! guest memory or vCPU state once, before the first `KVM_RUN`; they never
//! run during the guest's life.

pub mod acpi;
pub mod boot_params;
pub mod cpuid;
pub mod gdt;
pub mod lapic;
pub mod layout;
pub mod mptable;
pub mod regs;
