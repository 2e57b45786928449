"""Raw HTTP/1.1 over a socket (plain or TLS): request heads, a response reader, chunked bodies, closes and resets."""

from __future__ import annotations

import os
import socket
import ssl
import struct
import time
from typing import Dict, List, Sequence, Tuple

from .gateway import Gateway
from .response import Response
from .util import KiB


def connect(gw: Gateway, tls: bool = False, alpn: Sequence[str] = ("http/1.1",), timeout: float = 30.0):
    s = socket.create_connection((gw.listen_host, gw.tls_port if tls else gw.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        ctx = ssl.create_default_context(cafile=str(gw.cert))
        ctx.set_alpn_protocols(list(alpn))
        s = ctx.wrap_socket(s, server_hostname="localhost")
    return s


class HTTP1Reader:
    """Reads HTTP/1.1 responses from a socket (Content-Length, chunked or until close)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def read_head(self) -> Tuple[int, Dict[str, List[str]]]:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"connection closed before a response head (got {self.buf[:200]!r})")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers: Dict[str, List[str]] = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        return status, headers

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError("connection closed in a response body")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError("connection closed in a chunked body")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_response(self, head_only_status: Sequence[int] = (), method: str = "POST") -> Response:
        """The next response; 1xx responses are skipped unless in head_only_status."""
        while True:
            status, headers = self.read_head()
            if 100 <= status < 200 and status not in head_only_status:
                continue
            break
        if 100 <= status < 200 or status in (204, 304) or method == "HEAD":
            return Response(status, headers, b"")
        te = ",".join(headers.get("transfer-encoding", [])).lower()
        if "chunked" in te:
            body = b""
            while True:
                size = int(self.read_line().split(b";")[0], 16)
                if size == 0:
                    while self.read_line():
                        pass
                    break
                body += self.read_exact(size)
                self.read_exact(2)
        elif "content-length" in headers:
            body = self.read_exact(int(headers["content-length"][-1]))
        else:
            while self._fill():
                pass
            body, self.buf = self.buf, b""
        return Response(status, headers, body, http_version="1.1")



def read_until_closed(sock, timeout: float) -> bytes:
    """Everything the server sends until it closes (EOF or reset); AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    got = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the server did not close the connection within {timeout}s (got {got[:200]!r})")
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return got
        if not data:
            return got
        got += data

def http1_head(method: str, path: str, host: str, headers: Sequence[Tuple[str, str]] = ()) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def http1_request(gw: Gateway, method: str, path: str, headers: Sequence[Tuple[str, str]] = (), body: bytes = b"",
                  tls: bool = False) -> Response:
    """One request on a fresh connection (Content-Length set from body)."""
    with connect(gw, tls=tls) as s:
        hdrs = list(headers)
        if body or method in ("POST", "PUT", "PATCH"):
            hdrs.append(("Content-Length", str(len(body))))
        hdrs.append(("Connection", "close"))
        s.sendall(http1_head(method, path, gw.tls_authority if tls else gw.authority, hdrs) + body)
        return HTTP1Reader(s).read_response(method=method)


def chunked(data: bytes, chunk: int = 64 * KiB) -> bytes:
    out = []
    for i in range(0, len(data), chunk):
        piece = data[i:i + chunk]
        out.append(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def abort_socket(sock, rst: bool) -> None:
    """Close a socket; with rst=True the kernel sends a TCP RST (SO_LINGER 0)."""
    if rst:
        raw = sock
        if isinstance(sock, ssl.SSLSocket):
            raw = socket.socket(fileno=os.dup(sock.fileno()))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if raw is not sock:
            raw.close()
    sock.close()
