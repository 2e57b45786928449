"""uploadgate's own HTTP/2 front (src/front_h2.c): upload streams fed as their DATA frames arrive, every other stream
served by h2o's pipeline on the same connection, interim 100 responses, 431 for an oversized head, downloads under
flow control, and a graceful GOAWAY at shutdown."""

from __future__ import annotations

import hashlib
import os
import select
import ssl
import time

import pytest

from checks import assert_clean, assert_error, assert_nothing_reached_app, find_manifest
from harness import H2Conn, KiB, MiB, multipart_body, multipart_content_type, sha256_bytes, tcp_accepts, wait_until

ITEMS_BODY = b'{"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}]}'
TLS = pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])


def pattern_bytes(n: int) -> bytes:
    """What the example app's GET /api/bytes/{n} sends."""
    p = bytes(range(256)) * 4096
    return (p * (n // len(p) + 1))[:n]


@TLS
def test_interleaved_uploads_and_a_passthrough_request_on_one_connection(gateway, tls):
    datas = [os.urandom(n) for n in (3 * MiB + 17, 1 * MiB, 2 * MiB + 5)]
    bodies = [multipart_body([{"name": "title", "data": f"t{i}".encode()},
                              {"name": "file", "filename": f"f{i}.bin", "data": d}]) for i, d in enumerate(datas)]
    c = H2Conn(gateway, tls=tls, timeout=30)
    try:
        sids = [c.start("POST", f"/upload?n={i}", [("content-type", multipart_content_type()),
                                                     ("content-length", str(len(b)))]) for i, b in enumerate(bodies)]
        # A pass-through request between the uploads' heads and their bodies: h2o answers it while they stream.
        get = c.start("GET", "/api/items", end_stream=True)
        got = c.wait_response(get)
        assert got.status == 200 and got.body == ITEMS_BODY, got
        # DATA frames of the three streams interleaved, 64 KiB at a time.
        offsets = [0, 0, 0]
        while any(o < len(b) for o, b in zip(offsets, bodies)):
            for i, (sid, b) in enumerate(zip(sids, bodies)):
                if offsets[i] < len(b):
                    piece = b[offsets[i]:offsets[i] + 64 * KiB]
                    offsets[i] += len(piece)
                    assert c.send(sid, piece, end_stream=offsets[i] == len(b)), c.results[sid]
        results = [c.wait_response(sid) for sid in sids]
    finally:
        c.close()
    for i, (r, d) in enumerate(zip(results, datas)):
        assert r.status == 201 and r.ended, r
        _, m = find_manifest(gateway, r.json()["id"])
        assert m["path"] == f"/upload?n={i}"
        assert m["client"]["protocol"] == "HTTP/2"
        assert [(f["name"], f["value"]) for f in m["fields"]] == [("title", f"t{i}")]
        assert [(f["filename"], f["size"], f["sha256"]) for f in m["files"]] == [(f"f{i}.bin", len(d), sha256_bytes(d))]


@TLS
def test_download_streams_through_flow_control(gateway, tls):
    """8 MiB from the app through h2o's proxy to an HTTP/2 client that acknowledges as it reads (the client's window is
    64 KiB at first): every byte arrives, in order, and the response says how many."""
    n = 8 * MiB + 3
    c = H2Conn(gateway, tls=tls, timeout=30)
    try:
        sid = c.start("GET", f"/api/bytes/{n}", end_stream=True)
        res = c.wait_response(sid)
    finally:
        c.close()
    assert res.status == 200 and res.ended, res
    assert res.header("content-length") == str(n)
    assert res.header("x-example-app") == "bytes"
    assert len(res.body) == n
    assert hashlib.sha256(res.body).digest() == hashlib.sha256(pattern_bytes(n)).digest()


@TLS
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


@TLS
def test_a_path_h2o_normalises_is_streamed_by_the_front(gateway, tls):
    """/%6cimited is /limited (max_body 4 MiB) for h2o, so for the front too: a declared 5 MiB gets 413 at HEADERS,
    before any DATA (h2o's buffered path would have waited for the whole body)."""
    c = H2Conn(gateway, tls=tls, timeout=20)
    try:
        sid = c.start("PUT", "/%6cimited", [("content-type", "application/octet-stream"), ("content-length", str(5 * MiB))])
        res = c.wait_response(sid, timeout=5)
        assert res.sent == 0, res
    finally:
        c.close()
    assert_error(res, 413, "body_too_large", limit="max_body")
    assert_nothing_reached_app(gateway)
    assert_clean(gateway)


def small_max_header_size(cfg):
    cfg["max_header_size"] = "4KiB"


@TLS
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


def small_pass_limit(cfg):
    """Pass-through bodies up to 2 MiB (max_pass_body)."""
    cfg["max_pass_body"] = "2MiB"


@TLS
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


@TLS
def test_shutdown_sends_goaway_and_finishes_the_upload_in_flight(make_gateway, monkeypatch, tls):
    # The process exits within this test; see test_front.py's shutdown test for why leaks are not checked here.
    options = [o for o in os.environ.get("ASAN_OPTIONS", "").split(":") if o]
    monkeypatch.setenv("ASAN_OPTIONS", ":".join(options + ["detect_leaks=0"]))
    gw = make_gateway()
    data = os.urandom(2 * MiB)
    body = multipart_body([{"name": "file", "filename": "s.bin", "data": data}])
    c = H2Conn(gw, tls=tls, timeout=20)
    try:
        sid = c.start("POST", "/upload", [("content-type", multipart_content_type()), ("content-length", str(len(body)))])
        half = len(body) // 2
        assert c.send(sid, body[:half]), c.results[sid]
        gw.proc.terminate()  # SIGTERM, marked as ours
        wait_until(lambda: not tcp_accepts("127.0.0.1", gw.port), 5, "the listeners to close")
        # The rest goes out without reading first: the h2 library stops sending once it has seen a GOAWAY, which the
        # server may send at any moment now. The windows opened for the first half leave room for the second.
        rest = body[half:]
        for i in range(0, len(rest), 16 * KiB):
            c.conn.send_data(sid, rest[i:i + 16 * KiB], end_stream=i + 16 * KiB >= len(rest))
        c.flush()
        res = c.wait_response(sid)
        assert res.status == 201 and res.ended, res
        while res.goaway is None and not c.closed:
            c.pump(0.2)
        assert res.goaway == 0, res  # GOAWAY(NO_ERROR), then the server closes the connection
        _, m = find_manifest(gw, res.json()["id"])
        assert m["files"][0]["sha256"] == sha256_bytes(data)
    finally:
        c.close()
    gw.proc.popen.wait(10)
    assert gw.proc.returncode == 0


def header_1s(cfg):
    cfg["timeouts"] = {"header": "1s", "body_idle": "5s", "keepalive": "5s", "request": "1h"}


def frame(ftype: int, flags: int, sid: int, payload: bytes) -> bytes:
    """One HTTP/2 frame (RFC 9113 4.1), for the frames the h2 library will not send half-way."""
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


def seconds_until_closed(c: H2Conn, frames, every: float, limit: float = 6.0) -> float:
    """Send `frames` one by one, `every` s apart, reading (and dropping) what the server sends; the time from the
    first frame until the server closes the connection."""
    t0 = time.monotonic()
    frames = iter(frames)
    next_send = t0
    while time.monotonic() - t0 < limit:
        if time.monotonic() >= next_send:
            f = next(frames, None)
            if f is not None:
                try:
                    c.sock.sendall(f)
                except OSError:
                    return time.monotonic() - t0
            next_send += every
        if (isinstance(c.sock, ssl.SSLSocket) and c.sock.pending()) or select.select([c.sock], [], [], 0.02)[0]:
            try:
                if c.sock.recv(65536) == b"":
                    return time.monotonic() - t0
            except (ConnectionResetError, ssl.SSLError):
                return time.monotonic() - t0
    raise AssertionError(f"the connection was still open after {limit}s")


@TLS
def test_trickled_request_head_is_cut_off_after_the_header_timeout(make_gateway, tls):
    """HEADERS without END_HEADERS, then a CONTINUATION every 0.4 s: each frame is a read (body_idle is 5 s), but the
    head must be complete within timeouts.header (1 s) of its first frame, as on the HTTP/1.1 front. (Seven
    CONTINUATIONs at most: nghttp2 drops a connection at the ninth frame of a header block, CVE-2024-28182.)"""
    import hpack

    gw = make_gateway(configure=header_1s)
    c = H2Conn(gw, tls=tls, timeout=10)
    try:
        block = hpack.Encoder().encode([(":method", "POST"), (":scheme", c.scheme), (":authority", c.authority),
                                        (":path", "/upload"), ("content-type", multipart_content_type()),
                                        ("x-pad", os.urandom(200).hex())])
        n = len(block) // 9
        pieces = [block[i * n:(i + 1) * n] for i in range(8)]  # the last ninth (and END_HEADERS) never goes
        took = seconds_until_closed(c, [frame(0x1, 0, 1, pieces[0])] + [frame(0x9, 0, 1, p) for p in pieces[1:]], 0.4)
    finally:
        c.close()
    assert 0.8 < took < 2.5, f"closed after {took:.2f}s"
    assert_nothing_reached_app(gw)


@TLS
def test_connection_without_a_request_is_closed_after_the_header_timeout(make_gateway, tls):
    """The preface and SETTINGS, then only PINGs (each answered): the connection makes no request and is closed after
    timeouts.header, however often the client speaks."""
    gw = make_gateway(configure=header_1s)
    c = H2Conn(gw, tls=tls, timeout=10)
    try:
        took = seconds_until_closed(c, [frame(0x6, 0, 0, i.to_bytes(8, "big")) for i in range(40)], 0.2)
    finally:
        c.close()
    assert 0.8 < took < 2.5, f"closed after {took:.2f}s"
    assert_nothing_reached_app(gw)


def body_idle_1s(cfg):
    cfg["timeouts"] = {"header": "10s", "body_idle": "1s", "keepalive": "60s", "request": "1h"}


@TLS
def test_a_stalled_stream_is_reset_while_a_steady_one_on_the_same_connection_completes(make_gateway, tls):
    """body_idle is per stream: one upload stalls after 256 KiB while another on the same connection sends 200 KiB
    every 0.2 s for 3.6 s. The stalled one is reset (CANCEL, no answer, nothing kept, nothing sent to the app); the
    steady one is stored."""
    gw = make_gateway(configure=body_idle_1s)
    stalled_body = multipart_body([{"name": "file", "filename": "stall.bin", "data": os.urandom(2 * MiB)}])
    data = os.urandom(3 * MiB)
    steady_body = multipart_body([{"name": "file", "filename": "steady.bin", "data": data}])
    headers = [("content-type", multipart_content_type())]
    c = H2Conn(gw, tls=tls, timeout=20)
    try:
        a = c.start("POST", "/upload?stalled", headers + [("content-length", str(len(stalled_body)))])
        assert c.send(a, stalled_body[:256 * KiB]), c.results[a]
        b = c.start("POST", "/upload?steady", headers + [("content-length", str(len(steady_body)))])
        chunk = (len(steady_body) + 17) // 18
        for i in range(0, len(steady_body), chunk):
            assert c.send(b, steady_body[i:i + chunk], end_stream=i + chunk >= len(steady_body)), c.results[b]
            pace = time.monotonic() + 0.2
            while (left := pace - time.monotonic()) > 0:
                c.pump(left)
        steady = c.wait_response(b)
        stalled = c.results[a]
    finally:
        c.close()
    assert stalled.reset_code == 8 and stalled.status is None, stalled
    assert steady.status == 201 and steady.ended, steady
    _, m = find_manifest(gw, steady.json()["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data)
    assert [e["path"] for e in gw.app_log()] == ["/upload?steady"]
    assert_clean(gw, exclude_paths=["/upload"])
