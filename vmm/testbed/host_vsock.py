#!/usr/bin/env python3
"""Host side of the vsock test: talks to berth-vmm's hybrid vsock socket.

Usage: host_vsock.py UDS

- Guest -> host: serves `<UDS>_6000`, where the guest opens 17 streams
  (1 x 64 MiB, then 16 concurrent x 4 MiB); each is answered with
  "<bytes> <sha256>" for the guest to check.
- When the first guest stream arrives (the guest's driver is up, its
  listener on port 5000 is not yet), one CONNECT 5000 is made: it must be
  closed without an OK, and the VMM must go on serving.
- Host -> guest: 16 concurrent streams (1 x 64 MiB + 15 x 1 MiB) to guest
  port 5000, retried until the guest listens. Each sends `CONNECT 5000\\n`
  together with its first 64 KiB in ONE write: those bytes must reach the
  guest after the handshake. The guest answers "<bytes> <sha256>".
"""
import hashlib, os, socket, sys, threading, time

UDS = sys.argv[1]
errors = []
stats = {"retries": 0, "early": "not tried"}
lock = threading.Lock()
guest_up = threading.Event()

def sink_server(n):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = UDS + "_6000"
    if os.path.exists(path): os.unlink(path)
    srv.bind(path); srv.listen(64)
    def serve(c):
        h = hashlib.sha256(); total = 0
        while True:
            b = c.recv(1 << 20)
            if not b: break
            total += len(b); h.update(b)
        c.sendall(f"{total} {h.hexdigest()}\n".encode()); c.close()
    ts = []
    for _ in range(n):
        c, _ = srv.accept()
        guest_up.set()
        t = threading.Thread(target=serve, args=(c,)); t.start(); ts.append(t)
    for t in ts: t.join()

def read_line(s):
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b: raise ConnectionError("closed before OK")
        line += b
    return line

def early_connect():
    """CONNECT while the guest's driver is up but nothing listens on 5000."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(30)
    try:
        s.connect(UDS); s.sendall(b"CONNECT 5000\n")
        reply = s.recv(64)
        stats["early"] = "closed cleanly" if reply == b"" else f"answered {reply!r} (bad)"
    except ConnectionResetError:
        stats["early"] = "closed cleanly"
    except OSError as e:
        stats["early"] = f"failed oddly: {e!r} (bad)"
    finally:
        s.close()
    if stats["early"] != "closed cleanly":
        errors.append(f"early CONNECT: {stats['early']}")

def host_to_guest(i, size):
    data = os.urandom(size)
    first = 64 << 10
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(UDS)
            s.sendall(b"CONNECT 5000\n" + data[:first])
            line = read_line(s)
            if not line.startswith(b"OK "): raise ConnectionError(line)
            break
        except OSError:
            with lock: stats["retries"] += 1
            s.close(); time.sleep(0.2)
    s.sendall(data[first:]); s.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        b = s.recv(4096)
        if not b: break
        reply += b
    want = f"{size} {hashlib.sha256(data).hexdigest()}"
    if reply.decode().strip() != want:
        errors.append(f"conn {i}: guest said {reply!r}, want {want}")

start = time.time()
sink = threading.Thread(target=sink_server, args=(17,)); sink.start()
guest_up.wait(240)
early_connect()
t0 = time.time()
ts = [threading.Thread(target=host_to_guest, args=(i, 64 << 20 if i == 0 else 1 << 20)) for i in range(16)]
for t in ts: t.start()
for t in ts: t.join()
h2g = time.time() - t0
sink.join()
print(f"host: CONNECT before the guest listened: {stats['early']}; "
      f"{stats['retries']} refused attempts retried", flush=True)
print(f"host: 16 concurrent host->guest streams (1 x 64 MiB + 15 x 1 MiB, CONNECT line and "
      f"first 64 KiB in one write) checksummed by the guest in {h2g:.1f} s, "
      f"{len(errors)} errors, {time.time()-start:.1f} s in all", flush=True)
for e in errors: print("host:", e)
sys.exit(1 if errors else 0)
