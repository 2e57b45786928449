"""Size and count limits: a body, file, part count or head over its limit is refused with the right status and JSON
error - at the head when the size is declared, while the client is sending when it is not - and leaves nothing on
disk; everything exactly at the limits is accepted. Also the pass-through body limit (`max_pass_body`), free space
(`storage.min_free`), `max_connections` and the per-client share of connections, on HTTP/1.1 and HTTP/2.
"""

from __future__ import annotations

import os
import socket
import ssl
import time

import pytest

from checks import Sent, assert_clean, assert_error, assert_nothing_reached_app, expect_upload
from harness import (ERROR_PROTOS, H2Conn, HTTP1Reader, KiB, MiB, chunked, connect, curl, curl_form_args, http1_head,
                     make_file, multipart_body, multipart_content_type, read_until_closed, wait_until)
from setups import H2_TLS, ITEMS_BODY, json_of_size, readable_within


def _limit_case(name, tmp_path):
    d = tmp_path / "data"
    if name == "body_too_large":
        f = make_file(d, "big.bin", 4 * MiB + 1)
        return ["-X", "PUT", "--data-binary", f"@{f.path}", "-H", "Content-Type: application/octet-stream"], "max_body"
    if name == "file_too_large":
        f = make_file(d, "big.bin", 1 * MiB + 1)
        return curl_form_args([("file", f, "big.bin", "application/octet-stream")]), "max_file"
    if name == "too_many_files":
        fs = [make_file(d, f"s{i}.bin", KiB) for i in range(4)]
        return curl_form_args([("f", x, x.path.name, None) for x in fs]), "max_files"
    if name == "too_many_fields":
        return curl_form_args([], [(f"k{i}", "v") for i in range(5)]), "max_fields"
    if name == "field_too_large":
        return curl_form_args([], [("big", "x" * (KiB + 1))]), "max_field_size"
    raise KeyError(name)


LIMIT_CODES = {
    "body_too_large": "body_too_large",
    "file_too_large": "file_too_large",
    "too_many_files": "too_many_files",
    "too_many_fields": "too_many_fields",
    "field_too_large": "field_too_large",
}


def _min_free_huge(cfg):
    cfg["storage"]["min_free"] = "1000TiB"


def small_pass_limit(cfg):
    """Pass-through bodies up to 2 MiB (max_pass_body); the upload route's own max_body is larger and does not count."""
    cfg["max_pass_body"] = "2MiB"


def small_max_header_size(cfg):
    cfg["max_header_size"] = "4KiB"


def echo(gw, proto, body: bytes, tmp_path, path="/api/echo"):
    f = tmp_path / f"body-{len(body)}.json"
    f.write_bytes(body)
    return curl(gw, proto, path, "--data-binary", f"@{f}", "-H", "Content-Type: application/json")


def held_connection(gw):
    """A keep-alive connection from 127.0.0.1 that has had one answer (so uploadgate has surely accepted it). Retried
    for a while: the start-up probes' connections from the same address may not have been seen closing yet."""
    got = []

    def attempt():
        s = connect(gw)
        try:
            s.sendall(http1_head("GET", "/api/items", gw.authority))
            if HTTP1Reader(s).read_response(method="GET").status == 200:
                got.append(s)
                return True
        except (ConnectionError, AssertionError, OSError):
            pass
        s.close()
        return False

    wait_until(attempt, 10, "a connection from 127.0.0.1 to be served")
    return got[0]


def _cases():
    big = os.urandom(6 * MiB)
    file_body = multipart_body([{"name": "file", "filename": "big.bin", "data": os.urandom(2 * MiB)}])
    return {
        # (headers, body, code, limit)
        "declared-length": ([("content-type", "application/octet-stream"), ("content-length", str(len(big)))],
                            big, "body_too_large", "max_body"),
        # No content-length: the body streams into the upload, and the first limit it crosses is named - a raw body
        # is one file, and /limited's max_file (1 MiB) is below its max_body (as test_body_too_large_chunked_http1).
        "streamed-no-length": ([("content-type", "application/octet-stream")], big, "file_too_large", "max_file"),
        "file-too-large-no-length": ([("content-type", multipart_content_type())], file_body, "file_too_large",
                                     "max_file"),
        "too-many-files": ([("content-type", multipart_content_type())],
                           multipart_body([{"name": f"f{i}", "filename": f"{i}.bin", "data": b"x" * KiB}
                                           for i in range(5)]), "too_many_files", "max_files"),
    }


