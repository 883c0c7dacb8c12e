#!/bin/sh
# berth-vmm on real KVM, run inside the test bed after build-initramfs.sh:
#   cargo build --release -p berth-vmm && sh vmm/testbed/build-initramfs.sh
#   cargo xtask testbed -- sh /work/main/vmm/testbed/scenarios.sh
# Each check prints its evidence; the script ends non-zero if one failed.
set -u
WORK=${WORK:-/var/tmp/berth-vmm-testbed}
T=$WORK; K="console=ttyS0 reboot=k panic=-1 pci=off"
failed=0
check() { if [ "$1" = "$2" ]; then echo "ok: $3"; else echo "FAILED: $3 (got $1, want $2)"; failed=1; fi; }
vmm() { timeout 300 berth-vmm run "$@"; }
cd /tmp

echo "== boot 1: 2 vCPUs, 384 MiB, rng, a disk written, a read-only disk refusing writes"
rm -f d1.img d2.img; truncate -s 64M d1.img; truncate -s 16M d2.img
vmm --kernel "$BERTH_KERNEL" --initramfs $T/test.cpio.gz --cpus 2 --memory 384 --rng --disk /tmp/d1.img \
    --disk /tmp/d2.img,ro --cmdline "$K probe=rng,blkwrite,blkro marker=42" --serial file:/tmp/b1.log
check $? 0 "guest reset ends the VMM with 0"
grep "guest:" /tmp/b1.log
grep -q "cpus=2 MemTotal: *3[67][0-9]* kB" /tmp/b1.log; check $? 0 "2 vCPUs and ~384 MiB visible"
grep -q "vdb write refused" /tmp/b1.log; check $? 0 "read-only disk refuses writes"

echo "== boot 2: the marker survived"
vmm --kernel "$BERTH_KERNEL" --initramfs $T/test.cpio.gz --disk /tmp/d1.img --cmdline "$K probe=blkread" \
    --serial file:/tmp/b2.log
grep -q "vda says berth-marker-42" /tmp/b2.log; check $? 0 "disk contents persist across boots"

echo "== boot 3: vsock, 64 MiB each way and 16 concurrent streams each way, CONNECT before listen"
rm -f /tmp/v.sock*
timeout 200 python3 $T/host_vsock.py /tmp/v.sock & hp=$!
vmm --kernel "$BERTH_KERNEL" --initramfs $T/test.cpio.gz --cpus 2 --vsock 3:/tmp/v.sock --cmdline "$K probe=vsock" \
    --serial file:/tmp/b3.log
check $? 0 "vsock boot"
wait $hp; check $? 0 "host verified every host->guest stream"
grep -E "probe:" /tmp/b3.log
test "$(grep -c 'source OK' /tmp/b3.log)" = 2; check $? 0 "host verified every guest->host stream"

echo "== boot 4: TAP network, TCP round trip"
ip tuntap add dev tap0 mode tap 2>/dev/null; ip addr add 10.0.2.1/24 dev tap0; ip link set tap0 up
timeout 120 python3 $T/tcp_echo.py 10.0.2.1 & hp=$!
vmm --kernel "$BERTH_KERNEL" --initramfs $T/test.cpio.gz --tap tap0 --cmdline "$K probe=net" --serial file:/tmp/n.log
wait $hp
grep -q "tcp reply: host-echo:hello-from-guest" /tmp/n.log; check $? 0 "TCP round trip over TAP"

echo "== boot 5/6: bzImage and Debian's kernel"
vmm --kernel "$BERTH_KERNEL_BZIMAGE" --initramfs $T/test.cpio.gz --cpus 2 --serial file:/tmp/z.log
check $? 0 "bzImage boots to init and resets"
vmm --kernel "$BERTH_DEBIAN_KERNEL" --initramfs $T/test.cpio.gz --cpus 2 --memory 512 --serial file:/tmp/d.log
check $? 0 "Debian's kernel boots to init and resets"

echo "== boot 7: SIGTERM asks the agent to stop (Ctrl-Alt-Del; Debian's kernel has the keyboard driver)"
# `timeout` (not a shell function) in the background, so the signal reaches
# berth-vmm: timeout passes SIGTERM on to its child.
timeout 300 berth-vmm run --kernel "$BERTH_DEBIAN_KERNEL" --initramfs "$BERTH_DEBIAN_INITRAMFS" --memory 512 \
    --vsock 3:/tmp/a.sock --serial file:/tmp/s.log & p=$!
for i in $(seq 1 200); do grep -q "engine listening" /tmp/s.log 2>/dev/null && break; sleep 1; done
kill -TERM $p; wait $p; check $? 0 "SIGTERM ends the VMM with 0"
grep -q "powering off" /tmp/s.log; check $? 0 "the agent shut down on its own"

echo "== boot 8: a guest panic"
vmm --kernel "$BERTH_KERNEL" --initramfs $T/test.cpio.gz --cmdline "$K rdinit=/nope" --serial none 2>/tmp/p.err
check $? 1 "a panic ends the VMM with 1"; cat /tmp/p.err

echo "== seccomp: no violations"
test "$(dmesg | grep -c 'type=1326')" = 0; check $? 0 "no seccomp kills or logs"
exit $failed
