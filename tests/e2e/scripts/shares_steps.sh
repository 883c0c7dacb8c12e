# Host folders in a machine over virtio-fs, driven from the test bed (the
# machine's host) by an unprivileged user, uid 1000, as a Docker Desktop
# user would: `docker run -v "$PWD":/src` reads the host's file and the
# file the container writes is the user's on the host; a read-only share
# refuses writes; a path outside every share gets the error naming
# --mount; host edits show in the guest; virtiofsd killed with -9 makes the
# next `docker run -v` fail with a clear message while the machine keeps
# running and `berth machine ls` says why; a stop/start serves the share
# again and a named volume kept its data. Included by
# tests/containers_vm.rs after the root machine's steps: this part runs
# as root and makes the user; `shares_user_steps.sh` is what the user runs
# (the test hands it over with setpriv). Every step prints a `key: value`
# line the test reads.
id -u berthu >/dev/null 2>&1 || useradd -m -u 1000 berthu 2>/dev/null || true
mkdir -p /home/berthu && chown 1000:1000 /home/berthu
chmod 666 /dev/kvm
# The images live in root's cache: the user may read them (a test bed's
# overlay; nothing on the real host changes).
for p in "$BERTH_KERNEL" "$BERTH_INITRAMFS" "$BERTH_VIRTIOFSD" "$BERTH_FIXTURE_BUSYBOX"; do
  d=$(dirname "$p"); while [ "$d" != / ]; do chmod o+x "$d"; d=$(dirname "$d"); done
  chmod o+r "$p"
done
