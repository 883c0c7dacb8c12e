#!/bin/sh
# Builds the test initramfs for scenarios.sh: busybox-static, the
# vsockprobe tool and guest-init.sh as /init. Writes $WORK/test.cpio.gz and
# the same archive uncompressed as $WORK/test.cpio (the boot benchmark's:
# the guest kernel's inflate of the gzip one takes about half a second of a
# nested-TCG boot, the same under every VMM).
# Needs busybox-static, cpio, gzip and cargo.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/var/tmp/berth-vmm-testbed}
# Tests run in parallel and each builds this: one build at a time, and the
# archives are replaced by rename, so a VMM already reading the old one
# keeps it whole.
mkdir -p "$WORK"
exec 9>"$WORK/.build.lock"
flock 9
root=$WORK/root
rm -rf "$root"
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
cp /usr/bin/busybox "$root/bin/busybox"
(cd "$here/vsockprobe" && CARGO_TARGET_DIR=$WORK/target RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --quiet --target x86_64-unknown-linux-gnu)
cp "$WORK/target/x86_64-unknown-linux-gnu/release/vsockprobe" "$root/probe"
cp "$here/guest-init.sh" "$root/init"
chmod +x "$root/init"
mknod -m 600 "$root/dev/console" c 5 1
(cd "$root" && find . | cpio -o -H newc 2>/dev/null > "$WORK/test.cpio.tmp")
gzip -1 -c "$WORK/test.cpio.tmp" > "$WORK/test.cpio.gz.tmp"
mv "$WORK/test.cpio.tmp" "$WORK/test.cpio"
mv "$WORK/test.cpio.gz.tmp" "$WORK/test.cpio.gz"
cp "$here/host_vsock.py" "$here/tcp_echo.py" "$WORK/"
echo "$WORK/test.cpio.gz"
