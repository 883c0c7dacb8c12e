#!/usr/bin/env python3
"""Host side of the vsock test: talks to berth-vmm's hybrid vsock socket."""
import hashlib, os, socket, sys, threading, time

UDS = sys.argv[1]
errors = []
stats = {"early_failures": 0}
lock = threading.Lock()

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
        t = threading.Thread(target=serve, args=(c,)); t.start(); ts.append(t)
    for t in ts: t.join()

def host_to_guest(i, size):
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(UDS)
            s.sendall(b"CONNECT 5000\n")
            line = b""
            while not line.endswith(b"\n"):
                b = s.recv(1)
                if not b: raise ConnectionError("closed before OK")
                line += b
            if not line.startswith(b"OK "): raise ConnectionError(line)
            break
        except OSError as e:
            with lock: stats["early_failures"] += 1
            s.close(); time.sleep(0.2)
    data = os.urandom(size)
    s.sendall(data); s.shutdown(socket.SHUT_WR)
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
ts = [threading.Thread(target=host_to_guest, args=(i, 64 << 20 if i == 0 else 1 << 20)) for i in range(16)]
while not os.path.exists(UDS): time.sleep(0.05)
for t in ts: t.start()
for t in ts: t.join()
sink.join()
print(f"host: 16 host->guest streams (1 x 64 MiB + 15 x 1 MiB) checksummed by the guest, "
      f"{stats['early_failures']} CONNECT attempts refused before the guest listened, "
      f"{len(errors)} errors, {time.time()-start:.1f} s")
for e in errors: print("host:", e)
sys.exit(1 if errors else 0)
