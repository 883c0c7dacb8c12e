#!/bin/sh
# Boot profile, run inside the test bed (cargo xtask testbed -- sh
# vmm/testbed/boot-profile.sh [BERTH_VMM_BINARY...]): boots berth's kernel
# with the test initramfs under each berth-vmm binary given (default: the one
# on PATH; its boot timeline goes to stderr) and under QEMU microvm, with the
# same kernel, initramfs and command line as `cargo xtask bench boot` plus
# printk.time=1 (initramfs: $BERTH_BENCH_INITRAMFS, else the uncompressed
# test one), and prints each guest's dmesg with timestamps so the boots
# can be compared line by line.
set -u
initrd=${BERTH_BENCH_INITRAMFS:-/var/tmp/berth-vmm-testbed/test.cpio}
# $BERTH_PROFILE_CMDLINE is appended (e.g. initcall_debug).
cmdline="console=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nomux i8042.dumbkbd pci=off quiet printk.time=1 probe=dmesg ${BERTH_PROFILE_CMDLINE:-}"
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
# microvm has no i8042, so the guest's reboot=k reset never comes: cut it off.
timeout 30 qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=off,acpi=off -enable-kvm -cpu host \
    -m 256 -smp 1 -nodefaults -no-user-config -display none -no-reboot -serial stdio \
    -kernel "$BERTH_KERNEL" -initrd "$initrd" -append "$cmdline" 2>&1
wall "$start"
# Where each berth-vmm's private memory is, while its guest sleeps: every
# mapping with more than 64 KiB private (guest RAM included, for reference).
for vmm in "$@"; do
  echo "== smaps of $vmm"
  out=$(mktemp)
  "$vmm" run --kernel "$BERTH_KERNEL" --initramfs "$initrd" --memory 256 --cpus 1 --serial "file:$out" \
      --acpi off --cmdline "console=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nomux i8042.dumbkbd pci=off quiet probe=sleep" &
  pid=$!
  i=0; until grep -q "guest: sleeping" "$out" 2>/dev/null || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done
  awk '/^[0-9a-f]+-[0-9a-f]+ /{name=$0; next} /^Private_(Clean|Dirty):/{p[name]+=$2} END{for (n in p) if (p[n] > 64) printf "%8d kB  %s\n", p[n], n}' \
      "/proc/$pid/smaps" | sort -rn
  kill "$pid"; wait "$pid" 2>/dev/null; rm -f "$out"
done
