"""A loopback TCP relay that can cut connections in the middle of a request body.

    relay = Relay(("127.0.0.1", server_port), cut_after=1_500_000)   # listens on 127.0.0.1:<relay.port>
    ... client talks to relay.port ...
    relay.cut_all()                                                  # or: cut every open connection now
    relay.down() / relay.up()                                        # a server that is gone: every connection, open
                                                                     # or new, reset at once / until up() again
    Relay(target, rate=8 * MiB)                                      # client -> server bytes paced to `rate` per second
                                                                     # on each connection
    relay.close()

Client -> server bytes are counted over all connections from the start (or from the last arm()). When the count
reaches `cut_after`, the relay forwards exactly up to that byte, then resets both sides (SO_LINGER 0, so each peer
sees ECONNRESET rather than a clean end of stream) and disarms itself: later connections pass through untouched, so a
client that retries gets through. `cuts` lists what each cut interrupted (bytes of that connection forwarded, and the
first line of the request that was in flight there). `request_lines` lists every request line the relay saw.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import List, Optional, Tuple


def _reset(sock: socket.socket) -> None:
    """Abort the connection (RST). The other direction's pump may be blocked in recv() on this socket, and Linux
    defers a close() until that call returns - here possibly never, a server waiting for the rest of a body sends
    nothing. shutdown(SHUT_RD) wakes that recv first, so the close, and with it the RST, happens now."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Link:
    """One relayed connection: client socket, server socket, and what the cut report needs."""

    def __init__(self, client: socket.socket, server: socket.socket):
        self.client = client
        self.server = server
        self.c2s = 0
        self.last_request_line = b""
        self.closed = False


class Relay:
    def __init__(self, target: Tuple[str, int], cut_after: Optional[int] = None, rate: Optional[int] = None):
        self.target = target
        self.rate = rate
        self._down = False
        self._lock = threading.Lock()
        self._cut_after = cut_after
        self._counted = 0
        self._links: List[_Link] = []
        self.cuts: List[dict] = []
        self.request_lines: List[str] = []  # every request line seen, in order (within one read: best effort)
        self.connections = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def arm(self, cut_after: int) -> None:
        """Cut once more, `cut_after` client -> server bytes from now."""
        with self._lock:
            self._cut_after = cut_after
            self._counted = 0

    def cut_all(self) -> None:
        """Reset every open connection now (both sides)."""
        with self._lock:
            links = [lk for lk in self._links if not lk.closed]
        for lk in links:
            self._cut(lk, "on demand")

    def down(self) -> None:
        """The server is gone: open connections reset, new ones reset as soon as accepted, until up()."""
        with self._lock:
            self._down = True
        self.cut_all()

    def up(self) -> None:
        with self._lock:
            self._down = False

    def close(self) -> None:
        self._closing = True
        _reset(self._listener)
        self.cut_all()

    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                down = self._down
            if down:
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                _reset(client)
                continue
            link = _Link(client, server)
            with self._lock:
                self._links.append(link)
                self.connections += 1
            threading.Thread(target=self._pump, args=(link, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(link, False), daemon=True).start()

    def _cut(self, link: _Link, why: str) -> None:
        with self._lock:
            if link.closed:
                return
            link.closed = True
            self.cuts.append({"why": why, "connection_bytes": link.c2s,
                              "request_line": link.last_request_line.decode("latin-1")})
        _reset(link.client)
        _reset(link.server)

    def _budget(self, n: int) -> Optional[int]:
        """How many of the next n client bytes may pass before the armed cut (None: all, not armed)."""
        with self._lock:
            if self._cut_after is None:
                return None
            allowed = max(0, self._cut_after - self._counted)
            if allowed >= n:
                self._counted += n
                return None
            self._counted += allowed
            self._cut_after = None
            return allowed

    def _pump(self, link: _Link, client_to_server: bool) -> None:
        """Copies one direction until EOF (passed on as a half-close) or an error (a cut); client -> server bytes
        are counted against the armed cut."""
        src, dst = (link.client, link.server) if client_to_server else (link.server, link.client)
        ready_at = time.monotonic()
        try:
            while True:
                data = src.recv(65536)
                if client_to_server and self.rate and data:
                    # pacing, not synchronisation: a server slower than its client. No credit builds up while the
                    # connection idles, so a burst is paced too.
                    now = time.monotonic()
                    ready_at = max(ready_at, now) + len(data) / self.rate
                    if ready_at - now > 0:
                        time.sleep(ready_at - now)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if client_to_server:
                    for line in data.split(b"\r\n"):
                        if line[:6] in (b"POST /", b"PATCH ", b"HEAD /", b"DELETE", b"OPTION", b"GET /"):
                            link.last_request_line = line[:200]
                            with self._lock:
                                self.request_lines.append(link.last_request_line.decode("latin-1"))
                    allowed = self._budget(len(data))
                    if allowed is not None:
                        dst.sendall(data[:allowed])
                        link.c2s += allowed
                        self._cut(link, "after cut_after bytes")
                        return
                    link.c2s += len(data)
                dst.sendall(data)
        except OSError:
            self._cut(link, "socket error")
