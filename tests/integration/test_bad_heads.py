"""HTTP/1.1 heads no one should serve, answered by the front itself with uploadgate's JSON error and a closed
connection (front_parse.c ug_front_refusal), whatever the path: an upload route or a pass-through one. Before, the
front handed these to h2o 2.2.5, which passed several Host fields and Content-Length + Transfer-Encoding through to
the app (the second is how requests are smuggled past a proxy that reads the other length) and answered the rest in
text/plain.
"""

from __future__ import annotations

import json

import pytest

from checks import assert_clean, assert_error
from harness import HTTP1Reader, connect, read_until_closed, wait_until

PATHS = ["/api/echo", "/upload"]


def exchange(gw, raw: bytes):
    with connect(gw) as s:
        s.sendall(raw)
        res = HTTP1Reader(s).read_response()
        rest = read_until_closed(s, 10)
    return res, rest


def head(path: str, host: str, *fields: str, version: str = "1.1") -> bytes:
    lines = [f"POST {path} HTTP/{version}"] + ([f"Host: {host}"] if host else []) + list(fields)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


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
    raw = head(path, gateway.authority, *fields) + b"0\r\n\r\nGET /api/items HTTP/1.1\r\nHost: x\r\n\r\n"
    res, rest = exchange(gateway, raw)
    err = assert_error(res, 400, "bad_request")
    assert words in err["message"], err
    assert res.header("connection") == "close" and rest == b"", (res, rest)
    assert_clean(gateway)


@pytest.mark.parametrize("path", PATHS)
def test_http11_without_host_is_refused(gateway, path):
    res, _ = exchange(gateway, head(path, "", "Content-Length: 2") + b"{}")
    err = assert_error(res, 400, "bad_request")
    assert "Host" in err["message"]
    assert_clean(gateway)


def test_http10_without_host_is_served(gateway):
    with connect(gateway) as s:
        s.sendall(b"GET /api/items HTTP/1.0\r\n\r\n")
        res = HTTP1Reader(s).read_response(method="GET")
    assert res.status == 200 and res.body.startswith(b'{"items"'), res


@pytest.mark.parametrize("path", PATHS)
def test_unknown_expectation_gets_417_before_the_body(gateway, path):
    res, _ = exchange(gateway, head(path, gateway.authority, "Content-Length: 5", "Expect: 200-ok"))
    assert_error(res, 417, "expectation_failed")
    assert_clean(gateway)


def test_not_http_gets_400(gateway):
    res, rest = exchange(gateway, b"HELLO WORLD\r\n\r\n")
    err = assert_error(res, 400, "bad_request")
    assert "HTTP/1" in err["message"] and rest == b""
    assert_clean(gateway)


def test_refusals_are_logged(gateway):
    exchange(gateway, head("/api/echo", gateway.authority, "Host: b", "Content-Length: 0"))

    def access_lines():
        lines = [json.loads(line) for line in gateway.log().splitlines() if line.startswith("{")]
        return [e for e in lines if e.get("msg") == "request" and e.get("path") == "/api/echo"]

    [line] = wait_until(access_lines, 10, "the refusal's access line")
    assert line["status"] == 400 and line["error"] == "bad_request" and line["method"] == "POST", line
