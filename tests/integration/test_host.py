"""Host values (the HTTP/1.1 Host field, an absolute-form target's authority, HTTP/2 :authority and host) must be
RFC 3986 host[:port]: anything else ("a b", "evil@good", empty, a bad port) is answered with 400 bad_request JSON and
never reaches the app, which would build URLs from it."""

from __future__ import annotations

import pytest

from checks import assert_error, assert_nothing_reached_app
from harness import H2Conn, HTTP1Reader, connect, multipart_body, multipart_content_type
from test_bad_heads import exchange

PATHS = ["/upload", "/api/echo"]
BAD = ["a b", "evil@good", "", "good:", "good:80x", "good:65536", "[::1", "[::g]:80", "a%zz"]
FORM = multipart_body([{"name": "file", "filename": "a.txt", "data": b"hello", "content_type": "text/plain"}])


def h1_head(target: str, host: str) -> bytes:
    return (f"POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {multipart_content_type()}\r\n"
            f"Content-Length: {len(FORM)}\r\n\r\n").encode("latin-1")


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