CASES = list(_cases())


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


@pytest.mark.parametrize("proto", ERROR_PROTOS)
@pytest.mark.parametrize("case", list(LIMIT_CODES))
def test_limit_exceeded(gateway, tmp_path, proto, case):
    args, limit = _limit_case(case, tmp_path)
    res = curl(gateway, proto, "/limited", *args)
    assert_error(res, 413, LIMIT_CODES[case], limit=limit)
    assert_clean(gateway)


def test_body_too_large_chunked_http1(gateway, tmp_path):
    """No Content-Length: limits are enforced while the body streams in, and the error names the first one the
    body crosses whatever its chunking: a raw body is one file, so on /limited (max_file 1 MiB < max_body 4 MiB)
    that is max_file."""
    f = make_file(tmp_path / "data", "big.bin", 6 * MiB)
    res = curl(gateway, "h1", "/limited", "-X", "PUT", "--data-binary", f"@{f.path}",
               "-H", "Content-Type: application/octet-stream", "-H", "Transfer-Encoding: chunked")
    assert_error(res, 413, "file_too_large", limit="max_file")
    assert_clean(gateway)


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_everything_exactly_at_the_limits_is_accepted(gateway, tmp_path, proto):
    d = tmp_path / "data"
    files = [make_file(d, "exact.bin", 1 * MiB), make_file(d, "b.bin", 10 * KiB), make_file(d, "c.bin", 1)]
    fields = [("k0", "x" * KiB), ("k1", "v"), ("k2", ""), ("k3", "last")]
    sent = [Sent("f", x.path.name, "application/octet-stream", x) for x in files]
    res = curl(gateway, proto, "/limited",
               *curl_form_args([(s.field, s.file, s.filename, s.content_type) for s in sent], fields))
    expect_upload(gateway, res, proto=proto, sent=sent, fields=fields, route="/limited", path="/limited",
                  app_path="/upload")


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_insufficient_storage(make_gateway, tmp_path, proto):
    gw = make_gateway(configure=_min_free_huge)
    f = make_file(tmp_path / "data", "x.bin", 64 * KiB)
    res = curl(gw, proto, "/upload", *curl_form_args([("file", f, "x.bin", None)], [("t", "v")]))
    assert_error(res, 507, "insufficient_storage")
    res = curl(gw, proto, "/upload", "-X", "PUT", "--data-binary", f"@{f.path}",
               "-H", "Content-Type: application/octet-stream")
    assert_error(res, 507, "insufficient_storage")
    assert_clean(gw)
    # Pass-through does not store anything and keeps working.
    res = curl(gw, proto, "/api/items")
    assert res.status == 200, res


def body_limits(cfg):
    """/capped: an upload route whose max_body (4 MiB) is the first limit a raw body meets (on /limited a raw body is
    one file and max_file, 1 MiB, comes first); pass-through bodies up to 2 MiB."""
    cfg["routes"].append({"path": "/capped", "methods": ["PUT"], "forward_to": "/upload",
                          "limits": {"max_body": "4MiB", "max_file": "4MiB"}})
    small_pass_limit(cfg)


# (method, path, content type, the limit that applies): a raw upload against /capped's max_body of 4 MiB, a
# pass-through request against a max_pass_body of 2 MiB.
BODY_LIMITS = pytest.mark.parametrize("method, path, ctype, limit", [
    ("PUT", "/capped", "application/octet-stream", "max_body"),
    ("POST", "/api/echo", "application/json", "max_pass_body"),
], ids=["upload", "pass-through"])
LIMIT_MIB = {"max_body": 4, "max_pass_body": 2}


@BODY_LIMITS
def test_declared_body_over_its_limit_is_refused_before_reading(make_gateway, method, path, ctype, limit):
    """A Content-Length 1 MiB over the limit: 413 and a closed connection while the client has sent only the head."""
    gw = make_gateway(configure=body_limits)
    with connect(gw) as s:
        s.sendall(http1_head(method, path, gw.authority,
                             [("Content-Type", ctype), ("Content-Length", str((LIMIT_MIB[limit] + 1) * MiB))]))
        assert readable_within(s, 5), "no 413 before the body"
        res = HTTP1Reader(s).read_response()
        assert read_until_closed(s, 10) == b""
    assert_error(res, 413, "body_too_large", limit=limit)
    assert res.header("connection") == "close"
    assert_clean(gw)


