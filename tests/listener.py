"""A tiny stand-in program that listens on a port (what an instance does)."""

import socket
import sys

sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.listen(16)
print(f"listening on {sys.argv[1]}", flush=True)
while True:
    conn, _ = sock.accept()
    conn.close()
