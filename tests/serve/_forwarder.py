"""A TCP forwarder to freeze: ``python _forwarder.py HOST PORT`` prints the port it listens on.

Every connection it accepts is joined to HOST:PORT, a thread for each
direction. ``SIGSTOP`` freezes it whole: the kernel still accepts
connections and acknowledges what is sent, but nothing moves either way, as
with a frozen server or a network that drops every packet. ``SIGCONT`` lets
it go on; the connections it kept come back to life.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading


def pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection((host, port), timeout=10)
        except OSError:
            client.close()
            continue
        upstream.settimeout(None)
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(source, target), daemon=True).start()


if __name__ == "__main__":
    main()