@BODY_LIMITS
def test_chunked_body_crossing_its_limit_is_refused_while_sending(make_gateway, method, path, ctype, limit):
    """Without Content-Length the limit can only be checked as decoded bytes pass: the 413 comes once the limit has
    been read, with 1 MiB of the body still unsent."""
    gw = make_gateway(configure=body_limits)
    body = chunked(os.urandom((LIMIT_MIB[limit] + 2) * MiB), chunk=64 * KiB)
    with connect(gw) as s:
        s.sendall(http1_head(method, path, gw.authority, [("Content-Type", ctype), ("Transfer-Encoding", "chunked")]))
        s.sendall(body[:(LIMIT_MIB[limit] + 1) * MiB])
        assert readable_within(s, 10), "no 413 while the rest of the body is still unsent"
        res = HTTP1Reader(s).read_response()
    assert_error(res, 413, "body_too_large", limit=limit)
    assert res.header("connection") == "close"
    assert_clean(gw)


@pytest.mark.parametrize("tls", [False, True], ids=["h1", "h1-tls"])
def test_part_crossing_max_file_is_refused_while_the_client_is_sending(gateway, tls):
    """/limited: max_file 1 MiB. The 413 arrives after the first 2 MiB, before the last MiB is sent."""
    body = multipart_body([{"name": "title", "data": b"x"},
                           {"name": "file", "filename": "big.bin", "data": os.urandom(3 * MiB)}])
    with connect(gateway, tls=tls) as s:
        s.sendall(http1_head("POST", "/limited", gateway.authority,
                             [("Content-Type", multipart_content_type()), ("Content-Length", str(len(body)))]))
        s.sendall(body[:2 * MiB])
        assert readable_within(s, 10), "no 413 while the rest of the body is still unsent"
        res = HTTP1Reader(s).read_response()
    assert_error(res, 413, "file_too_large", limit="max_file")
    assert res.header("connection") == "close"
    assert_clean(gateway)


def test_oversized_head_gets_431(gateway):
    for method, path in (("POST", "/upload"), ("GET", "/api/items")):
        with connect(gateway) as s:
            s.sendall(http1_head(method, path, gateway.authority, [("X-Big", "a" * (20 * KiB))]))
            res = HTTP1Reader(s).read_response()
            assert read_until_closed(s, 10) == b""
        assert_error(res, 431, "header_too_large")
    assert_clean(gateway)


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
@pytest.mark.parametrize("case", CASES)
def test_h2_over_limit_gets_413_response(gateway, tls, case):
    headers, body, code, limit = _cases()[case]
    c = H2Conn(gateway, tls=tls, timeout=30)
    try:
        sid = c.start("PUT" if "octet" in headers[0][1] else "POST", "/limited", headers)
        for i in range(0, len(body), 128 * KiB):
            piece = body[i:i + 128 * KiB]
            if not c.send(sid, piece, end_stream=i + len(piece) >= len(body)):
                break
        res = c.wait_response(sid)
        assert res.status is not None, f"stream reset / connection closed without a response: {res!r}"
        assert res.ended, f"413 response not completed with END_STREAM: {res!r}"
        assert res.goaway is None, f"GOAWAY sent: {res!r}"
        assert_error(res, 413, code, limit=limit)
        r2 = c.get("/api/items")  # the connection serves on
        assert r2.status == 200 and r2.body == ITEMS_BODY, r2
    finally:
        c.close()
    assert_clean(gateway, exclude_paths=["/api/items"])


@H2_TLS
def test_oversized_head_gets_431_and_the_connection_goes_on(make_gateway, tls):
    gw = make_gateway(configure=small_max_header_size)
    c = H2Conn(gw, tls=tls, timeout=20)
    try:
        big = [(f"x-pad-{i}", "v" * 1000) for i in range(5)]
        sid = c.start("POST", "/upload", [("content-type", multipart_content_type())] + big, end_stream=True)
        res = c.wait_response(sid)
        assert_error(res, 431, "header_too_large")
        r2 = c.get("/api/items")  # the connection serves on
        assert r2.status == 200 and r2.body == ITEMS_BODY, r2
    finally:
        c.close()
    assert_clean(gw, exclude_paths=["/api/items"])


