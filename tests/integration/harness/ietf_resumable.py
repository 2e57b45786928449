"""A raw client for "Resumable Uploads for HTTP" (draft-ietf-httpbis-resumable-upload-05, interop version 6), over
HTTP/1.1 on a socket (plain or TLS) and over HTTP/2 (the `h2` library, through H2Conn).

Draft -05 (interop version 6) is the newest revision public clients implement: Apple's URLSession from iOS 18.1 /
macOS 15.1 (iOS 18.0 sent 5, iOS 17 sent 3 with Upload-Incomplete instead of Upload-Complete; swift-nio-extras'
NIOResumableUpload serves all three), and tus-js-client 4.x as protocol "ietf-draft-05" (its "ietf-draft-03" mode
sends 5). Revisions -06 and later use interop version 7, which no public client sends yet. The version is a
parameter (`interop`) for a server that speaks another.

What -05 asks of the client, and what this one does:
  create   POST <path> with Upload-Draft-Interop-Version, Upload-Complete: ?1 (the body is the whole upload) or ?0
           (more will follow), optionally Upload-Length; the server may send 104 (Upload Resumption Supported) with
           Location before the final response, so the upload can be resumed even if this request dies mid-body.
  offset   HEAD <upload URL>: Upload-Offset, Upload-Complete, Upload-Length.
  append   PATCH <upload URL> with Content-Type: application/partial-upload, Upload-Offset, Upload-Complete.
  cancel   DELETE <upload URL>.
Every request can stop after `stop_after` body bytes: the client then waits up to `interim_wait` s for what the server
answered so far (a 104's Location) and resets the connection (TCP RST; on HTTP/2 RST_STREAM CANCEL).

The target is anything with listen_host, port, authority (and for TLS tls_port, tls_authority, cert): a Gateway, or
a Target for another server.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from .h2 import H2Conn
from .http1 import HTTP1Reader, abort_socket, connect, http1_head
from .response import _ResponseReading

INTEROP_VERSION = "6"
PARTIAL_UPLOAD = "application/partial-upload"
ALL_INTERIM = tuple(range(100, 200))


@dataclass
class Target:
    """A server that is not a Gateway: host, port and authority (TLS fields only for TLS)."""

    listen_host: str
    port: int
    authority: str = ""
    tls_port: int = 0
    tls_authority: str = ""
    cert: Optional[str] = None

    def __post_init__(self):
        self.authority = self.authority or f"{self.listen_host}:{self.port}"


@dataclass
class Interim:
    status: int
    headers: Dict[str, List[str]]


@dataclass
class ResumableResponse(_ResponseReading):
    """The final response (status None when the request was stopped or the connection died before it) and every
    1xx before it, in order."""

    status: Optional[int] = None
    headers: Dict[str, List[str]] = field(default_factory=dict)
    body: bytes = b""
    interim: List[Interim] = field(default_factory=list)
    sent: int = 0                  # body bytes sent
    stopped: bool = False          # stopped after stop_after bytes on purpose
    error: Optional[str] = None    # the connection failed under us

    @property
    def location(self) -> Optional[str]:
        """The upload URL: the final response's Location, else the first 104's."""
        if self.header("location"):
            return self.header("location")
        for i in self.interim:
            if i.status == 104 and i.headers.get("location"):
                return i.headers["location"][-1]
        return None

    @property
    def offset(self) -> Optional[int]:
        v = self.header("upload-offset")
        return None if v is None else int(v)

    @property
    def complete(self) -> Optional[bool]:
        return parse_sf_boolean(self.header("upload-complete"))


def parse_sf_boolean(value: Optional[str]) -> Optional[bool]:
    """A structured-field boolean (RFC 8941): "?1" True, "?0" False; anything else (or absent) None."""
    if value is None:
        return None
    v = value.strip()
    return {"?1": True, "?0": False}.get(v)


def sf_boolean(b: bool) -> str:
    return "?1" if b else "?0"


def read_exchange(reader: HTTP1Reader, method: str, out: Optional[ResumableResponse] = None) -> ResumableResponse:
    """Every response to one request from `reader`: the 1xx ones into .interim, then the final one."""
    out = out or ResumableResponse()
    while True:
        r = reader.read_response(head_only_status=ALL_INTERIM, method=method)
        if 100 <= r.status < 200:
            out.interim.append(Interim(r.status, r.headers))
            continue
        out.status, out.headers, out.body = r.status, r.headers, r.body
        return out


class _BytesSocket:
    """recv() over fixed bytes, in pieces of `step` (to exercise split reads): HTTP1Reader over canned bytes."""

    def __init__(self, data: bytes, step: int = 7):
        self.data, self.step = data, step

    def recv(self, n: int) -> bytes:
        out, self.data = self.data[:min(n, self.step)], self.data[min(n, self.step):]
        return out


def parse_exchange(data: bytes, method: str = "POST", step: int = 7) -> ResumableResponse:
    """read_exchange over canned response bytes (the parser, without a server)."""
    return read_exchange(HTTP1Reader(_BytesSocket(data, step)), method)


def _path_of(url_or_path: str) -> str:
    parts = urlsplit(url_or_path)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class IetfClient:
    """One request per connection (Connection: close), HTTP/1.1, plain or TLS."""

    def __init__(self, target, tls: bool = False, headers: Sequence[Tuple[str, str]] = (),
                 interop: str = INTEROP_VERSION, timeout: float = 30.0):
        self.target, self.tls, self.timeout, self.interop = target, tls, timeout, interop
        self.headers = list(headers)

    def create(self, path: str, body: bytes = b"", complete: bool = True, length: Optional[int] = None,
               headers: Sequence[Tuple[str, str]] = (), stop_after: Optional[int] = None,
               interim_wait: float = 2.0) -> ResumableResponse:
        h = [("Upload-Complete", sf_boolean(complete))] + list(headers)
        if length is not None:
            h.append(("Upload-Length", str(length)))
        return self.request("POST", path, h, body, stop_after, interim_wait)

    def offset(self, url: str, headers: Sequence[Tuple[str, str]] = ()) -> ResumableResponse:
        return self.request("HEAD", url, headers)

    def append(self, url: str, offset: int, body: bytes, complete: bool = True,
               headers: Sequence[Tuple[str, str]] = (), stop_after: Optional[int] = None,
               interim_wait: float = 2.0) -> ResumableResponse:
        h = [("Content-Type", PARTIAL_UPLOAD), ("Upload-Offset", str(offset)),
             ("Upload-Complete", sf_boolean(complete))] + list(headers)
        return self.request("PATCH", url, h, body, stop_after, interim_wait)

    def cancel(self, url: str, headers: Sequence[Tuple[str, str]] = ()) -> ResumableResponse:
        return self.request("DELETE", url, headers)

    def request(self, method: str, url: str, headers: Sequence[Tuple[str, str]] = (), body: bytes = b"",
                stop_after: Optional[int] = None, interim_wait: float = 2.0) -> ResumableResponse:
        hdrs = [("Upload-Draft-Interop-Version", self.interop)] + self.headers + list(headers)
        if method in ("POST", "PATCH", "PUT") or body:
            hdrs.append(("Content-Length", str(len(body))))
        hdrs.append(("Connection", "close"))
        authority = self.target.tls_authority if self.tls else self.target.authority
        out = ResumableResponse()
        sock = connect(self.target, tls=self.tls, timeout=self.timeout)
        reader = HTTP1Reader(sock)
        try:
            sock.sendall(http1_head(method, _path_of(url), authority, hdrs))
            part = body if stop_after is None else body[:stop_after]
            sock.sendall(part)
            out.sent = len(part)
            if stop_after is not None and stop_after < len(body):
                out.stopped = True
                self._read_interim(sock, reader, method, out, interim_wait)
                return out
            return read_exchange(reader, method, out)
        except OSError as e:  # includes ConnectionError from the reader
            out.error = f"{type(e).__name__}: {e}"
            return out
        finally:
            abort_socket(sock, rst=out.stopped)

    @staticmethod
    def _read_interim(sock, reader: HTTP1Reader, method: str, out: ResumableResponse, wait: float) -> None:
        """What the server sent by `wait` s from now (1xx, even a final answer), without blocking longer."""
        deadline = time.monotonic() + wait
        while out.status is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            sock.settimeout(left)
            try:
                status, headers = reader.read_head()
            except (socket.timeout, OSError):
                return
            if 100 <= status < 200:
                out.interim.append(Interim(status, headers))
            else:
                out.status, out.headers = status, headers


class IetfH2Client(IetfClient):
    """The same requests over HTTP/2 (h2c prior knowledge, or TLS + ALPN h2), one connection per request."""

    def request(self, method: str, url: str, headers: Sequence[Tuple[str, str]] = (), body: bytes = b"",
                stop_after: Optional[int] = None, interim_wait: float = 2.0) -> ResumableResponse:
        hdrs = [("upload-draft-interop-version", self.interop)] + self.headers + list(headers)
        if method in ("POST", "PATCH", "PUT") or body:
            hdrs.append(("content-length", str(len(body))))
        out = ResumableResponse()
        c = H2Conn(self.target, tls=self.tls, timeout=self.timeout)
        try:
            sid = c.start(method, _path_of(url), hdrs, end_stream=not body)
            part = body if stop_after is None else body[:stop_after]
            stopping = stop_after is not None and stop_after < len(body)
            if body:
                c.send(sid, part, end_stream=not stopping, stop_on_response=False)
            res = c.results[sid]
            out.sent = res.sent
            if stopping:
                out.stopped = True
                deadline = time.monotonic() + interim_wait
                while time.monotonic() < deadline and not res.interim_headers and res.status is None:
                    c.pump(0.05)
                c.reset(sid)
            else:
                res = c.wait_response(sid)
                out.headers, out.body = res.headers, res.body
            out.status = res.status
            out.interim = [Interim(int(h[":status"][0]), h) for h in res.interim_headers]
            if res.reset_code is not None or (res.closed and res.status is None):
                out.error = f"stream reset {res.reset_code}" if res.reset_code is not None else "connection closed"
            return out
        finally:
            c.close()
