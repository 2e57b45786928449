"""HTTP/2 conformance cases h2spec found, sent as raw frames (no client library would send them).
"""

from __future__ import annotations

import socket
import ssl
import struct
import time

import pytest

from harness import free_port
from setups import frame


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


HEADERS, RST_STREAM, SETTINGS, GOAWAY = 0x1, 0x3, 0x4, 0x7


END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


PROTOCOL_ERROR = 0x1


def request_headers(stream_id: int, authority: str, path: str = "/") -> bytes:
    import hpack

    block = hpack.Encoder().encode([(":method", "GET"), (":scheme", "http"), (":authority", authority),
                                    (":path", path)])
    return frame(HEADERS, END_STREAM | END_HEADERS, stream_id, block)


def open_h2(host: str, port: int, tls: bool):
    s = socket.create_connection((host, port), timeout=10)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        s = ctx.wrap_socket(s)
        assert s.selected_alpn_protocol() == "h2"
    s.sendall(PREFACE + frame(SETTINGS, 0, 0))
    return s


def read_frames(s, until, timeout: float = 10.0):
    """Frames (type, flags, stream id, payload) until `until(frame)` is true or the connection closes; the deadline
    bounds the wait."""
    buf, out = b"", []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            f = (buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + n])
            buf = buf[9 + n:]
            out.append(f)
            if until(f):
                return out
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = s.recv(65536)
        except (ConnectionResetError, socket.timeout, ssl.SSLError):
            return out
        if not data:
            return out
        buf += data
    return out


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
def test_headers_on_a_lower_stream_id_than_a_previous_one_is_a_protocol_error(gateway, tls):
    """RFC 9113 5.1.1 (h2spec http2/5.1.1/2): a HEADERS frame opening stream 3 after stream 5 -> GOAWAY(PROTOCOL_ERROR),
    and no response on stream 3."""
    authority = gateway.tls_authority if tls else gateway.authority
    s = open_h2(gateway.listen_host, gateway.tls_port if tls else gateway.port, tls)
    try:
        s.sendall(request_headers(5, authority, "/health") + request_headers(3, authority, "/health"))
        frames = read_frames(s, lambda f: f[0] == GOAWAY)
    finally:
        s.close()
    goaways = [f for f in frames if f[0] == GOAWAY]
    assert goaways, f"no GOAWAY: {[(t, fl, sid) for t, fl, sid, _ in frames]}"
    last_stream, code = struct.unpack(">II", goaways[0][3][:8])
    assert code == PROTOCOL_ERROR, code
    assert last_stream == 5, last_stream
    assert not [f for f in frames if f[2] == 3], frames


@pytest.mark.parametrize("path", ["", "/healthz"], ids=["empty", "healthz"])
def test_admin_empty_path_ends_the_connection(make_gateway, path):
    """RFC 9113 8.3.1 (h2spec http2/8.1.2.3/1): an empty :path on the admin listener (h2o's own HTTP/2) is a stream
    error; uploadgate ends the connection for it (RFC 9113 5.4.1), answering nothing on that stream; a valid :path
    still gets its answer on a connection that stays open."""
    admin_port = free_port()
    gw = make_gateway(configure=lambda cfg: cfg.__setitem__("admin", {"address": f"127.0.0.1:{admin_port}"}))
    s = open_h2("127.0.0.1", admin_port, tls=False)
    closed = False
    try:
        s.sendall(request_headers(1, f"127.0.0.1:{admin_port}", path))
        frames = read_frames(s, lambda f: (f[0] == RST_STREAM or f[0] == GOAWAY or
                                           (f[0] in (0x0, HEADERS) and f[1] & END_STREAM)) and f[2] in (0, 1))
        if not path:
            s.settimeout(10)
            try:
                while s.recv(65536):
                    pass
                closed = True
            except (ConnectionResetError, ssl.SSLError):
                closed = True
            except socket.timeout:
                closed = False
    finally:
        s.close()
    on_1 = [(t, fl) for t, fl, sid, _ in frames if sid == 1]
    if path:
        assert (HEADERS, END_HEADERS) in on_1 or (HEADERS, END_HEADERS | END_STREAM) in on_1, frames
        assert not [f for f in frames if f[0] == RST_STREAM], frames
        return
    assert closed, f"the connection stayed open: {[(t, fl, sid) for t, fl, sid, _ in frames]}"
    assert not [f for f in frames if f[0] == HEADERS and f[2] == 1], frames
    errors = [struct.unpack(">I", p[-4:] if t == RST_STREAM else p[4:8])[0] for t, _, _, p in frames
              if t in (RST_STREAM, GOAWAY)]
    assert all(code == PROTOCOL_ERROR for code in errors), errors
    assert gw.proc.alive()
