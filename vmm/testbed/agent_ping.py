#!/usr/bin/env python3
"""Asks berth's agent for /_ping through berth-vmm's hybrid vsock socket.

Usage: agent_ping.py UDS [PORT] [DEADLINE_SECONDS]

The CONNECT line and the HTTP request go out in ONE write, the way a
hurried client sends them: the VMM must hand the request to the guest
after the guest accepts. Until the agent listens, the VMM closes the
socket (or answers nothing) and this retries. Prints the status line and
exits 0 on "HTTP/1.1 200" with body OK.
"""
import socket, sys, time

uds = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 2375
deadline = time.time() + (float(sys.argv[3]) if len(sys.argv) > 3 else 240)
attempts = 0
start = time.time()
while time.time() < deadline:
    attempts += 1
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(uds)
        s.sendall(f"CONNECT {port}\n".encode() +
                  b"GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
        s.close()
    except OSError:
        s.close(); time.sleep(0.2); continue
    if not data.startswith(b"OK "):
        time.sleep(0.2); continue
    ok_line, _, http = data.partition(b"\n")
    status = http.split(b"\r\n", 1)[0].decode(errors="replace")
    body = http.partition(b"\r\n\r\n")[2]
    print(f"ping: {ok_line.decode()} -> {status} body={body!r} after {attempts} attempts, "
          f"{time.time() - start:.1f} s", flush=True)
    sys.exit(0 if status.startswith("HTTP/1.1 200") and body.endswith(b"OK") else 1)
print(f"ping: no answer after {attempts} attempts", flush=True)
sys.exit(1)
