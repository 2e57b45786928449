"""Client-side timeouts (config `timeouts:`): a stalled client is cut off and leaves nothing behind."""

from __future__ import annotations

import os
import time

import pytest

from checks import assert_clean
from harness import (H2Conn, KiB, MiB, HTTP1Reader, connect, http1_head, multipart_body, multipart_content_type,
                     read_until_closed)


# h2o 2.2.5 serves HTTP/1 with one total deadline per request (http1.req_timeout, armed once in
# lib/http1.c reqread_start, and again between requests). uploadgate's HTTP/1.1 front reads every head on
# cleartext and TLS listeners itself; a connection it hands to h2o (a non-upload request) keeps h2o's deadline.
def short_timeouts(cfg):
    cfg["timeouts"] = {"header": "1s", "body_idle": "1s", "keepalive": "1s", "request": "1h"}


def check_timeout_answer(got: bytes) -> None:
    """Closing silently is fine; if the server says something first it is a 408 (or 400), never a success."""
    if got:
        status = int(got.split(b" ", 2)[1])
        assert status in (400, 408), got[:300]


@pytest.mark.parametrize("tls", [False, True], ids=["h1", "h1-tls"])
def test_stalled_request_head_is_cut_off(make_gateway, tls):
    gw = make_gateway(configure=short_timeouts)
    with connect(gw, tls=tls) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: applic")
        check_timeout_answer(read_until_closed(s, 6))
    assert_clean(gw)


@pytest.mark.parametrize("kind", ["multipart", "raw"])
def test_stalled_http1_body_is_cut_off(make_gateway, kind):
    gw = make_gateway(configure=short_timeouts)
    if kind == "multipart":
        body = multipart_body([{"name": "file", "filename": "s.bin", "data": os.urandom(2 * MiB)}])
        ctype = multipart_content_type()
    else:
        body, ctype = os.urandom(2 * MiB), "application/octet-stream"
    with connect(gw) as s:
        s.sendall(http1_head("POST", "/upload", gw.authority,
                             [("Content-Type", ctype), ("Content-Length", str(len(body)))]))
        s.sendall(body[:512 * KiB])
        t0 = time.monotonic()
        check_timeout_answer(read_until_closed(s, 8))
        elapsed = time.monotonic() - t0
    assert elapsed >= 0.5, f"cut off after {elapsed:.2f}s, before body_idle (1s)"
    assert_clean(gw)


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
def test_stalled_http2_body_is_cut_off(make_gateway, tls):
    gw = make_gateway(configure=short_timeouts)
    body = multipart_body([{"name": "file", "filename": "s.bin", "data": os.urandom(2 * MiB)}])
    c = H2Conn(gw, tls=tls, timeout=20)
    try:
        sid = c.start("POST", "/upload", [("content-type", multipart_content_type()), ("content-length", str(len(body)))])
        assert c.send(sid, body[:256 * KiB])
        res = c.wait_response(sid, timeout=15)  # until reset, end of stream or connection closed
        assert res.status is None or res.status in (400, 408), res
        assert res.reset_code is not None or res.goaway is not None or res.closed or res.status, res
    finally:
        c.close()
    assert_clean(gw)


def test_idle_keepalive_connection_is_closed_after_a_pass_through_request(make_gateway):
    """The front serves pass-through requests on its own connection (front_http1_pass.c), so keepalive applies after
    them too; h2o, which served such connections before, had only timeouts.request."""
    gw = make_gateway(configure=short_timeouts)
    with connect(gw) as s:
        s.sendall(http1_head("GET", "/api/items", gw.authority))
        res = HTTP1Reader(s).read_response(method="GET")
        assert res.status == 200, res
        assert read_until_closed(s, 6) == b""
