"""Edge limits: `max_connections` (a connection over the limit is closed at once, the others keep working) and
an HTTP/2 slow-loris (a stalled upload stream is cut off after body_idle while a steady upload on another
connection completes). The plain stalled-h2 case is in test_timeouts.py; this adds concurrency and timing."""

from __future__ import annotations

import os
import socket
import ssl
import time

import pytest

from checks import find_manifest, header_map
from harness import (H2Conn, HTTP1Reader, KiB, MiB, connect, http1_head, multipart_body, multipart_content_type,
                     sha256_bytes, wait_until)


def two_connections(cfg):
    cfg["max_connections"] = 2
    cfg["max_connections_per_client"] = 0  # every client here is 127.0.0.1: only the global limit is tested


def get_health(sock, reader, authority) -> int:
    sock.sendall(http1_head("GET", "/health", authority))
    return reader.read_response(method="GET").status


def open_working_h1(gw, timeout=5.0):
    """A plain HTTP/1.1 keep-alive connection that has served one request (retried while the server may still be
    releasing the slots of earlier, already closed connections such as the start-up probes)."""
    def attempt():
        s = connect(gw, timeout=5)
        r = HTTP1Reader(s)
        try:
            if get_health(s, r, gw.authority) == 200:
                return s, r
        except (ConnectionError, OSError):
            pass
        s.close()
        return None

    return wait_until(attempt, timeout, "a connection under max_connections to work")


def open_working_h2_tls(gw, timeout=5.0):
    def attempt():
        try:
            c = H2Conn(gw, tls=True, timeout=5)
            sid = c.start("GET", "/health", end_stream=True)
            if c.wait_response(sid, 5).status == 200:
                return c
            c.close()
        except (ConnectionError, OSError, AssertionError):
            pass
        return None

    return wait_until(attempt, timeout, "an h2 connection under max_connections to work")


def assert_closed_at_once(sock, within: float = 3.0) -> None:
    """The server closes the connection without being asked anything: EOF or RST, and no response bytes."""
    sock.settimeout(within)
    try:
        data = sock.recv(4096)
    except (ConnectionResetError, BrokenPipeError):
        return
    except socket.timeout:
        raise AssertionError(f"a connection over max_connections was still open after {within}s") from None
    assert data == b"", f"the server answered a connection over max_connections: {data[:200]!r}"


def test_max_connections(make_gateway):
    gw = make_gateway(configure=two_connections)
    a, ra = open_working_h1(gw)
    b = open_working_h2_tls(gw)  # the limit is over all listeners and protocols
    try:
        # A third connection, on either listener, is accepted by the kernel and closed by uploadgate at once.
        t0 = time.monotonic()
        c = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        assert_closed_at_once(c)
        c.close()
        assert time.monotonic() - t0 < 3
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            t = connect(gw, tls=True, timeout=5)  # the TLS handshake meets a closed connection
            try:
                t.sendall(http1_head("GET", "/health", gw.tls_authority))
                got = t.recv(4096)
                assert got == b"", got
                raise ConnectionError("closed")
            finally:
                t.close()
        # ... several times over: the refused ones do not eat the slots.
        for _ in range(5):
            c = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            assert_closed_at_once(c)
            c.close()
        # The two admitted connections still work.
        assert get_health(a, ra, gw.authority) == 200
        sid = b.start("GET", "/health", end_stream=True)
        assert b.wait_response(sid, 5).status == 200
    finally:
        b.close()
    # A closed connection frees its slot.
    d, rd = open_working_h1(gw)
    assert get_health(a, ra, gw.authority) == 200
    a.close()
    d.close()
    paths = [e["path"] for e in gw.app_log()]
    assert set(paths) == {"/health"}, paths


def body_idle_1s(cfg):
    cfg["timeouts"] = {"header": "10s", "body_idle": "1s", "keepalive": "60s", "request": "1h"}


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
def test_http2_slowloris_cut_off_while_steady_upload_completes(make_gateway, tls):
    gw = make_gateway(configure=body_idle_1s)
    stalled_body = multipart_body([{"name": "file", "filename": "stall.bin", "data": os.urandom(2 * MiB)}])
    data = os.urandom(3 * MiB)
    steady_body = multipart_body([{"name": "file", "filename": "steady.bin", "data": data}])
    headers = [("content-type", multipart_content_type())]

    stalled = H2Conn(gw, tls=tls, timeout=20)
    steady = H2Conn(gw, tls=tls, timeout=20)
    try:
        s_sid = stalled.start("POST", "/upload", headers + [("content-length", str(len(stalled_body)))])
        assert stalled.send(s_sid, stalled_body[:256 * KiB])
        stall_start = time.monotonic()
        s_res = stalled.results[s_sid]
        cut_at = None

        def stalled_is_cut():
            return s_res.reset_code is not None or s_res.goaway is not None or stalled.closed or s_res.status

        # The steady upload sends 64 KiB every ~0.2 s (well inside body_idle) for ~3.5 s on its own connection.
        n_sid = steady.start("POST", "/upload", headers + [("content-length", str(len(steady_body)))])
        chunk = (len(steady_body) + 17) // 18
        for i in range(0, len(steady_body), chunk):
            last = i + chunk >= len(steady_body)
            assert steady.send(n_sid, steady_body[i:i + chunk], end_stream=last), \
                f"the steady upload was stopped after {i} bytes: {steady.results[n_sid]!r}"
            pace_until = time.monotonic() + 0.2  # paces the steady sender and watches the stalled connection
            while (left := pace_until - time.monotonic()) > 0:
                (steady if stalled.closed else stalled).pump(left)
                if cut_at is None and stalled_is_cut():
                    cut_at = time.monotonic() - stall_start
        steady_done = time.monotonic() - stall_start
        n_res = steady.wait_response(n_sid, 20)
        if cut_at is None:
            stalled.wait_response(s_sid, 10)
            cut_at = time.monotonic() - stall_start
    finally:
        stalled.close()
        steady.close()

    # The stalled stream was cut off after about body_idle, while the steady upload was still going.
    assert s_res.status in (None, 400, 408), s_res
    assert stalled_is_cut(), s_res
    print(f"stalled stream cut after {cut_at:.2f}s; steady upload sent in {steady_done:.2f}s")
    assert 0.8 <= cut_at < steady_done, f"stalled stream cut after {cut_at:.2f}s (steady upload took {steady_done:.2f}s)"
    assert s_res.goaway is not None or stalled.closed, f"the slow-loris connection was not closed: {s_res!r}"
    # The steady upload went through completely.
    assert n_res.status == 201, n_res
    body = n_res.json()
    assert body["files"][0]["sha256"] == sha256_bytes(data) and body["files"][0]["size"] == len(data), body
    entry, manifest = find_manifest(gw, body["id"])
    assert manifest["files"][0]["filename"] == "steady.bin"
    assert header_map(entry["headers"]).get("content-type") == ["application/json"]
    # Nothing of the stalled upload is left, and only the steady one reached the app.
    gw.wait_store_empty()
    assert [e["path"] for e in gw.app_log()] == ["/upload"], gw.app_log()
