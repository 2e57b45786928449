"""HTTP/1.1 heads no one should serve (several Host fields, Content-Length with Transfer-Encoding - how requests are
smuggled past a proxy that reads the other length -, a missing Host on HTTP/1.1, bytes that are not HTTP), answered
by the front itself with uploadgate's JSON error and a closed connection whatever the path, and logged. Host values
(the HTTP/1.1 Host field, an absolute-form target's authority, HTTP/2 :authority and host) must be RFC 3986
host[:port]: anything else is answered with 400 bad_request JSON and never reaches the app, which would build URLs
from it.
"""

from __future__ import annotations

import json

import pytest

from checks import assert_clean, assert_error, assert_nothing_reached_app
from harness import H2Conn, HTTP1Reader, connect, multipart_body, multipart_content_type, wait_until
from setups import PATHS, exchange, post_head


BAD = ["a b", "evil@good", "", "good:", "good:80x", "good:65536", "[::1", "[::g]:80", "a%zz"]


FORM = multipart_body([{"name": "file", "filename": "a.txt", "data": b"hello", "content_type": "text/plain"}])


def h1_head(target: str, host: str) -> bytes:
    return (f"POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {multipart_content_type()}\r\n"
            f"Content-Length: {len(FORM)}\r\n\r\n").encode("latin-1")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case, fields, words", [
    ("two-hosts", ["Host: evil.example", "Content-Length: 2"], "Host"),
    ("length-and-chunked", ["Content-Length: 4", "Transfer-Encoding: chunked"],
     "both Content-Length and Transfer-Encoding"),
    ("bad-length", ["Content-Length: 1e3"], "Content-Length"),
    ("gzip-coding", ["Transfer-Encoding: gzip"], "transfer coding"),
    ("folded-field", ["Content-Length: 2", "X-Note: a", " folded"], "folding"),
])
def test_refused_with_400(gateway, path, case, fields, words):
    # the bytes after the head: a smuggled request, were the framing read another way
    raw = post_head(path, gateway.authority, *fields) + b"0\r\n\r\nGET /api/items HTTP/1.1\r\nHost: x\r\n\r\n"
    res, rest = exchange(gateway, raw)
    err = assert_error(res, 400, "bad_request")
    assert words in err["message"], err
    assert res.header("connection") == "close" and rest == b"", (res, rest)
    assert_clean(gateway)


@pytest.mark.parametrize("path", PATHS)
def test_http11_without_host_is_refused(gateway, path):
    res, _ = exchange(gateway, post_head(path, "", "Content-Length: 2") + b"{}")
    err = assert_error(res, 400, "bad_request")
    assert "Host" in err["message"]
    assert_clean(gateway)


def test_http10_without_host_is_served(gateway):
    with connect(gateway) as s:
        s.sendall(b"GET /api/items HTTP/1.0\r\n\r\n")
        res = HTTP1Reader(s).read_response(method="GET")
    assert res.status == 200 and res.body.startswith(b'{"items"'), res


def test_not_http_gets_400(gateway):
    res, rest = exchange(gateway, b"HELLO WORLD\r\n\r\n")
    err = assert_error(res, 400, "bad_request")
    assert "HTTP/1" in err["message"] and rest == b""
    assert_clean(gateway)


def test_refusals_are_logged(gateway):
    exchange(gateway, post_head("/api/echo", gateway.authority, "Host: b", "Content-Length: 0"))

    def access_lines():
        lines = [json.loads(line) for line in gateway.log().splitlines() if line.startswith("{")]
        return [e for e in lines if e.get("msg") == "request" and e.get("path") == "/api/echo"]

    [line] = wait_until(access_lines, 10, "the refusal's access line")
    assert line["status"] == 400 and line["error"] == "bad_request" and line["method"] == "POST", line


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("host", BAD)
def test_http1_invalid_host_is_refused(gateway, path, host):
    res, rest = exchange(gateway, h1_head(path, host) + FORM)
    err = assert_error(res, 400, "bad_request")
    assert "Host" in err["message"], err
    assert res.header("connection") == "close" and rest == b"", (res, rest)
    gateway.wait_store_empty(10)
    assert_nothing_reached_app(gateway)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("authority", ["evil@good", "good:x", "a%zz", "[::1"])
def test_http1_invalid_absolute_form_authority_is_refused(gateway, path, authority):
    res, _ = exchange(gateway, h1_head(f"http://{authority}{path}", gateway.authority) + FORM)
    assert_error(res, 400, "bad_request")
    gateway.wait_store_empty(10)
    assert_nothing_reached_app(gateway)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:1", "[::1]:65535", "app.example"])
def test_http1_valid_hosts_are_served(gateway, host):
    with connect(gateway) as s:
        s.sendall(f"GET /api/items HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        res = HTTP1Reader(s).read_response(method="GET")
    assert res.status == 200, res


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("where, value, answer", [
    (":authority", "evil@good", 400), (":authority", "good:99999", 400), (":authority", "a%zz", 400),
    ("host", "evil@good", 400), ("host", "good:x", 400),
    # nghttp2 finds these malformed itself (RFC 9113 8.2.1) and resets the stream before uploadgate sees it
    (":authority", "a b", "reset"), ("host", "", "reset"),
])
def test_http2_invalid_authority_or_host_is_refused(gateway, tls, path, where, value, answer):
    c = H2Conn(gateway, tls=tls)
    try:
        c.conn.config.validate_outbound_headers = False
        c.conn.config.normalize_outbound_headers = False
        if where == ":authority":
            c.authority = value
            extra = []
        else:
            extra = [("host", value)]
        sid = c.start("POST", path, extra + [("content-type", multipart_content_type())])
        c.send(sid, FORM, end_stream=True)
        res = c.wait_response(sid)
        if answer == "reset":
            assert res.status is None and res.reset_code == 1, res  # PROTOCOL_ERROR
        else:
            err = assert_error(res, 400, "bad_request")
            assert "authority" in err["message"] or "Host" in err["message"], err
        c.authority = gateway.tls_authority if tls else gateway.authority
        ok = c.get("/api/items")  # the connection goes on
        assert ok.status == 200, ok
    finally:
        c.close()
    gateway.wait_store_empty(10)
    assert_nothing_reached_app(gateway, exclude_paths=["/api/items"])
