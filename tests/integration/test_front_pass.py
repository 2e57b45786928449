"""Requests the HTTP/1.1 front does not take itself (everything but uploads and their preflights) are run through
h2o's request pipeline on the front's own connection (src/front_http1_pass.c): the connection stays with the front,
so an upload after a pass-through request on the same keep-alive connection still streams, and the front's timeouts
still apply between requests. Raw sockets, so that framing and the order of bytes can be asserted.
"""

from __future__ import annotations

import hashlib
import json
import os
import select

import pytest

from checks import assert_error, assert_nothing_reached_app, find_manifest
from harness import KiB, MiB, HTTP1Reader, chunked, connect, http1_head, read_until_closed, sha256_bytes

TLS = pytest.mark.parametrize("tls", [False, True], ids=["h1", "h1-tls"])
ITEMS_BODY = b'{"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}]}'


def readable_within(sock, seconds: float) -> bool:
    r, _, _ = select.select([sock], [], [], seconds)
    return bool(r)


def pattern(n: int) -> bytes:
    """What the example app's /api/bytes/{n} and /api/stream/{n} send."""
    return (bytes(range(256)) * (n // 256 + 1))[:n]


def put_raw(gw, path, data: bytes) -> bytes:
    return http1_head("PUT", path, gw.authority,
                      [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data)))]) + data


def echo_request(gw, doc, framing: str = "length", extra=()) -> bytes:
    raw = json.dumps(doc).encode()
    if framing == "chunked":
        return http1_head("POST", "/api/echo", gw.authority, [("Content-Type", "application/json"),
                                                              ("Transfer-Encoding", "chunked"), *extra]) + chunked(raw, 7)
    return http1_head("POST", "/api/echo", gw.authority, [("Content-Type", "application/json"),
                                                          ("Content-Length", str(len(raw))), *extra]) + raw


def small_pass_limit(cfg):
    """Pass-through bodies up to 2 MiB (max_pass_body); the upload route's own max_body is larger and does not count."""
    cfg["max_pass_body"] = "2MiB"


def short_timeouts(cfg):
    cfg["timeouts"] = {"header": "1s", "body_idle": "1s", "keepalive": "1s", "request": "1h"}


# -- the connection stays with the front ----------------------------------------------------------------------

@TLS
def test_upload_after_a_get_on_one_connection_is_decided_at_its_head(gateway, tls):
    """GET, then an upload announcing 5 MiB to /limited (max_body 4 MiB): the 413 comes before a body byte is sent.
    h2o, which served connections after a pass-through request, would wait for the whole body first."""
    with connect(gateway, tls=tls) as s:
        reader = HTTP1Reader(s)
        s.sendall(http1_head("GET", "/api/items", gateway.authority))
        r1 = reader.read_response(method="GET")
        assert r1.status == 200 and r1.body == ITEMS_BODY and r1.header("connection") == "keep-alive", r1
        s.sendall(http1_head("PUT", "/limited", gateway.authority,
                             [("Content-Type", "application/octet-stream"), ("Content-Length", str(5 * MiB))]))
        assert readable_within(s, 5), "no 413 before the body"
        r2 = reader.read_response()
    assert_error(r2, 413, "body_too_large", limit="max_body")
    assert [e["path"] for e in gateway.app_log()] == ["/api/items"]


