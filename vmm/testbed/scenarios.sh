#!/bin/sh
# berth-vmm on real KVM, run inside the test bed after build-initramfs.sh:
#   cargo build --release -p berth-vmm && sh vmm/testbed/build-initramfs.sh
#   cargo xtask testbed -- sh "$PWD/vmm/testbed/scenarios.sh" [GROUP...]
# Groups: devices (disks, memory, vCPUs, rng, vsock, TAP, passt), kernels (berth's
# and Debian's kernel to the agent's /_ping over vsock, SIGTERM), exits
# (poweroff, panic, a corrupted kernel's crash report, configurations that
# cannot boot). No group: all.
# vsock_loop (not in "all"): ROUNDS vsock boots in a row.
# Each check prints "ok: <what>" or "FAILED: <what>"; the script ends
# non-zero if one failed. tests/e2e/tests/vmm.rs runs it.
set -u
WORK=${WORK:-/var/tmp/berth-vmm-testbed}
here=$(cd "$(dirname "$0")" && pwd)
T=$WORK; K="console=ttyS0 reboot=k panic=-1 pci=off"
failed=0
check() { if [ "$1" = "$2" ]; then echo "ok: $3"; else echo "FAILED: $3 (got $1, want $2)"; failed=1; fi; }
# berth-vmm with a deadline; when it fails, the end of the guest's console
# (a --serial file:PATH) is printed, so a crash shows what the guest did last.
vmm() {
  timeout 300 berth-vmm run "$@"; rc=$?
  if [ $rc -ne 0 ]; then
    for a in "$@"; do
      case $a in file:*) echo "-- last console lines of ${a#file:} (exit $rc):"; tail -n 30 "${a#file:}";; esac
    done
  fi
  return $rc
}
cd /tmp

# One vsock boot: 64 MiB each way and 16 concurrent streams each way,
# checksummed at the far end, and a CONNECT before the guest listens.
vsock_boot() {
rm -f /tmp/v.sock*
timeout 280 python3 $here/host_vsock.py /tmp/v.sock > /tmp/host_vsock.log 2>&1 & hp=$!
start=$(date +%s)
vmm --kernel "$BERTH_KERNEL" --initramfs $T/test.cpio.gz --cpus 2 --vsock 3:/tmp/v.sock --cmdline "$K probe=vsock" \
    --serial file:/tmp/b3.log
check $? 0 "vsock boot ends with 0"
wait $hp; hrc=$?
# The host side's own report; its tracebacks only when it failed.
if [ $hrc -eq 0 ]; then grep -v "^ " /tmp/host_vsock.log | grep -v "Traceback\|Exception in thread"; else tail -n 20 /tmp/host_vsock.log; fi
check $hrc 0 "host verified every host->guest stream, CONNECT-with-data included"
echo "vsock boot took $(( $(date +%s) - start )) s"
}

# ROUNDS vsock boots in a row (default 20): the stress that once ended in
# a triple fault, repeated to measure how often.
vsock_loop() {
n=${ROUNDS:-20} bad=0 i=1
while [ $i -le $n ]; do
  echo "== vsock round $i of $n"
  failed=0; vsock_boot; [ $failed -ne 0 ] && bad=$((bad+1))
  i=$((i+1))
done
echo "vsock loop: $bad of $n boots failed"
[ $bad -eq 0 ]; failed=$?
}

