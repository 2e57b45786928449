"""uploadgate's own HTTP/1.1 front (src/front_http1.c) on cleartext and TLS (ALPN http/1.1) listeners.

Upload requests are decided at header time (gate, method, declared size, free space) before a body byte is read,
bodies stream into the pipeline with limits enforced as they pass, and the connection's own timeouts apply
(header, body_idle, keepalive). Other requests run h2o's pipeline on the same connection (test_front_pass.py);
only odd heads hand the connection to h2o with the bytes already read.
Everything here talks raw HTTP/1.1 over a socket so that the order of bytes on the wire can be asserted.
"""

from __future__ import annotations

import json
import os
import select
import threading
import time

import pytest

from checks import assert_clean, assert_error, assert_nothing_reached_app, find_manifest, header_map
from harness import (KiB, MiB, HTTP1Reader, chunked, connect, read_until_closed, curl, curl_form_args, http1_head, make_file,
                     multipart_body, multipart_content_type, sha256_bytes)

TOKEN = "front-test-token-0123456789"


def short_timeouts(cfg):
    cfg["timeouts"] = {"header": "1s", "body_idle": "1s", "keepalive": "1s", "request": "1h"}


def with_auth_route(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKEN + "\n")

    def configure(cfg):
        cfg["routes"].insert(0, {"path": "/private", "methods": ["POST", "PUT"], "forward_to": "/upload",
                                 "limits": {"max_body": "2GiB", "max_file": "2GiB"},
                                 "auth": {"tokens_file": str(tokens)}})
    return configure


def readable_within(sock, seconds: float) -> bool:
    r, _, _ = select.select([sock], [], [], seconds)
    return bool(r)


def put_raw(gw, path, data: bytes, extra=()) -> bytes:
    return http1_head("PUT", path, gw.authority,
                      [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data))), *extra]) + data


# -- refusals at header time ------------------------------------------------------------------------------

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


def test_declared_body_over_max_body_is_refused_before_reading(gateway):
    with connect(gateway) as s:
        s.sendall(http1_head("PUT", "/limited", gateway.authority,
                             [("Content-Type", "application/octet-stream"), ("Content-Length", str(5 * MiB))]))
        assert readable_within(s, 5), "no 413 before the body"
        res = HTTP1Reader(s).read_response()
        assert read_until_closed(s, 10) == b""
    assert_error(res, 413, "body_too_large", limit="max_body")
    assert res.header("connection") == "close"
    assert_clean(gateway)


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


def test_chunked_body_crossing_max_body_is_refused_while_sending(make_gateway):
    """Without Content-Length max_body can only be checked as decoded bytes pass: the 413 comes once 4 MiB have been
    read, with 2 MiB of the body still unsent. (On /limited a raw body is one file and max_file, 1 MiB, comes first.)"""
    def capped(cfg):
        cfg["routes"].append({"path": "/capped", "methods": ["PUT"], "forward_to": "/upload",
                              "limits": {"max_body": "4MiB", "max_file": "4MiB"}})

    gw = make_gateway(configure=capped)
    body = chunked(os.urandom(6 * MiB), chunk=100 * KiB)
    with connect(gw) as s:
        s.sendall(http1_head("PUT", "/capped", gw.authority, [("Content-Type", "application/octet-stream"),
                                                              ("Transfer-Encoding", "chunked")]))
        s.sendall(body[:5 * MiB])
        assert readable_within(s, 10), "no 413 while the rest of the body is still unsent"
        res = HTTP1Reader(s).read_response()
    assert_error(res, 413, "body_too_large", limit="max_body")
    assert res.header("connection") == "close"
    assert_clean(gw)


@pytest.mark.parametrize("headers,why", [
    ([("Content-Length", "5"), ("Transfer-Encoding", "chunked")], "both"),
    ([("Transfer-Encoding", "gzip, chunked")], "coding"),
    ([("Content-Length", "5"), ("Content-Length", "6")], "conflict"),
    ([("Content-Length", "-1")], "invalid"),
])
def test_invalid_framing_is_refused(gateway, headers, why):
    with connect(gateway) as s:
        s.sendall(http1_head("PUT", "/upload", gateway.authority,
                             [("Content-Type", "application/octet-stream"), *headers]) + b"hello")
        res = HTTP1Reader(s).read_response()
        assert read_until_closed(s, 10) == b""
    assert_error(res, 400, "bad_request")
    assert_clean(gateway)