@H2_TLS
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
def test_pass_through_body_over_max_pass_body_gets_413_and_the_connection_goes_on(make_gateway, tls, declared):
    """Declared over the limit: 413 at HEADERS, before any DATA. Streamed without a length: 413 once the limit is
    crossed (h2o 2.2.5 reset such streams with REFUSED_STREAM). Nothing reaches the app; the connection serves on."""
    gw = make_gateway(configure=small_pass_limit)
    c = H2Conn(gw, tls=tls, timeout=30)
    try:
        fields = [("content-type", "application/json")] + ([("content-length", str(3 * MiB))] if declared else [])
        sid = c.start("POST", "/api/echo", fields)
        if not declared:  # past the 2 MiB limit, and the stream not ended: the answer must not wait for its end
            c.send(sid, os.urandom(2 * MiB + 512 * KiB), end_stream=False)
        res = c.wait_response(sid, timeout=5)
        assert res.reset_code is None, res
        assert_error(res, 413, "body_too_large", limit="max_pass_body")
        r2 = c.get("/api/items")  # the connection serves on
        assert r2.status == 200 and r2.body == ITEMS_BODY, r2
    finally:
        c.close()
    assert_nothing_reached_app(gw, exclude_paths=["/api/items"])


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_pass_through_bodies_are_limited_to_1mib_by_default(gateway, proto, tmp_path):
    """max_pass_body defaults to 1 MiB however large the upload routes' max_body (200 MiB here): exactly 1 MiB goes
    to the app, one byte more gets 413 and never reaches it."""
    res = echo(gateway, proto, json_of_size(MiB), tmp_path)
    assert res.status == 200 and len(res.json()["json"]["pad"]) == MiB - 10, res
    assert_error(echo(gateway, proto, json_of_size(MiB + 1), tmp_path), 413, "body_too_large", limit="max_pass_body")
    assert len(gateway.app_requests("/api/echo")) == 1, gateway.app_requests("/api/echo")


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_a_pass_through_route_sets_its_own_max_pass_body(make_gateway, proto, tmp_path):
    def configure(cfg):
        cfg["max_pass_body"] = "64KiB"
        cfg["routes"].append({"path": "/api/echo", "pass_through": True, "max_pass_body": "3MiB"})
    gw = make_gateway(configure=configure)
    assert echo(gw, proto, json_of_size(3 * MiB), tmp_path).status == 200
    assert_error(echo(gw, proto, json_of_size(3 * MiB + 1), tmp_path), 413, "body_too_large", limit="max_pass_body")
    # Elsewhere the top-level limit holds.
    assert_error(echo(gw, proto, json_of_size(64 * KiB + 1), tmp_path, "/api/other"), 413, "body_too_large",
                 limit="max_pass_body")
    assert len(gw.app_requests("/api/echo")) == 1


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_one_address_cannot_take_every_connection(make_gateway, proto):
    """max_connections_per_client 4 of max_connections 64: a fifth connection from 127.0.0.1 (held ones idle, over
    any protocol) is closed at accept without an answer; a client on 127.0.0.2 still gets through, and 127.0.0.1
    gets in again once one of its connections closes."""
    def configure(cfg):
        cfg["max_connections"] = 64
        cfg["max_connections_per_client"] = 4
    gw = make_gateway(configure=configure)
    held = [held_connection(gw) for _ in range(4)]
    try:
        res = curl(gw, proto, "/api/items", timeout=10)
        assert res.status == 0 and res.rc != 0, res  # refused at accept: no HTTP answer at all
        s = connect(gw)
        s.sendall(http1_head("GET", "/api/items", gw.authority))
        assert read_until_closed(s, 5) == b""
        s.close()
        probe = curl(gw, proto, "/api/items", "--interface", "127.0.0.2", timeout=10)
        assert probe.status == 200 and probe.json()["items"], probe
        held.pop().close()
        wait_until(lambda: curl(gw, proto, "/api/items", timeout=10).status == 200, 10,
                   "127.0.0.1 to get a connection again")
    finally:
        for s in held:
            s.close()


def test_max_connections_per_client_defaults_to_an_eighth(make_gateway):
    gw = make_gateway(configure=lambda cfg: cfg.__setitem__("max_connections", 16))
    held = [held_connection(gw) for _ in range(2)]
    try:
        assert curl(gw, "h1", "/api/items", timeout=10).status == 0
        assert curl(gw, "h1", "/api/items", "--interface", "127.0.0.2", timeout=10).status == 200
    finally:
        for s in held:
            s.close()


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
