#!/bin/busybox sh
# The test bed's outer init (PID 1 of the QEMU TCG VM).
#
# It loads KVM and the virtio drivers, builds a writable root from the host's
# root filesystem (9p, read-only) with an overlay on the scratch disk, runs
# the command from the run directory in it, writes the exit status back to
# the run directory and powers off. It must always reach the power-off: a
# status the host never sees is a test bed that hangs.
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

for m in $(cat /lib/modules/load-order); do
  insmod "/lib/modules/$m" 2>/dev/null || echo "testbed: cannot load module $m"
done

echo "testbed: outer VM up, /dev/kvm $( [ -c /dev/kvm ] && echo present || echo missing )"
# A machine that shares folders has its guest RAM in memfds (shmem), which
# gets huge pages only where shmem_enabled allows (the default is never):
# with 4 KiB pages a guest takes many more nested page faults, slow and
# fragile under TCG. berth-vmm asks for them (MADV_HUGEPAGE); let it.
echo advise > /sys/kernel/mm/transparent_hugepage/shmem_enabled 2>/dev/null || true
mkdir -p /run/berth /lower /scratch /newroot
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 berthrun /run/berth; then
  echo "testbed: cannot mount the run directory"
  poweroff -f
fi

# The heartbeat the host watches (xtask/src/testbed/qemu.rs): when it stops,
# this kernel has stopped running, and the host abandons the run at once.
( while :; do cat /proc/uptime > /run/berth/heartbeat 2>/dev/null; sleep 5; done ) &

finish() {
  echo "$1" > /run/berth/status
  sync
  poweroff -f
  sleep 10
}

[ -c /dev/kvm ] || { echo "testbed: /dev/kvm did not appear (kvm_amd not loaded)"; finish 125; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot /lower \
  || { echo "testbed: cannot mount the host's root"; finish 125; }
mount -t ext4 /dev/vda /scratch || { echo "testbed: cannot mount the scratch disk"; finish 125; }
mkdir -p /scratch/upper /scratch/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/scratch/upper,workdir=/scratch/work /newroot \
  || { echo "testbed: cannot mount the overlay root"; finish 125; }

# /tmp stays the host's, seen through the overlay: workspaces and test
# payloads often live there, and writes still land on the scratch disk.
r=/newroot
mount -t proc proc $r/proc
mount -t sysfs sysfs $r/sys
mount -t cgroup2 cgroup2 $r/sys/fs/cgroup
mount -t devtmpfs devtmpfs $r/dev
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $r/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $r/dev/shm
mount -t tmpfs -o mode=0755 tmpfs $r/run
mkdir -p $r/run/berth
mount --bind /run/berth $r/run/berth

hostname testbed
ip link set lo up

# The command runs in a mount namespace of its own whose root *is* the
# overlay (moved over /, as switch_root does), not in a chroot: the kernel
# refuses user namespaces to a chrooted process, and sandboxing tools such
# as passt need one. PID 1 keeps the initramfs as its root, so finish
# still works however the command ends.
unshare -m --propagation private /bin/sh -c "cd $r && mount --move . / && exec chroot . /bin/sh /run/berth/run.sh"
finish $?
