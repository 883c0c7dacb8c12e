#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs into seeds/<target>/: well-formed
requests laid out the way fuzz_targets/guest.rs reads its input (byte q:
chains offered on queue q; then the heads; queue q's descriptor table at
q * 0x100; buffers above 0x1000), so libFuzzer starts from the device's
real paths instead of rediscovering the layout."""
import os, struct

here = os.path.dirname(os.path.abspath(__file__))
NEXT, WRITE = 1, 2

def put(buf, at, data):
    if len(buf) < at + len(data):
        buf.extend(b"\0" * (at + len(data) - len(buf)))
    buf[at:at + len(data)] = data

def desc(addr, length, flags, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)

def write(target, name, data):
    d = os.path.join(here, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))

# block_request: one queue; byte 0 = chains (bit 7: read-only disk), heads
# from byte 1, descriptors from 16 on (descriptor 0 overlaps the counts).
def block(name, rtype, sector, data_len, data_flags, ro=False, data=b""):
    b = bytearray()
    put(b, 0, bytes([1 | (0x80 if ro else 0), 1]))
    put(b, 16, desc(0x1000, 16, NEXT, 2))
    if data_len:
        put(b, 32, desc(0x1100, data_len, data_flags | NEXT, 3))
        put(b, 48, desc(0x1100 + data_len, 1, WRITE))
    else:
        put(b, 32, desc(0x1100, 1, WRITE))
    put(b, 0x1000, struct.pack("<IIQ", rtype, 0, sector))
    put(b, 0x1100, data.ljust(data_len, b"\xab") if data_len else b"")
    put(b, 0x1100 + data_len, b"\xff")
    write("block_request", name, b)

block("read", 0, 1, 512, WRITE)
block("write", 1, 2, 1024, 0)
block("write-ro", 1, 0, 512, 0, ro=True)
block("flush", 4, 0, 0, 0)
block("get-id", 8, 0, 20, WRITE)

# vsock_packet: rx, tx, event queues; bytes 0..2 = chains per queue, heads
# of queue q from 3 + 16 q; tables at 0x000 (rx), 0x100 (tx), 0x200.
def header(op, src_port, dst_port, length=0, flags=0, buf_alloc=65536, fwd_cnt=0):
    return struct.pack("<QQIIIHHIII", 3, 2, src_port, dst_port, length, 1, op, flags, buf_alloc, fwd_cnt)

def vsock(name, packets):
    b = bytearray()
    put(b, 0, bytes([2, len(packets), 0]))
    put(b, 3, bytes([4, 5]))                       # rx heads: descriptors 4, 5
    put(b, 4 * 16, desc(0x4000, 4096, WRITE))
    put(b, 5 * 16, desc(0x5000, 4096, WRITE))
    put(b, 19, bytes(range(len(packets))))          # tx heads 0..n-1
    for i, pkt in enumerate(packets):
        at = 0x1000 + i * 0x400
        put(b, 0x100 + i * 16, desc(at, len(pkt), 0))
        put(b, at, pkt)
    write("vsock_packet", name, b)

REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST = 1, 2, 3, 4, 5, 6, 7
vsock("connect-send-close", [
    header(REQUEST, 5000, 1024),
    header(RW, 5000, 1024, 5) + b"hello",
    header(CREDIT_REQUEST, 5000, 1024),
    header(SHUTDOWN, 5000, 1024, flags=3),
])
vsock("connect-nobody", [header(REQUEST, 5001, 4321)])
vsock("rw-unknown-stream", [header(RW, 5002, 1024, 3) + b"abc"])
vsock("reset", [header(REQUEST, 5003, 1024), header(RST, 5003, 1024)])
