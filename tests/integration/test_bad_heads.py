"""HTTP/1.1 heads no one should serve, answered by the front itself with uploadgate's JSON error and a closed
connection (front_parse.c ug_front_refusal), whatever the path: an upload route or a pass-through one. Before, the
front handed these to h2o 2.2.5, which passed several Host fields and Content-Length + Transfer-Encoding through to
the app (the second is how requests are smuggled past a proxy that reads the other length) and answered the rest in
text/plain. Also here: absolute-form targets (RFC 9112 3.2.2), which h2o passed to the app as the path
"/http://host/..." - past every route's policy - and which the front now serves as the path they name.
"""

from __future__ import annotations

import json

import pytest

from checks import assert_clean, assert_error, assert_nothing_reached_app, find_manifest
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


TOKEN = "bad-heads-token-0123456789"


def with_private_pass_through(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKEN + "\n")

    def configure(cfg):
        cfg["routes"].insert(0, {"path": "/api/*", "pass_through": True, "auth": {"tokens_file": str(tokens)}})
    return configure


def test_absolute_form_upload_is_served_as_its_path(gateway):
    data = b"absolute-form body"
    raw = (f"PUT http://{gateway.authority}/upload?abs=1 HTTP/1.1\r\nHost: {gateway.authority}\r\n"
           f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode()
    res, _ = exchange(gateway, raw + data)
    assert res.status == 201, res
    _, m = find_manifest(gateway, res.json()["id"])
    assert m["route"] == "/upload" and m["path"] == "/upload?abs=1", m
    assert [e["path"] for e in gateway.app_log()] == ["/upload?abs=1"]
    gateway.wait_store_empty(5)


def test_absolute_form_passes_through_as_its_path(gateway):
    with connect(gateway) as s:
        s.sendall(b"GET HTTP://Other.Example/api/items?p=2 HTTP/1.1\r\nHost: ignored\r\n\r\n"
                  + f"GET /api/bytes/2 HTTP/1.1\r\nHost: {gateway.authority}\r\n\r\n".encode())
        reader = HTTP1Reader(s)
        r1, r2 = reader.read_response(method="GET"), reader.read_response(method="GET")
    assert r1.status == 200 and r1.body.startswith(b'{"items"'), r1
    assert r2.status == 200 and r2.body == b"\x00\x01", r2
    assert [e["path"] for e in gateway.app_log()] == ["/api/items?p=2", "/api/bytes/2"]


def test_absolute_form_does_not_get_past_a_routes_policy(make_gateway, tmp_path):
    gw = make_gateway(configure=with_private_pass_through(tmp_path))
    res, _ = exchange(gw, f"GET http://{gw.authority}/api/items HTTP/1.1\r\nHost: {gw.authority}\r\n"
                          "Connection: close\r\n\r\n".encode())
    assert_error(res, 401, "unauthorized")
    assert_nothing_reached_app(gw)


@pytest.mark.parametrize("line", ["CONNECT app.example:443 HTTP/1.1", "OPTIONS * HTTP/1.1", "GET ftp://x/a HTTP/1.1",
                                  "GET http://user@x/api/items HTTP/1.1"])
def test_other_request_targets_get_400(gateway, line):
    res, _ = exchange(gateway, f"{line}\r\nHost: {gateway.authority}\r\n\r\n".encode())
    assert_error(res, 400, "bad_request")
    assert_nothing_reached_app(gateway)