devices() {
echo "== boot 1: 2 vCPUs, 384 MiB, rng, a disk written, a read-only disk refusing writes"
rm -f d1.img d2.img; truncate -s 64M d1.img; truncate -s 16M d2.img
vmm --kernel "$BERTH_KERNEL" --initramfs $T/test.cpio.gz --cpus 2 --memory 384 --rng --disk /tmp/d1.img \
    --disk /tmp/d2.img,ro --cmdline "$K probe=rng,blkwrite,blkro marker=42" --serial file:/tmp/b1.log
check $? 0 "guest reset ends the VMM with 0"
grep "guest:" /tmp/b1.log
grep -q "cpus=2 MemTotal: *3[67][0-9][0-9][0-9][0-9] kB" /tmp/b1.log; check $? 0 "2 vCPUs and ~384 MiB visible"
grep -q "hwrng=virtio_rng" /tmp/b1.log; check $? 0 "virtio-rng is the guest's hwrng"
grep -q "vdb write refused" /tmp/b1.log; check $? 0 "read-only disk refuses writes"
grep -q "vdb ro flag=1" /tmp/b1.log; check $? 0 "read-only disk is read-only in the guest"
cmp -s -n 1048576 /tmp/d2.img /dev/zero; check $? 0 "read-only image untouched on the host"

echo "== boot 2: the marker survived"
vmm --kernel "$BERTH_KERNEL" --initramfs $T/test.cpio.gz --disk /tmp/d1.img --cmdline "$K probe=blkread" \
    --serial file:/tmp/b2.log
grep "guest: vda" /tmp/b2.log
grep -q "vda says berth-marker-42" /tmp/b2.log; check $? 0 "disk contents persist across boots"
grep "i8042" /tmp/b2.log
grep -qE "AUX port|i8042: Failed" /tmp/b2.log; check $? 1 "no mouse port found or waited for without i8042.noaux"

echo "== boot 3: vsock, 64 MiB each way, 16 concurrent streams each way, CONNECT before listen"
vsock_boot
grep -E "probe:" /tmp/b3.log
test "$(grep -c 'source OK' /tmp/b3.log)" = 2; check $? 0 "guest verified every guest->host stream"
grep -q "probe: sink done" /tmp/b3.log; check $? 0 "guest sink served all 16 host streams"

echo "== boot 4: TAP network, TCP round trip"
ip tuntap add dev tap0 mode tap 2>/dev/null; ip addr add 10.0.2.1/24 dev tap0; ip link set tap0 up
timeout 120 python3 $here/tcp_echo.py 10.0.2.1 & hp=$!
vmm --kernel "$BERTH_KERNEL" --initramfs $T/test.cpio.gz --tap tap0 --cmdline "$K probe=net" --serial file:/tmp/n.log
wait $hp
grep "guest:" /tmp/n.log
grep -q "tcp reply: host-echo:hello-from-guest" /tmp/n.log; check $? 0 "TCP round trip over TAP"

echo "== boot 5: passt (unprivileged userspace network), TCP round trip"
# passt takes its template from an interface with a default route, and the
# test bed has only lo: a veth pair gives it one. Connections to the guest's
# gateway address reach the host's loopback (passt's default mapping).
ip link add pt0 type veth peer name pt1; ip addr add 10.0.9.1/24 dev pt0
ip link set pt0 up; ip link set pt1 up; ip route add default via 10.0.9.2 dev pt0
rm -rf /tmp/passt; mkdir -m 777 /tmp/passt   # passt drops root for nobody
timeout 120 python3 $here/tcp_echo.py 127.0.0.1 & hp=$!
timeout 200 passt --foreground --one-off --ipv4-only --quiet --socket /tmp/passt/s --address 10.0.3.1 \
    --netmask 24 --gateway 10.0.3.254 2>/tmp/passt.log & pp=$!
i=0; until [ -S /tmp/passt/s ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done
vmm --kernel "$BERTH_KERNEL" --initramfs $T/test.cpio.gz --passt /tmp/passt/s --cmdline "$K probe=passt" \
    --serial file:/tmp/p.log
check $? 0 "passt boot ends with 0"
wait $hp
grep "guest:" /tmp/p.log
grep -q "tcp reply via passt: host-echo:hello-through-passt" /tmp/p.log; check $? 0 "TCP round trip through passt"
wait $pp; check $? 0 "passt exits cleanly when the VMM goes"
}

# agent KERNEL INITRAMFS NAME [extra flags]: boots the agent, asks /_ping
# over vsock, then SIGTERM must make the guest end the VM itself (the VMM
# types Ctrl-Alt-Del, the agent stops and resets or powers off) within the
# grace period, and the VMM exit 0.
agent() {
kernel=$1 initramfs=$2 name=$3; shift 3
rm -f /tmp/$name.sock
# `timeout` (not a shell function) in the background, so SIGTERM reaches
# berth-vmm through it.
BERTH_VMM_LOG=info timeout 300 berth-vmm run --kernel "$kernel" --initramfs "$initramfs" --cpus 2 --memory 512 \
    --vsock 3:/tmp/$name.sock --serial file:/tmp/$name.log --stop-timeout 60 "$@" 2>/tmp/$name.err & p=$!
python3 $here/agent_ping.py /tmp/$name.sock 2375 240; check $? 0 "$name: the agent answered /_ping over vsock"
kill -TERM $p; wait $p; check $? 0 "$name: SIGTERM ends the VMM with 0"
grep -E "berth-agent|LNRO|virtio_mmio|ACPI: PM|i8042" /tmp/$name.log | head -20
grep -E "stop request|VM exit|did not shut down|seccomp" /tmp/$name.err | sed 's/^[^ ]* *//'
grep -qE "VM exit exit=guest (reset the VM|powered off)" /tmp/$name.err
check $? 0 "$name: after SIGTERM the guest ended the VM itself, within the grace period"
# The agent's last console line races the guest's reset (a tty write is
# still in the UART's buffer when the kernel restarts): informational.
grep -q "engine stopped; powering off" /tmp/$name.log && echo "$name: the agent said it stopped its engine"
}

kernels() {
echo "== berth's kernel (PVH, command-line virtio devices) to the agent"
agent "$BERTH_KERNEL" "$BERTH_INITRAMFS" berth
echo "== Debian's kernel (bzImage, ACPI virtio devices) to the agent"
agent "$BERTH_DEBIAN_KERNEL" "$BERTH_DEBIAN_INITRAMFS" debian
grep -q "ACPI: DSDT" /tmp/debian.log; check $? 0 "debian: read berth-vmm's DSDT"
grep -q "loaded .* kernel modules" /tmp/debian.log; check $? 0 "debian: the agent loaded its modules"
echo "== berth's bzImage boots"
vmm --kernel "$BERTH_KERNEL_BZIMAGE" --initramfs $T/test.cpio.gz --cpus 2 --serial file:/tmp/z.log
check $? 0 "bzImage boots to init and resets"
}

exits() {
echo "== poweroff"
vmm --kernel "$BERTH_KERNEL" --initramfs $T/test.cpio.gz --cmdline "$K end=poweroff" --serial file:/tmp/po.log
check $? 0 "berth's kernel: poweroff (halt) ends the VMM with 0"
vmm --kernel "$BERTH_DEBIAN_KERNEL" --initramfs $T/test.cpio.gz --memory 512 --cmdline "$K end=poweroff" \
    --serial file:/tmp/dpo.log
check $? 0 "Debian's kernel: poweroff (ACPI S5) ends the VMM with 0"
grep -q "Preparing to enter system sleep state S5" /tmp/dpo.log; check $? 0 "Debian's kernel powered off through ACPI"
echo "== a guest panic"
vmm --kernel "$BERTH_KERNEL" --initramfs $T/test.cpio.gz --cmdline "$K rdinit=/nope" --serial none 2>/tmp/p.err
check $? 1 "a panic ends the VMM with 1"; cat /tmp/p.err
grep -q "guest kernel panicked: Kernel panic - not syncing" /tmp/p.err; check $? 0 "the panic is named"
echo "== a kernel whose entry point is corrupted (ud2): the crash report"
mkdir -p /tmp/broken
python3 $here/corrupt_entry.py "$BERTH_KERNEL" /tmp/broken/vmlinux
vmm --kernel /tmp/broken/vmlinux --initramfs $T/test.cpio.gz --cmdline "$K" --serial none 2>/tmp/tf.err
check $? 1 "a triple fault ends the VMM with 1"; cat /tmp/tf.err
grep -q "vCPU 0 triple-faulted (KVM_EXIT_SHUTDOWN)" /tmp/tf.err; check $? 0 "the triple fault is named"
grep -q "RIP=0x" /tmp/tf.err && grep -q "CR3=0x" /tmp/tf.err; check $? 0 "the crash report has the registers"
# Intel keeps the faulting state; KVM on AMD (this test bed's EPYC) INITs a
# vCPU that shut down, and the report must say so rather than read code
# and a symbol from the reset registers.
if grep -q "reset state, not the fault's" /tmp/tf.err; then
  ! grep -q "code at RIP\|RIP is " /tmp/tf.err
else
  grep -q "code at RIP (guest-physical 0x[0-9a-f]*): 0f 0b" /tmp/tf.err && grep -q "RIP is pvh_start_xen+0x0" /tmp/tf.err
fi
check $? 0 "the triple fault's report has the bytes and symbol at RIP, or says the vCPU was reset (AMD)"
echo "== a kernel whose entry reads MMIO with an instruction KVM cannot emulate (fld): the crash report"
python3 $here/corrupt_entry.py "$BERTH_KERNEL" /tmp/broken/vmlinux-fld mmio-fld
vmm --kernel /tmp/broken/vmlinux-fld --initramfs $T/test.cpio.gz --cmdline "$K" --serial none 2>/tmp/ef.err
check $? 1 "an emulation failure ends the VMM with 1"; cat /tmp/ef.err
grep -q "vCPU 0: KVM could not emulate an instruction (KVM_EXIT_INTERNAL_ERROR)" /tmp/ef.err
check $? 0 "the emulation failure is named"
grep -q "RIP=0x" /tmp/ef.err && grep -q "CR0=0x" /tmp/ef.err; check $? 0 "the emulation failure's report has the registers"
grep -q "code at RIP (guest-physical 0x[0-9a-f]*): d9 04 25 00 00 00 d0" /tmp/ef.err
check $? 0 "the crash report has the instruction bytes at RIP"
grep -q "RIP is pvh_start_xen+0x0" /tmp/ef.err; check $? 0 "the crash report names RIP from the vmlinux's symbols"
echo "== configurations that cannot boot"
printf '#!/bin/sh\necho not a kernel\n' > /tmp/nokernel
for args in "--kernel /nonexistent/vmlinux" "--kernel /tmp/nokernel" "--kernel $BERTH_KERNEL --memory 8"; do
  # shellcheck disable=SC2086
  berth-vmm run $args 2>/tmp/bad.err; rc=$?
  cat /tmp/bad.err
  check "$rc:$(wc -l < /tmp/bad.err)" "2:1" "berth-vmm run $args: one line, exit 2"
done
}

groups=${*:-devices kernels exits}
for g in $groups; do "$g"; done
# A seccomp violation ends berth-vmm with one line on stderr naming the
# syscall ("berth-vmm: seccomp: ..."); the e2e test looks for it.
exit $failed
