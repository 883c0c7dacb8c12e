//! What each vCPU's CPUID says about itself.
//!
//! KVM reports what it can virtualise; the guest must also be told which
//! CPU it is (its APIC ID, matching the MP table), how many siblings it
//! has, and that it runs under a hypervisor. Pure functions over the
//! entries, so they are tested without KVM.

use kvm_bindings::kvm_cpuid_entry2;

/// Leaf 1 ECX bit 31: "running under a hypervisor".
const HYPERVISOR_BIT: u32 = 1 << 31;
/// Leaf 1 ECX bit 24: the local APIC's TSC-deadline timer mode. KVM's
/// in-kernel LAPIC (which berth always uses) emulates it, but
/// `KVM_GET_SUPPORTED_CPUID` leaves the bit to the VMM (Firecracker and
/// QEMU set it too). Without it Linux calibrates the APIC timer against
/// jiffies at boot, which costs time.
const TSC_DEADLINE_BIT: u32 = 1 << 24;
/// Leaf 1 EDX bit 28: more than one logical processor per package.
const HTT_BIT: u32 = 1 << 28;
/// Extended topology level types in ECX[15:8].
const LEVEL_TYPE_SMT: u32 = 1;
const LEVEL_TYPE_CORE: u32 = 2;

/// Rewrites KVM's supported CPUID entries for vCPU `index` of `count`.
pub fn personalise(entries: &mut [kvm_cpuid_entry2], index: u8, count: u8) {
    let apic_id = u32::from(index);
    let count = u32::from(count);
    // Bits needed to number every core: ceil(log2(count)).
    let core_bits = if count <= 1 { 0 } else { 32 - (count - 1).leading_zeros() };
    for e in entries.iter_mut() {
        match e.function {
            1 => {
                e.ebx = (e.ebx & 0x0000_ffff) | (apic_id << 24) | (count.min(255) << 16);
                e.ecx |= HYPERVISOR_BIT | TSC_DEADLINE_BIT;
                if count > 1 {
                    e.edx |= HTT_BIT;
                } else {
                    e.edx &= !HTT_BIT;
                }
            }
            0xb | 0x1f => {
                // One thread per core, `count` cores per package.
                match e.index {
                    0 => {
                        e.eax = 0;
                        e.ebx = 1;
                        e.ecx = (LEVEL_TYPE_SMT << 8) | e.index;
                    }
                    1 => {
                        e.eax = core_bits;
                        e.ebx = count;
                        e.ecx = (LEVEL_TYPE_CORE << 8) | e.index;
                    }
                    _ => {
                        e.eax = 0;
                        e.ebx = 0;
                        e.ecx = e.index;
                    }
                }
                e.edx = apic_id;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(function: u32, index: u32) -> kvm_cpuid_entry2 {
        kvm_cpuid_entry2 { function, index, ebx: 0xffff_ffff, ..Default::default() }
    }

    #[test]
    fn each_vcpu_gets_its_apic_id() {
        let mut e = vec![leaf(1, 0), leaf(0xb, 0), leaf(0xb, 1), leaf(0xb, 2), leaf(7, 0)];
        personalise(&mut e, 2, 3);
        assert_eq!(e[0].ebx >> 24, 2);
        assert_eq!((e[0].ebx >> 16) & 0xff, 3);
        assert_ne!(e[0].ecx & HYPERVISOR_BIT, 0);
        assert_ne!(e[0].ecx & TSC_DEADLINE_BIT, 0);
        assert_ne!(e[0].edx & HTT_BIT, 0);
        assert_eq!((e[1].edx, e[1].ebx), (2, 1));
        assert_eq!((e[2].eax, e[2].ebx, e[2].ecx >> 8), (2, 3, LEVEL_TYPE_CORE));
        assert_eq!(e[3].ecx >> 8, 0);
        assert_eq!(e[4].ebx, 0xffff_ffff, "unrelated leaves are untouched");
    }

    #[test]
    fn single_vcpu_has_no_htt() {
        let mut e = vec![kvm_cpuid_entry2 { function: 1, edx: HTT_BIT, ..Default::default() }];
        personalise(&mut e, 0, 1);
        assert_eq!(e[0].edx & HTT_BIT, 0);
        assert_eq!(e[0].ebx >> 24, 0);
    }
}
