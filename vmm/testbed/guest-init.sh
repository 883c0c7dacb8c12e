#!/bin/busybox sh
# The boot benchmark's marker: the first thing init writes to the console.
/bin/busybox echo "guest: init started"
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
# The guest's own clock right after the marker: the boot benchmark subtracts
# it from the wall time to see what the VMM itself took.
echo "guest: uptime $(cut -d' ' -f1 /proc/uptime)"
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p"; }
echo "guest: cpus=$(nproc) $(grep MemTotal /proc/meminfo)"
for m in $(arg probe | tr ',' ' '); do
  case $m in
    rng) echo "guest: hwrng=$(cat /sys/class/misc/hw_random/rng_current) sample=$(dd if=/dev/hwrng bs=16 count=1 2>/dev/null | od -An -tx1 | tr -d ' \n')";;
    blkwrite) echo "berth-marker-$(arg marker)" | dd of=/dev/vda conv=fsync 2>/dev/null && echo "guest: wrote marker $(arg marker) to vda";;
    blkread) echo "guest: vda says $(dd if=/dev/vda bs=32 count=1 2>/dev/null | head -n1)";;
    blkro) if echo x | dd of=/dev/vdb conv=fsync 2>/tmp/err; then echo "guest: vdb write SUCCEEDED (bad)"; else echo "guest: vdb write refused: $(cat /tmp/err | head -n1)"; fi
           echo "guest: vdb ro flag=$(cat /sys/block/vdb/ro)";;
    passt) ip link set eth0 up; ip addr add 10.0.3.1/24 dev eth0; ip route add default via 10.0.3.254
         echo "guest: tcp reply via passt: $(echo hello-through-passt | timeout 20 nc -w 5 10.0.3.254 7000)"
         grep -E 'eth0' /proc/net/dev | sed 's/^/guest: netdev /'; grep '^Tcp:' /proc/net/snmp | sed 's/^/guest: snmp /';;
    sleep) echo "guest: sleeping"; sleep 600;;
    # The kernel's log with its timestamps (boot profiling: add printk.time=1).
    dmesg) dmesg | sed 's/^/guest: dmesg /';;
    net) ip link set eth0 up; ip addr add 10.0.2.2/24 dev eth0
         echo "guest: eth0 $(cat /sys/class/net/eth0/address)"
         echo "guest: tcp reply: $(echo hello-from-guest | nc -w 5 10.0.2.1 7000)";;
    # Guest -> host first (which tells the host the driver is up), then
    # host -> guest: the host's CONNECT made before the sink listens must
    # fail cleanly, and its retries succeed.
    vsock) /probe source 6000 67108864 1
           /probe source 6000 4194304 16
           /probe sink 5000 16;;
  esac
done
echo "guest: done"
# end=poweroff powers off (ACPI S5 where the kernel has ACPI); else reset.
case "$(arg end)" in
  poweroff) poweroff -f;;
  *) reboot -f;;
esac
