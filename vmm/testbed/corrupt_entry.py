#!/usr/bin/env python3
"""Copies a kernel and overwrites the first bytes of its entry, for the
deliberately broken boots whose crash reports scenarios.sh checks:

  ud2       the guest triple-faults on its first instruction (no IDT yet);
  mmio-fld  `fld dword [0xd0000000]`: an x87 load from an address with no
            RAM or device behind it, which KVM must emulate and cannot (its
            emulator has no FLD), so KVM stops the vCPU with the fault's
            registers intact (an emulation failure), on AMD as on Intel.

For an ELF vmlinux the entry is its PVH entry (the Xen PHYS32_ENTRY note);
for a bzImage the 64-bit entry, 0x200 into the protected-mode kernel. The
fld's operand is an absolute address through a SIB byte, the same in 32-
and 64-bit code. Prints where.

usage: corrupt_entry.py KERNEL OUT [ud2|mmio-fld]
"""
import shutil
import struct
import sys

PT_LOAD, PT_NOTE = 1, 4
XEN_ELFNOTE_PHYS32_ENTRY = 18
PATCHES = {
    "ud2": b"\x0f\x0b",
    # D9 /0 with ModRM 04 (SIB follows), SIB 25 (no base, no index): disp32.
    "mmio-fld": b"\xd9\x04\x25" + (0xd000_0000).to_bytes(4, "little"),
}


def program_headers(data):
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _flags, off, vaddr, paddr, filesz, _memsz, _align = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * phentsize)
        yield p_type, off, vaddr, paddr, filesz


def pvh_entry(data):
    for p_type, off, _vaddr, _paddr, filesz in program_headers(data):
        if p_type != PT_NOTE:
            continue
        at, end = off, off + filesz
        while at + 12 <= end:
            namesz, descsz, n_type = struct.unpack_from("<III", data, at)
            name = data[at + 12:at + 12 + namesz].rstrip(b"\0")
            desc = at + 12 + ((namesz + 3) & ~3)
            if name == b"Xen" and n_type == XEN_ELFNOTE_PHYS32_ENTRY:
                return struct.unpack_from("<I" if descsz == 4 else "<Q", data, desc)[0]
            at = desc + ((descsz + 3) & ~3)
    sys.exit("no PVH entry note")


def corrupt(src, out, offset, patch):
    shutil.copyfile(src, out)
    with open(out, "r+b") as f:
        f.seek(offset)
        f.write(patch)


def main():
    src, out = sys.argv[1:3]
    mode = sys.argv[3] if len(sys.argv) > 3 else "ud2"
    if mode not in PATCHES:
        sys.exit(f"unknown mode {mode}: one of {', '.join(PATCHES)}")
    patch = PATCHES[mode]
    data = open(src, "rb").read()
    if data[0x202:0x206] == b"HdrS":
        setup_sects = data[0x1f1] or 4
        offset = (setup_sects + 1) * 512 + 0x200
        corrupt(src, out, offset, patch)
        print(f"bzImage 64-bit entry at file offset {offset:#x}: {mode} written")
        return
    entry = pvh_entry(data)
    for p_type, off, _vaddr, paddr, filesz in program_headers(data):
        if p_type == PT_LOAD and paddr <= entry < paddr + filesz:
            corrupt(src, out, off + entry - paddr, patch)
            print(f"PVH entry {entry:#x}: {mode} written")
            return
    sys.exit(f"PVH entry {entry:#x} is in no load segment")


if __name__ == "__main__":
    main()
