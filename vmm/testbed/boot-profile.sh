#!/bin/sh
# Boot profile, run inside the test bed (cargo xtask testbed -- sh
# vmm/testbed/boot-profile.sh [BERTH_VMM_BINARY...]): boots berth's kernel
# with the test initramfs under each berth-vmm binary given (default: the one
# on PATH; its boot timeline goes to stderr) and under QEMU microvm, with the
# same kernel, initramfs and command line as `cargo xtask bench boot` plus
# printk.time=1, and prints each guest's dmesg with timestamps so the boots
# can be compared line by line.
set -u
initrd=/var/tmp/berth-vmm-testbed/test.cpio.gz
cmdline="console=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nomux i8042.dumbkbd pci=off quiet printk.time=1 probe=dmesg"
wall() { echo "== wall $(echo "$(date +%s.%N) - $1" | bc) s (process start to the guest's reset)"; }
[ $# -eq 0 ] && set -- berth-vmm
for vmm in "$@"; do
  echo "== berth-vmm ($vmm)"
  start=$(date +%s.%N)
  BERTH_VMM_LOG=berth_vmm::timeline=debug timeout 120 "$vmm" run --kernel "$BERTH_KERNEL" \
      --initramfs "$initrd" --memory 256 --cpus 1 --serial stdout --acpi off --cmdline "$cmdline" 2>&1
  wall "$start"
done
echo "== qemu microvm"
start=$(date +%s.%N)
timeout 120 qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=off,acpi=off -enable-kvm -cpu host \
    -m 256 -smp 1 -nodefaults -no-user-config -display none -no-reboot -serial stdio \
    -kernel "$BERTH_KERNEL" -initrd "$initrd" -append "$cmdline" 2>&1
wall "$start"
