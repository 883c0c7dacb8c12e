#!/usr/bin/env python3
"""A one-shot TCP echo for the network checks: answers "host-echo:<line>"."""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1] if len(sys.argv) > 1 else "10.0.2.1", 7000)); s.listen(1); s.settimeout(120)
c, a = s.accept(); line = c.recv(1024)
print(f"host: got {line!r} from {a[0]}", flush=True)
c.sendall(b"host-echo:" + line); c.close()