def test_upload_asking_for_h2c_upgrade_is_served_here_as_http1(gateway):
    """curl --http2 on http:// asks every first request, uploads included, to upgrade to h2c. The front serves such an
    upload itself as HTTP/1.1, the upgrade ignored (RFC 9110 7.8), instead of leaving it to h2o, which would read the
    whole body into its buffer before switching: the answer is 201 on HTTP/1.1, not 101."""
    data = os.urandom(2 * MiB)
    body = multipart_body([{"name": "file", "filename": "u.bin", "data": data}])
    with connect(gateway) as s:
        s.sendall(http1_head("POST", "/upload", gateway.authority,
                             [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                              ("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"), ("Content-Type", multipart_content_type()),
                              ("Content-Length", str(len(body)))]) + body)
        res = HTTP1Reader(s).read_response()
    assert res.status == 201, res
    _, m = find_manifest(gateway, res.json()["id"])
    assert m["client"]["protocol"] == "HTTP/1.1"
    assert m["files"][0]["sha256"] == sha256_bytes(data)
    # hop-by-hop fields of the upgrade request are not passed on to the app
    headers = set(header_map(gateway.app_log()[-1]["headers"]))
    assert not headers & {"upgrade", "http2-settings", "connection"}, headers


def test_http10_upload(gateway):
    data = os.urandom(100 * KiB)
    with connect(gateway) as s:
        s.sendall(b"PUT /upload?v=10 HTTP/1.0\r\nHost: " + gateway.authority.encode()
                  + b"\r\nContent-Type: application/octet-stream\r\nContent-Length: " + str(len(data)).encode()
                  + b"\r\n\r\n" + data)
        res = HTTP1Reader(s).read_response()
        assert read_until_closed(s, 10) == b""  # HTTP/1.0 without keep-alive: one exchange
    assert res.status == 201 and res.header("connection") == "close", res
    _, m = find_manifest(gateway, res.json()["id"])
    assert m["client"]["protocol"] == "HTTP/1.0" and m["files"][0]["sha256"] == sha256_bytes(data)


def test_oversized_head_gets_431(gateway):
    for method, path in (("POST", "/upload"), ("GET", "/api/items")):
        with connect(gateway) as s:
            s.sendall(http1_head(method, path, gateway.authority, [("X-Big", "a" * (20 * KiB))]))
            res = HTTP1Reader(s).read_response()
            assert read_until_closed(s, 10) == b""
        assert_error(res, 431, "header_too_large")
    assert_clean(gateway)


# -- bodies -------------------------------------------------------------------------------------------------

def test_chunked_body_with_trailer_then_pipelined_request(gateway):
    data = os.urandom(1 * MiB + 333)
    body = chunked(data, chunk=77 * KiB)[:-2] + b"X-Checksum: none\r\n\r\n"  # a trailer section
    with connect(gateway) as s:
        s.sendall(http1_head("PUT", "/upload?c=1", gateway.authority,
                             [("Content-Type", "application/octet-stream"), ("Transfer-Encoding", "chunked")])
                  + body + put_raw(gateway, "/upload?c=2", b"second"))
        reader = HTTP1Reader(s)
        r1, r2 = reader.read_response(), reader.read_response()
    assert r1.status == 201 and r2.status == 201, (r1, r2)
    _, m1 = find_manifest(gateway, r1.json()["id"])
    _, m2 = find_manifest(gateway, r2.json()["id"])
    assert m1["files"][0]["size"] == len(data) and m1["files"][0]["sha256"] == sha256_bytes(data)
    assert m2["path"] == "/upload?c=2" and m2["files"][0]["sha256"] == sha256_bytes(b"second")


