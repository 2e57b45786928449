"""Expect: 100-continue and other expectations, on upload and pass-through routes, over the HTTP/1.1 front (raw sockets
and curl) and the HTTP/2 front: a request refused at its head is answered before any body byte is asked for; an
accepted one gets its 100 (HTTP/1.1) or interim HEADERS (HTTP/2) and then the final answer; a client that sends
its body without waiting is served alike; an unknown expectation gets 417 before the body.
"""

from __future__ import annotations

import json
import os

import pytest

from checks import Sent, assert_clean, assert_error, expect_upload, find_manifest, header_map
from harness import (H2Conn, HTTP1Reader, KiB, MiB, connect, curl, curl_form_args, http1_head, make_file,
                     multipart_body, multipart_content_type, read_until_closed, sha256_bytes)
from setups import H2_TLS, PATHS, exchange, post_head, put_raw, readable_within


TOKEN = "front-test-token-0123456789"


def with_auth_route(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKEN + "\n")

    def configure(cfg):
        cfg["routes"].insert(0, {"path": "/private", "methods": ["POST", "PUT"], "forward_to": "/upload",
                                 "limits": {"max_body": "2GiB", "max_file": "2GiB"},
                                 "auth": {"tokens_file": str(tokens)}})
    return configure


def _response_after_head(reader, status, headers):
    from harness import Response
    n = int(headers.get("content-length", ["0"])[-1])
    return Response(status, headers, reader.read_exact(n))


