#!/usr/bin/env bash
# Build berth's guest kernel.
#
#   build.sh SRC_DIR BUILD_DIR OUT_DIR
#
# SRC_DIR is an unpacked kernel tree (Debian's linux-source-6.1, or a
# kernel.org tarball); it is only read. BUILD_DIR holds the objects (make's
# O=), so a later build with a changed fragment is incremental. OUT_DIR
# receives vmlinux (ELF with the PVH note: berth-vmm's entry point), bzImage
# and the resolved .config. `cargo xtask images` runs this and caches OUT_DIR
# by the hash of this directory and the source; it also runs fine by hand.
set -euo pipefail

src=$(cd "${1:?usage: build.sh SRC_DIR BUILD_DIR OUT_DIR}" && pwd)
build=${2:?usage: build.sh SRC_DIR BUILD_DIR OUT_DIR}
out=${3:?usage: build.sh SRC_DIR BUILD_DIR OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
fragment="$here/berth.config"
jobs=${BERTH_KERNEL_JOBS:-$(nproc)}

for tool in make gcc flex bison bc; do
  command -v "$tool" >/dev/null || {
    echo "kernel build needs '$tool': apt-get install build-essential flex bison bc libelf-dev" >&2
    exit 1
  }
done

mkdir -p "$build" "$out"
build=$(cd "$build" && pwd)
kmake() { make -s -C "$src" O="$build" ARCH=x86_64 "$@"; }

kmake tinyconfig
"$src/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "$fragment" >/dev/null
kmake olddefconfig

# Every option the fragment asks for must survive olddefconfig: a silently
# dropped option is a guest that lacks a feature at run time.
missing=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*)
      if ! grep -qxF "$line" "$build/.config"; then
        echo "kernel-config: $line was not applied (unmet dependency?)" >&2
        missing=1
      fi ;;
    "# CONFIG_"*" is not set")
      opt=${line#\# }; opt=${opt%% *}
      if grep -q "^$opt=" "$build/.config"; then
        echo "kernel-config: $opt should be unset" >&2
        missing=1
      fi ;;
  esac
done < "$fragment"
[ "$missing" = 0 ] || exit 1

kmake -j"$jobs" vmlinux bzImage
cp "$build/vmlinux" "$out/vmlinux"
cp "$build/arch/x86/boot/bzImage" "$out/bzImage"
cp "$build/.config" "$out/config"