@TLS
def test_get_upload_get_on_one_connection(gateway, tls):
    data = os.urandom(3 * MiB + 17)
    with connect(gateway, tls=tls) as s:
        reader = HTTP1Reader(s)
        s.sendall(http1_head("GET", "/api/bytes/1000", gateway.authority))
        r1 = reader.read_response(method="GET")
        s.sendall(put_raw(gateway, "/upload?after-get", data))
        r2 = reader.read_response()
        s.sendall(http1_head("GET", "/api/items", gateway.authority))
        r3 = reader.read_response(method="GET")
    assert r1.status == 200 and r1.body == pattern(1000), r1
    assert r2.status == 201 and r2.header("connection") == "keep-alive", r2
    _, m = find_manifest(gateway, r2.json()["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data) and m["files"][0]["size"] == len(data)
    assert r3.status == 200 and r3.body == ITEMS_BODY, r3
    assert [e["path"] for e in gateway.app_log()] == ["/api/bytes/1000", "/upload?after-get", "/api/items"]
    gateway.wait_store_empty(5)


@TLS
def test_pipelined_pass_through_bodies_and_an_upload(gateway, tls):
    """Four requests in one write - a JSON body with Content-Length, one chunked, a GET, an upload: each body is
    given to its own request and the responses come back in order."""
    data = os.urandom(700 * KiB)
    docs = [{"n": 1, "pad": "a" * 100_000}, {"n": 2, "text": "ünïcode ✓"}]
    with connect(gateway, tls=tls) as s:
        s.sendall(echo_request(gateway, docs[0]) + echo_request(gateway, docs[1], "chunked")
                  + http1_head("GET", "/api/items", gateway.authority) + put_raw(gateway, "/upload?pipelined", data))
        reader = HTTP1Reader(s)
        r1, r2 = reader.read_response(), reader.read_response()
        r3, r4 = reader.read_response(method="GET"), reader.read_response()
    assert r1.status == 200 and r1.json()["json"] == docs[0], r1
    assert r2.status == 200 and r2.json()["json"] == docs[1], r2
    assert r2.json()["headers"]["content-length"] == str(len(json.dumps(docs[1]).encode())), r2
    assert r3.status == 200 and r3.body == ITEMS_BODY, r3
    assert r4.status == 201, r4
    _, m = find_manifest(gateway, r4.json()["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data)
    log = gateway.app_log()
    assert [e["path"] for e in log] == ["/api/echo", "/api/echo", "/api/items", "/upload?pipelined"]
    assert [e["body_sha256"] for e in log[:2]] == [sha256_bytes(json.dumps(d).encode()) for d in docs]
    gateway.wait_store_empty(5)


def test_expect_100_continue_on_a_pass_through_request(gateway):
    raw = json.dumps({"expect": True}).encode()
    with connect(gateway) as s:
        s.sendall(http1_head("POST", "/api/echo", gateway.authority,
                             [("Content-Type", "application/json"), ("Content-Length", str(len(raw))),
                              ("Expect", "100-continue")]))
        reader = HTTP1Reader(s)
        interim = reader.read_response(head_only_status=(100,))
        assert interim.status == 100, interim
        s.sendall(raw)
        res = reader.read_response()
    assert res.status == 200 and res.json()["json"] == {"expect": True}, res
    [entry] = gateway.app_log()
    assert entry["body_sha256"] == sha256_bytes(raw)
    assert "expect" not in dict(entry["headers"])


# -- response framing ------------------------------------------------------------------------------------------

@TLS
def test_streamed_response_is_chunked_and_the_connection_goes_on(gateway, tls):
    n = 5 * MiB + 3
    with connect(gateway, tls=tls) as s:
        reader = HTTP1Reader(s)
        s.sendall(http1_head("GET", f"/api/stream/{n}", gateway.authority))
        r1 = reader.read_response(method="GET")
        s.sendall(http1_head("GET", "/api/items", gateway.authority))
        r2 = reader.read_response(method="GET")
    assert r1.status == 200 and r1.header("transfer-encoding") == "chunked" and r1.header("content-length") is None, r1
    assert r1.header("connection") == "keep-alive"
    assert hashlib.sha256(r1.body).hexdigest() == sha256_bytes(pattern(n))
    assert r2.status == 200 and r2.body == ITEMS_BODY, r2


def test_streamed_response_to_http10_keep_alive_ends_with_the_connection(gateway):
    """HTTP/1.0 has no chunked coding: a response without a length is delimited by the close, whatever the client
    asked for (h2o 2.2.5 promised keep-alive here and the client waited forever)."""
    n = 300 * KiB
    with connect(gateway) as s:
        s.sendall(f"GET /api/stream/{n} HTTP/1.0\r\nHost: {gateway.authority}\r\nConnection: keep-alive\r\n\r\n".encode())
        got = read_until_closed(s, 10)
    head, body = got.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    assert lines[0].startswith("HTTP/1.1 200"), lines
    assert fields.get("connection") == "close" and "content-length" not in fields and "transfer-encoding" not in fields
    assert body == pattern(n)


def test_head_request_then_another_on_one_connection(gateway):
    with connect(gateway) as s:
        reader = HTTP1Reader(s)
        s.sendall(http1_head("HEAD", "/api/bytes/4096", gateway.authority)
                  + http1_head("GET", "/api/bytes/10", gateway.authority))
        r1 = reader.read_response(method="HEAD")
        r2 = reader.read_response(method="GET")
    assert r1.status in (200, 405), r1  # FastAPI answers HEAD on a GET route as it likes; only the framing counts
    assert r1.body == b""
    assert r2.status == 200 and r2.body == pattern(10), r2


def test_connection_close_is_honoured(gateway):
    with connect(gateway) as s:
        s.sendall(http1_head("GET", "/api/items", gateway.authority, [("Connection", "close")]))
        res = HTTP1Reader(s).read_response(method="GET")
        assert res.status == 200 and res.header("connection") == "close", res
        assert read_until_closed(s, 5) == b""


# -- bodies the front will not buffer --------------------------------------------------------------------------

def test_pass_through_body_over_max_pass_body_is_refused_before_reading(make_gateway):
    gw = make_gateway(configure=small_pass_limit)
    with connect(gw) as s:
        s.sendall(http1_head("POST", "/api/echo", gw.authority,
                             [("Content-Type", "application/json"), ("Content-Length", str(3 * MiB))]))
        assert readable_within(s, 5), "no 413 before the body"
        res = HTTP1Reader(s).read_response()
        assert read_until_closed(s, 10) == b""
    assert_error(res, 413, "body_too_large", limit="max_pass_body")
    assert res.header("connection") == "close"
    assert_nothing_reached_app(gw)


def test_chunked_pass_through_body_crossing_max_pass_body_is_refused_while_sending(make_gateway):
    gw = make_gateway(configure=small_pass_limit)
    body = chunked(os.urandom(4 * MiB), chunk=64 * KiB)
    with connect(gw) as s:
        s.sendall(http1_head("POST", "/api/echo", gw.authority,
                             [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]))
        s.sendall(body[:3 * MiB])
        assert readable_within(s, 10), "no 413 while the rest of the body is still unsent"
        res = HTTP1Reader(s).read_response()
    assert_error(res, 413, "body_too_large", limit="max_pass_body")
    assert_nothing_reached_app(gw)


def test_broken_chunked_pass_through_body_gets_400(gateway):
    with connect(gateway) as s:
        s.sendall(http1_head("POST", "/api/echo", gateway.authority,
                             [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]) + b"zz\r\n{}\r\n")
        res = HTTP1Reader(s).read_response()
        assert read_until_closed(s, 10) == b""
    err = assert_error(res, 400, "bad_request")
    assert "chunked" in err["message"]
    assert_nothing_reached_app(gateway)


@TLS
def test_stalled_pass_through_body_is_cut_off(make_gateway, tls):
    gw = make_gateway(configure=short_timeouts)
    with connect(gw, tls=tls) as s:
        s.sendall(http1_head("POST", "/api/echo", gw.authority,
                             [("Content-Type", "application/json"), ("Content-Length", "1000")]) + b'{"a":')
        assert read_until_closed(s, 6) == b""
    assert_nothing_reached_app(gw)