@pytest.mark.parametrize("tls", [False, True], ids=["h1", "h1-tls"])
def test_bad_token_with_expect_is_refused_before_any_body_byte(make_gateway, tmp_path, tls):
    """1 GiB announced, Expect: 100-continue, a wrong token: 401 comes back without a 100 Continue while the client
    has sent nothing but the head, and the connection is closed: the server never asked for (nor read) the body."""
    gw = make_gateway(configure=with_auth_route(tmp_path))
    with connect(gw, tls=tls) as s:
        s.sendall(http1_head("POST", "/private", gw.authority,
                             [("Content-Type", "application/octet-stream"), ("Content-Length", str(1 << 30)),
                              ("Expect", "100-continue"), ("Authorization", "Bearer wrong-token")]))
        assert readable_within(s, 5), "no answer to the head within 5 s"
        raw = read_until_closed(s, 10)  # the whole answer, then EOF: the server half-closed without reading a body
    assert b"100 Continue" not in raw, raw[:300]
    status_line, _, rest = raw.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 401 "), raw[:300]
    head, _, body = rest.partition(b"\r\n\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(b":", 1) for l in head.split(b"\r\n"))}
    assert headers[b"connection"] == b"close"
    assert headers[b"www-authenticate"].startswith(b"Bearer ")
    assert json.loads(body)["error"]["code"] == "unauthorized"
    assert_clean(gw)


@pytest.mark.parametrize("tls", [False, True], ids=["h1", "h1-tls"])
def test_good_token_with_expect_gets_100_then_201(make_gateway, tmp_path, tls):
    gw = make_gateway(configure=with_auth_route(tmp_path))
    data = os.urandom(300 * KiB)
    with connect(gw, tls=tls) as s:
        s.sendall(http1_head("PUT", "/private", gw.authority,
                             [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data))),
                              ("Expect", "100-continue"), ("Authorization", f"Bearer {TOKEN}")]))
        reader = HTTP1Reader(s)
        status, _ = reader.read_head()
        assert status == 100
        s.sendall(data)
        res = reader.read_response()
    assert res.status == 201, res
    _, m = find_manifest(gw, res.json()["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data)
    assert m["client"]["protocol"] == "HTTP/1.1"
    [entry] = gw.app_requests("/upload")
    assert dict(entry["headers"])["x-forwarded-proto"] == ("https" if tls else "http")


def test_body_sent_without_waiting_for_100_continue(gateway):
    """Clients may send the body right after an Expect head (RFC 9110 10.1.1); those bytes are not lost."""
    data = os.urandom(200 * KiB)
    with connect(gateway) as s:
        s.sendall(put_raw(gateway, "/upload", data, [("Expect", "100-continue")]))
        res = HTTP1Reader(s).read_response()  # skips the 100
    assert res.status == 201, res
    _, m = find_manifest(gateway, res.json()["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data)


def test_expect_100_continue_raw(gateway, tmp_path):
    """The server says 100 Continue before the client sends the body; Expect does not reach the app."""
    data = os.urandom(2 * MiB)
    body = multipart_body([{"name": "file", "filename": "e.bin", "content_type": "application/octet-stream",
                            "data": data}])
    with connect(gateway) as s:
        s.sendall(http1_head("POST", "/upload", gateway.authority,
                             [("Content-Type", multipart_content_type()), ("Content-Length", str(len(body))),
                              ("Expect", "100-continue"), ("Connection", "close")]))
        assert readable_within(s, 5), "no 100 Continue (nor any response) within 5 s of the request head"
        reader = HTTP1Reader(s)
        status, _ = reader.read_head()
        assert status == 100, f"expected 100 Continue before the body, got {status}"
        s.sendall(body)
        res = reader.read_response()
    assert res.status == 201, res
    entry, m = find_manifest(gateway, json.loads(res.body)["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data)
    assert "expect" not in header_map(entry["headers"])


def test_expect_100_continue_curl(gateway, tmp_path):
    f = make_file(tmp_path / "data", "e.bin", 3 * MiB)
    res = curl(gateway, "h1", "/upload", "-v", "-H", "Expect: 100-continue",
               *curl_form_args([("file", f, "e.bin", "application/octet-stream")]))
    assert "< HTTP/1.1 100 Continue" in res.stderr, "curl saw no 100 Continue:\n" + res.stderr[-2000:]
    expect_upload(gateway, res, proto="h1", sent=[Sent("file", "e.bin", "application/octet-stream", f)])


def test_expect_100_continue_over_limit_gets_413(gateway):
    """Content-Length over max_body with Expect: the final answer is 413 (before or after a 100)."""
    size = 5 * MiB
    with connect(gateway) as s:
        s.sendall(http1_head("PUT", "/limited", gateway.authority,
                             [("Content-Type", "application/octet-stream"), ("Content-Length", str(size)),
                              ("Expect", "100-continue"), ("Connection", "close")]))
        assert readable_within(s, 5), "no response within 5 s of the request head"
        reader = HTTP1Reader(s)
        status, headers = reader.read_head()
        if status == 100:
            try:
                s.sendall(os.urandom(size))
            except OSError:
                pass
            res = reader.read_response()
        else:
            res = _response_after_head(reader, status, headers)
    assert_error(res, 413, "body_too_large", limit="max_body")
    assert_clean(gateway)


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


@H2_TLS
def test_expect_100_continue_gets_an_interim_response_before_the_body(gateway, tls):
    data = os.urandom(300 * KiB)
    body = multipart_body([{"name": "file", "filename": "e.bin", "data": data}])
    c = H2Conn(gateway, tls=tls, timeout=20)
    try:
        sid = c.start("POST", "/upload", [("content-type", multipart_content_type()), ("content-length", str(len(body))),
                                          ("expect", "100-continue")])
        res = c.results[sid]
        while not res.interim and not c.closed and res.status is None:
            c.pump(0.2)
        assert res.interim == [100] and res.status is None and res.sent == 0, res
        assert c.send(sid, body, end_stream=True), res
        res = c.wait_response(sid)
    finally:
        c.close()
    assert res.status == 201, res
    _, m = find_manifest(gateway, res.json()["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data)


@pytest.mark.parametrize("path", PATHS)
def test_unknown_expectation_gets_417_before_the_body(gateway, path):
    res, _ = exchange(gateway, post_head(path, gateway.authority, "Content-Length: 5", "Expect: 200-ok"))
    assert_error(res, 417, "expectation_failed")
    assert_clean(gateway)
