"""A blocking HTTP/2 client on the `h2` library (cleartext prior knowledge or TLS + ALPN h2), with full control over
DATA frames, resets and settings."""

from __future__ import annotations

import select
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .gateway import Gateway
from .response import _ResponseReading
from .util import KiB, MiB


@dataclass
class H2Result(_ResponseReading):
    status: Optional[int] = None
    headers: Dict[str, List[str]] = field(default_factory=dict)
    body: bytes = b""
    ended: bool = False               # END_STREAM received after the response
    reset_code: Optional[int] = None  # RST_STREAM from the server
    goaway: Optional[int] = None      # GOAWAY error code
    sent: int = 0                     # DATA bytes we sent
    all_sent: bool = False            # the whole body was sent (with END_STREAM)
    closed: bool = False              # the connection was closed under us
    interim: List[int] = field(default_factory=list)  # statuses of 1xx responses, in order
    interim_headers: List[Dict[str, List[str]]] = field(default_factory=list)  # their header blocks (":status" too)

    def __repr__(self):
        return (f"H2Result(status={self.status}, ended={self.ended}, reset_code={self.reset_code}, goaway={self.goaway}, "
                f"sent={self.sent}, all_sent={self.all_sent}, closed={self.closed}, headers={self.headers}, "
                f"body={self.body[:300]!r})")


class H2Conn:
    """A minimal blocking HTTP/2 client connection for tests."""

    def __init__(self, gw: Gateway, tls: bool = False, timeout: float = 30.0, settings: Optional[Dict[int, int]] = None):
        """`settings`: the client's initial SETTINGS (h2.settings.SettingCodes -> value) instead of h2's defaults."""
        import h2.config
        import h2.connection
        import h2.settings

        self.timeout = timeout
        s = socket.create_connection((gw.listen_host, gw.tls_port if tls else gw.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.create_default_context(cafile=str(gw.cert))
            ctx.set_alpn_protocols(["h2"])
            s = ctx.wrap_socket(s, server_hostname="localhost")
            assert s.selected_alpn_protocol() == "h2", f"ALPN chose {s.selected_alpn_protocol()!r}"
        self.sock = s
        self.authority = gw.tls_authority if tls else gw.authority
        self.scheme = "https" if tls else "http"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        if settings:
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings)
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(16 * MiB)
        self.results: Dict[int, H2Result] = {}
        self.closed = False
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except Exception:
            pass
        self.sock.close()

    def pump(self, wait: float) -> None:
        """Read and process what the server sent, waiting up to `wait` s for something."""
        import h2.events

        if self.closed:
            return
        if not (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            r, _, _ = select.select([self.sock], [], [], wait)
            if not r:
                return
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            for r in self.results.values():
                r.closed = True
            return
        for ev in self.conn.receive_data(data):
            sid = getattr(ev, "stream_id", None)
            res = self.results.get(sid) if sid else None
            if isinstance(ev, h2.events.ResponseReceived) and res is not None:
                hdrs: Dict[str, List[str]] = {}
                for k, v in ev.headers:
                    hdrs.setdefault(k, []).append(v)
                if 100 <= int(hdrs[":status"][0]) < 200:
                    continue
                res.headers = hdrs
                res.status = int(hdrs[":status"][0])
            elif isinstance(ev, h2.events.InformationalResponseReceived):
                if res is not None:
                    block: Dict[str, List[str]] = {}
                    for k, v in ev.headers:
                        block.setdefault(k, []).append(v)
                    res.interim.append(int(block[":status"][0]))
                    res.interim_headers.append(block)
            elif isinstance(ev, h2.events.DataReceived):
                if res is not None:
                    res.body += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded) and res is not None:
                res.ended = True
            elif isinstance(ev, h2.events.StreamReset) and res is not None:
                res.reset_code = int(ev.error_code)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                for r in self.results.values():
                    r.goaway = int(ev.error_code)
        try:
            self.flush()
        except OSError:
            self.closed = True

    def start(self, method: str, path: str, headers: Sequence[Tuple[str, str]] = (), end_stream: bool = False) -> int:
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", self.scheme), (":authority", self.authority), (":path", path)]
        hdrs += [(k.lower(), v) for k, v in headers]
        self.conn.send_headers(sid, hdrs, end_stream=end_stream)
        self.results[sid] = H2Result(all_sent=end_stream)
        self.flush()
        return sid

    def send(self, sid: int, data: bytes, end_stream: bool = False, stop_on_response: bool = True) -> bool:
        """Send DATA respecting flow control. False if we stopped (response/reset/close) before the end."""
        import h2.exceptions

        res = self.results[sid]
        view = memoryview(data)
        deadline = time.monotonic() + self.timeout
        while True:
            self.pump(0)
            if self.closed or res.reset_code is not None or res.ended or (stop_on_response and res.status):
                return False
            if not view and not end_stream:
                return True
            try:
                window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            except h2.exceptions.StreamClosedError:
                return False
            if view and window <= 0:
                if time.monotonic() > deadline:
                    raise AssertionError(f"h2: no flow-control window for {self.timeout}s after {res.sent} bytes")
                self.pump(0.2)
                continue
            n = min(window, len(view))
            last = n == len(view)
            try:
                self.conn.send_data(sid, bytes(view[:n]), end_stream=end_stream and last)
                self.flush()
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                return False
            except OSError:
                self.closed = True
                return False
            res.sent += n
            view = view[n:]
            if last:
                if end_stream:
                    res.all_sent = True
                return True

    def get(self, path: str) -> H2Result:
        """A GET on this connection, until its response is complete."""
        return self.wait_response(self.start("GET", path, end_stream=True))

    def reset(self, sid: int, code: int = 8) -> None:  # 8 = CANCEL
        self.conn.reset_stream(sid, error_code=code)
        self.flush()

    def wait_response(self, sid: int, timeout: Optional[float] = None) -> H2Result:
        """Until the stream ended or was reset or the connection closed."""
        res = self.results[sid]
        deadline = time.monotonic() + (timeout or self.timeout)
        while not (res.ended or res.reset_code is not None or self.closed):
            if time.monotonic() > deadline:
                raise AssertionError(f"h2: no complete response in time: {res!r}")
            self.pump(0.2)
        return res


def h2_request(gw: Gateway, method: str, path: str, headers: Sequence[Tuple[str, str]] = (), body: bytes = b"",
               tls: bool = False, chunk: int = 256 * KiB, stop_on_response: bool = True,
               timeout: float = 60.0) -> H2Result:
    """One HTTP/2 request on a fresh connection; the body goes out in `chunk`-sized pieces."""
    c = H2Conn(gw, tls=tls, timeout=timeout)
    try:
        sid = c.start(method, path, headers, end_stream=not body)
        for i in range(0, len(body), chunk):
            last = i + chunk >= len(body)
            if not c.send(sid, body[i:i + chunk], end_stream=last, stop_on_response=stop_on_response):
                break
        return c.wait_response(sid, timeout)
    finally:
        c.close()