def test_body_sent_without_waiting_for_100_continue(gateway):
    """Clients may send the body right after an Expect head (RFC 9110 10.1.1); those bytes are not lost."""
    data = os.urandom(200 * KiB)
    with connect(gateway) as s:
        s.sendall(put_raw(gateway, "/upload", data, [("Expect", "100-continue")]))
        res = HTTP1Reader(s).read_response()  # skips the 100
    assert res.status == 201, res
    _, m = find_manifest(gateway, res.json()["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data)


# -- keep-alive and pipelining ------------------------------------------------------------------------------

@pytest.mark.parametrize("tls", [False, True], ids=["h1", "h1-tls"])
def test_pipelined_upload_get_upload_on_one_connection(gateway, tls):
    """All three requests written at once: the second runs h2o's pipeline with the third still buffered behind it;
    three responses come back in order and no byte is lost."""
    d1, d3 = os.urandom(400 * KiB), os.urandom(600 * KiB)
    with connect(gateway, tls=tls) as s:
        s.sendall(put_raw(gateway, "/upload?n=1", d1) + http1_head("GET", "/api/items", gateway.authority)
                  + put_raw(gateway, "/upload?n=3", d3))
        reader = HTTP1Reader(s)
        r1 = reader.read_response()
        r2 = reader.read_response(method="GET")
        r3 = reader.read_response()
    assert r1.status == 201 and r3.status == 201, (r1, r3)
    assert r2.status == 200 and r2.body.startswith(b'{"items"'), r2
    for res, data, n in ((r1, d1, 1), (r3, d3, 3)):
        _, m = find_manifest(gateway, res.json()["id"])
        assert m["path"] == f"/upload?n={n}" and m["files"][0]["sha256"] == sha256_bytes(data)
    assert [e["path"] for e in gateway.app_log()] == ["/upload?n=1", "/api/items", "/upload?n=3"]
    gateway.wait_store_empty(5)


def test_pipelined_uploads_all_served_by_the_front(gateway):
    datas = [os.urandom(n) for n in (10, 256 * KiB, 1)]
    with connect(gateway) as s:
        s.sendall(b"".join(put_raw(gateway, f"/upload?n={i}", d) for i, d in enumerate(datas)))
        reader = HTTP1Reader(s)
        results = [reader.read_response() for _ in datas]
    for i, (res, d) in enumerate(zip(results, datas)):
        assert res.status == 201 and res.header("connection") == "keep-alive", res
        _, m = find_manifest(gateway, res.json()["id"])
        assert m["path"] == f"/upload?n={i}" and m["files"][0]["sha256"] == sha256_bytes(d)


def test_connection_close_is_honoured(gateway):
    with connect(gateway) as s:
        s.sendall(put_raw(gateway, "/upload", b"abc", [("Connection", "close")]))
        res = HTTP1Reader(s).read_response()
        assert read_until_closed(s, 10) == b""
    assert res.status == 201 and res.header("connection") == "close", res


# -- timeouts -----------------------------------------------------------------------------------------------

def test_slow_loris_head_is_cut_off_while_an_upload_completes(make_gateway, tmp_path):
    gw = make_gateway(configure=short_timeouts)
    head = http1_head("POST", "/upload", gw.authority, [("Content-Type", "application/octet-stream"),
                                                        ("X-Padding", "p" * 200), ("Content-Length", "10")])
    outcome = {}

    def loris():
        with connect(gw) as s:
            t0 = time.monotonic()
            try:
                for b in head:  # one byte every 50 ms: 12+ s for the whole head, far over header: 1s
                    s.sendall(bytes([b]))
                    if readable_within(s, 0.05):
                        break
                outcome["got"] = read_until_closed(s, 5)
            except (BrokenPipeError, ConnectionResetError):
                outcome["got"] = b""
            outcome["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=loris)
    t.start()
    f = make_file(tmp_path / "data", "ok.bin", 2 * MiB)
    res = curl(gw, "h1", "/upload", *curl_form_args([("file", f, "ok.bin", None)]))
    t.join(30)
    assert res.status == 201, res
    assert outcome.get("got") == b"", outcome  # closed without a word
    assert 0.9 <= outcome["elapsed"] < 5, outcome
    _, m = find_manifest(gw, res.json()["id"])
    assert m["files"][0]["sha256"] == f.sha256


def test_body_idle_timeout_aborts_the_upload(make_gateway):
    gw = make_gateway(configure=short_timeouts)
    data = os.urandom(2 * MiB)
    with connect(gw) as s:
        s.sendall(put_raw(gw, "/upload", data)[:-(1 * MiB)])
        t0 = time.monotonic()
        assert read_until_closed(s, 8) == b""
        elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed < 5, elapsed
    assert_clean(gw)


def test_body_idle_is_an_idle_timeout_not_a_deadline(make_gateway):
    """A body trickling in for 3 s with pauses of 0.3 s is never idle for body_idle (1 s): it completes."""
    gw = make_gateway(configure=short_timeouts)
    data = os.urandom(100 * KiB)
    with connect(gw) as s:
        s.sendall(http1_head("PUT", "/upload", gw.authority, [("Content-Type", "application/octet-stream"),
                                                             ("Content-Length", str(len(data)))]))
        for i in range(10):
            s.sendall(data[i * 10 * KiB:(i + 1) * 10 * KiB])
            time.sleep(0.3)
        res = HTTP1Reader(s).read_response()
    assert res.status == 201, res
    _, m = find_manifest(gw, res.json()["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data)


def test_keepalive_idle_timeout_closes_the_connection(make_gateway):
    gw = make_gateway(configure=short_timeouts)
    with connect(gw) as s:
        reader = HTTP1Reader(s)
        s.sendall(put_raw(gw, "/upload", b"one"))
        assert reader.read_response().status == 201
        time.sleep(0.5)  # under keepalive: the connection is still usable
        s.sendall(put_raw(gw, "/upload", b"two"))
        assert reader.read_response().status == 201
        t0 = time.monotonic()
        assert read_until_closed(s, 6) == b""
        elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed < 4, elapsed
    gw.wait_store_empty(5)


def test_stalled_head_after_keepalive_is_cut_off_by_header_timeout(make_gateway):
    gw = make_gateway(configure=short_timeouts)
    with connect(gw) as s:
        s.sendall(put_raw(gw, "/upload", b"one"))
        assert HTTP1Reader(s).read_response().status == 201
        s.sendall(b"PUT /upload HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        assert read_until_closed(s, 6) == b""
        assert time.monotonic() - t0 < 4


# -- h2o's pipeline ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("proto", ["h1", "h2c", "h2"])
@pytest.mark.parametrize("path", ["/%75pload", "/%75p%6c%6Fad"])
def test_paths_h2o_normalises_are_served_under_the_route_they_normalise_to(gateway, path, proto):
    """h2o routes these as /upload (h2o_url_normalize_path), so the fronts do too; the manifest keeps the path sent.
    (Dot segments are refused: test_paths.py.)"""
    res = curl(gateway, proto, path, "--path-as-is", "-X", "PUT", "--data-binary", "hello",
               "-H", "Content-Type: application/octet-stream")
    assert res.status == 201, res
    _, m = find_manifest(gateway, res.json()["id"])
    assert m["route"] == "/upload" and m["files"][0]["sha256"] == sha256_bytes(b"hello")
    assert m["path"] == path, m
    assert len(res.headers.get("date", [])) == 1 and res.headers.get("server", [""])[0].startswith("uploadgate/"), res


@pytest.mark.parametrize("path", ["/%6cimited", "/l%69mited"])
def test_a_path_h2o_normalises_is_streamed_by_the_front(gateway, path):
    """The front, not h2o's buffered path, serves them: a declared body over /limited's max_body (4 MiB) gets its 413
    at the head, Expect: 100-continue unanswered. h2o's path (before) sent 100 Continue and waited for the whole body,
    which it would have buffered and then processed in one go on the event loop."""
    with connect(gateway) as s:
        s.sendall(http1_head("PUT", path, gateway.authority,
                             [("Content-Type", "application/octet-stream"), ("Content-Length", str(5 * MiB)),
                              ("Expect", "100-continue")]))
        assert readable_within(s, 5), "no answer to the head"
        raw = read_until_closed(s, 10)
    assert b"100 Continue" not in raw, raw[:300]
    assert raw.startswith(b"HTTP/1.1 413 "), raw[:300]
    assert json.loads(raw.partition(b"\r\n\r\n")[2])["error"]["code"] == "body_too_large", raw[:400]
    assert_nothing_reached_app(gateway)
    assert_clean(gateway)


def test_method_not_allowed_comes_from_h2os_pipeline(gateway):
    with connect(gateway) as s:
        s.sendall(http1_head("GET", "/upload", gateway.authority) + http1_head("GET", "/api/items", gateway.authority))
        reader = HTTP1Reader(s)
        r1, r2 = reader.read_response(method="GET"), reader.read_response(method="GET")
    assert_error(r1, 405, "method_not_allowed")
    assert r2.status == 200, r2
    assert_nothing_reached_app(gateway, exclude_paths=["/api/items"])


# -- shutdown -----------------------------------------------------------------------------------------------

def test_shutdown_finishes_the_upload_in_flight_and_closes_idle_connections(make_gateway, monkeypatch):
    """SIGTERM: an upload whose body is still arriving completes (its answer says Connection: close), a connection
    idle between requests is closed within a couple of seconds, and the process exits without waiting for it."""
    # The process exits within this test. uploadgate leaves its h2o contexts to the OS at exit (server.c), which the
    # leak check of an ASan build would report as an unhealthy exit; leaks are not what this test is about.
    options = [o for o in os.environ.get("ASAN_OPTIONS", "").split(":") if o]
    monkeypatch.setenv("ASAN_OPTIONS", ":".join(options + ["detect_leaks=0"]))
    gateway = make_gateway()
    data = os.urandom(1 * MiB)
    idle = connect(gateway)
    busy = connect(gateway)
    try:
        idle.sendall(put_raw(gateway, "/upload?idle", b"x"))
        assert HTTP1Reader(idle).read_response().status == 201
        request = put_raw(gateway, "/upload?busy", data)
        busy.sendall(request[:len(request) // 2])
        gateway.proc.terminate()  # SIGTERM, marked as ours
        t0 = time.monotonic()
        assert read_until_closed(idle, 5) == b""  # the idle keep-alive connection goes
        assert time.monotonic() - t0 < 3
        busy.sendall(request[len(request) // 2:])
        res = HTTP1Reader(busy).read_response()
        assert res.status == 201 and res.header("connection") == "close", res
        _, m = find_manifest(gateway, res.json()["id"])
        assert m["files"][0]["sha256"] == sha256_bytes(data)
    finally:
        idle.close()
        busy.close()
    gateway.proc.popen.wait(10)
    assert gateway.proc.returncode == 0
