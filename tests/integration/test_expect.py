"""Expect: 100-continue and other expectations, on upload and pass-through routes, over the HTTP/1.1 front (raw sockets
and curl) and the HTTP/2 front: a request refused at its head is answered before any body byte is asked for; an
accepted one gets its 100 (HTTP/1.1) or interim HEADERS (HTTP/2) and then the final answer; a client that sends
its body without waiting is served alike; an unknown expectation gets 417 before the body.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import List, Optional

import pytest

from checks import Sent, assert_clean, assert_error, expect_upload, find_manifest, header_map
from harness import (PROTOS, UPLOAD_PROTOS, H2Conn, HTTP1Reader, KiB, MiB, connect, curl, curl_form_args, http1_head,
                     make_file, manifest_protocol, multipart_body, multipart_content_type, read_until_closed,
                     sha256_bytes, wait_until)
from setups import PATHS, exchange, post_head, put_raw, readable_within


TOKEN = "front-test-token-0123456789"
UPLOAD_TRANSPORTS = pytest.mark.parametrize("proto", UPLOAD_PROTOS)


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


def test_body_sent_without_waiting_for_100_continue(gateway):
    """Clients may send the body right after an Expect head (RFC 9110 10.1.1); those bytes are not lost."""
    data = os.urandom(200 * KiB)
    with connect(gateway) as s:
        s.sendall(put_raw(gateway, "/upload", data, [("Expect", "100-continue")]))
        res = HTTP1Reader(s).read_response()  # skips the 100
    assert res.status == 201, res
    _, m = find_manifest(gateway, res.json()["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data)


def test_expect_100_continue_curl(gateway, tmp_path):
    f = make_file(tmp_path / "data", "e.bin", 3 * MiB)
    res = curl(gateway, "h1", "/upload", "-v", "-H", "Expect: 100-continue",
               *curl_form_args([("file", f, "e.bin", "application/octet-stream")]))
    assert "< HTTP/1.1 100 Continue" in res.stderr, "curl saw no 100 Continue:\n" + res.stderr[-2000:]
    expect_upload(gateway, res, proto="h1", sent=[Sent("file", "e.bin", "application/octet-stream", f)])


@dataclass
class ExpectExchange:
    """What came back for a head sent with Expect: 100-continue."""

    interim: List[int]         # 1xx statuses before the final answer
    res: object                # the final Response / H2Result
    body_sent: bool            # the body went out (only ever after a 100)
    closed_after: bool = False  # HTTP/1.1: the server closed the connection after its answer


def expect_exchange(gw, proto: str, method: str, path: str, headers, body: bytes, declared: Optional[int] = None):
    """Send the head with Expect: 100-continue and Content-Length (`declared`, default len(body)), wait for the
    server's first answer and send the body only after a 100 - so a final answer without a 100 came before any body
    byte. Raw HTTP/1.1 sockets for h1 / h1-tls, the h2 library for h2c / h2."""
    length = str(len(body) if declared is None else declared)
    if proto.startswith("h1"):
        return _expect_over_http1(gw, proto == "h1-tls", method, path, headers, body, length)
    return _expect_over_h2(gw, proto == "h2", method, path, headers, body, length)


def _expect_over_http1(gw, tls, method, path, headers, body, length):
    with connect(gw, tls=tls) as s:
        s.sendall(http1_head(method, path, gw.tls_authority if tls else gw.authority,
                             [*headers, ("Content-Length", length), ("Expect", "100-continue")]))
        assert readable_within(s, 5), "no answer to the head within 5 s"
        reader = HTTP1Reader(s)
        status, head = reader.read_head()
        interim, sent = [], False
        if status == 100:
            interim, sent = [100], True
            try:
                s.sendall(body)
            except OSError:  # refused while sending: the answer is still there to read
                pass
            res = reader.read_response()
        else:
            res = _response_after_head(reader, status, head)
        closed = res.header("connection") == "close" and read_until_closed(s, 10) == b""
    return ExpectExchange(interim, res, sent, closed)


def _expect_over_h2(gw, tls, method, path, headers, body, length):
    c = H2Conn(gw, tls=tls, timeout=20)
    try:
        sid = c.start(method, path, [*((k.lower(), v) for k, v in headers), ("content-length", length),
                                     ("expect", "100-continue")])
        res = c.results[sid]
        wait_until(lambda: c.pump(0.05) or res.interim or res.status or res.reset_code is not None or c.closed, 5,
                   "an answer to the HEADERS")
        sent = res.interim == [100] and res.status is None
        if sent:
            c.send(sid, body, end_stream=True)
        res = c.wait_response(sid)
    finally:
        c.close()
    return ExpectExchange(list(res.interim), res, sent)


def upload_headers(ctype: str, token: Optional[str] = None):
    return [("Content-Type", ctype)] + ([("Authorization", f"Bearer {token}")] if token else [])


@UPLOAD_TRANSPORTS
def test_a_head_refused_with_expect_is_answered_before_any_body_byte(make_gateway, tmp_path, proto):
    """1 GiB announced, Expect: 100-continue, a wrong token: 401 comes back without a 100 Continue while the client
    has sent nothing but the head; on HTTP/1.1 the connection is closed: the server never asked for (nor read) the
    body."""
    gw = make_gateway(configure=with_auth_route(tmp_path))
    ex = expect_exchange(gw, proto, "POST", "/private", upload_headers("application/octet-stream", "wrong-token"),
                         b"", declared=1 << 30)
    assert ex.interim == [] and not ex.body_sent, ex
    assert_error(ex.res, 401, "unauthorized")
    assert ex.res.header("www-authenticate").startswith("Bearer "), ex.res
    if proto.startswith("h1"):
        assert ex.closed_after, "the connection stays open after a refusal of an unread body"
    assert_clean(gw)


@UPLOAD_TRANSPORTS
def test_an_accepted_head_with_expect_gets_100_then_the_upload_is_stored(make_gateway, tmp_path, proto):
    gw = make_gateway(configure=with_auth_route(tmp_path))
    data = os.urandom(300 * KiB)
    ex = expect_exchange(gw, proto, "PUT", "/private", upload_headers("application/octet-stream", TOKEN), data)
    assert ex.interim == [100] and ex.res.status == 201, ex
    _, m = find_manifest(gw, ex.res.json()["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data)
    assert m["client"]["protocol"] == manifest_protocol(PROTOS[proto].expect_version)
    [entry] = gw.app_requests("/upload")
    assert dict(entry["headers"])["x-forwarded-proto"] == PROTOS[proto].scheme


@UPLOAD_TRANSPORTS
def test_a_multipart_upload_with_expect_gets_100_and_expect_does_not_reach_the_app(gateway, proto):
    data = os.urandom(2 * MiB)
    body = multipart_body([{"name": "file", "filename": "e.bin", "content_type": "application/octet-stream",
                            "data": data}])
    ex = expect_exchange(gateway, proto, "POST", "/upload", upload_headers(multipart_content_type()), body)
    assert ex.interim == [100] and ex.res.status == 201, ex
    entry, m = find_manifest(gateway, ex.res.json()["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data)
    assert "expect" not in header_map(entry["headers"])


@UPLOAD_TRANSPORTS
def test_expect_with_a_declared_body_over_max_body_gets_413(gateway, proto):
    """Content-Length over max_body with Expect: the final answer is 413 (before or after a 100)."""
    ex = expect_exchange(gateway, proto, "PUT", "/limited", upload_headers("application/octet-stream"),
                         os.urandom(5 * MiB))
    assert_error(ex.res, 413, "body_too_large", limit="max_body")
    assert_clean(gateway)


@UPLOAD_TRANSPORTS
def test_expect_on_a_pass_through_request_gets_100_and_the_app_gets_the_body(gateway, proto):
    """The front takes a pass-through body at once (h2o's pipeline is given it whole), so it meets the expectation
    itself, on every protocol, and the app never sees the Expect field."""
    raw = json.dumps({"expect": True}).encode()
    ex = expect_exchange(gateway, proto, "POST", "/api/echo", [("Content-Type", "application/json")], raw)
    assert ex.interim == [100], ex
    assert ex.res.status == 200 and ex.res.json()["json"] == {"expect": True}, ex
    [entry] = gateway.app_log()
    assert entry["body_sha256"] == sha256_bytes(raw)
    assert "expect" not in dict(entry["headers"])


@pytest.mark.parametrize("path", PATHS)
def test_unknown_expectation_gets_417_before_the_body(gateway, path):
    res, _ = exchange(gateway, post_head(path, gateway.authority, "Content-Length: 5", "Expect: 200-ok"))
    assert_error(res, 417, "expectation_failed")
    assert_clean(gateway)
