"""Client-side timeouts (config `timeouts:`) and the minimum body rate: a stalled or trickling client is cut off once
its timeout has passed - never before it - and leaves nothing behind, while steady clients on other streams or
connections are not disturbed. Covers the header timeout (also after a keep-alive request and for a connection that
never sends a request), body_idle (an idle timeout, not a deadline), keepalive, HTTP/2 streams, pass-through bodies
and `limits.min_body_rate`.
"""

from __future__ import annotations

import os
import select
import ssl
import threading
import time

import pytest

from checks import assert_clean, assert_error, assert_nothing_reached_app, find_manifest, header_map
from harness import (ERROR_PROTOS, H2Conn, HTTP1Reader, KiB, MiB, connect, curl, curl_form_args, http1_head, make_file,
                     multipart_body, multipart_content_type, read_until_closed, sha256_bytes)
from setups import H1_TLS, H2_TLS, frame, json_of_size, put_raw, readable_within


def header_1s(cfg):
    cfg["timeouts"] = {"header": "1s", "body_idle": "5s", "keepalive": "5s", "request": "1h"}


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


def body_idle_1s(cfg):
    cfg["timeouts"] = {"header": "10s", "body_idle": "1s", "keepalive": "60s", "request": "1h"}


WINDOW = 2.0  # timeouts.body_rate_window in these tests


PACE = 0.25   # how often the slow clients below send


def min_rate(cfg):
    cfg["timeouts"].update({"body_min_rate": "1KiB", "body_rate_window": f"{int(WINDOW)}s"})


KINDS = {  # what is sent slowly: an upload (stored as it comes) or a pass-through body (buffered for the app)
    "upload": ("/upload", "application/octet-stream"),
    "pass": ("/api/echo", "application/json"),
}


def h1_slow(gw, kind, body: bytes, piece: int, tls=False):
    """Send `body` in `piece`-byte pieces every PACE s (stopping once an answer comes); (seconds from the head to the
    answer, the answer)."""
    path, ctype = KINDS[kind]
    s = connect(gw, tls=tls)
    s.sendall(http1_head("PUT" if kind == "upload" else "POST", path, gw.tls_authority if tls else gw.authority,
                         [("Content-Type", ctype), ("Content-Length", str(len(body)))]))
    t0 = time.monotonic()
    for i in range(0, len(body), piece):
        if readable_within(s, PACE) or time.monotonic() > t0 + WINDOW + 5:
            break
        s.sendall(body[i:i + piece])
    s.settimeout(5)
    res = HTTP1Reader(s).read_response()
    elapsed = time.monotonic() - t0
    s.close()
    return elapsed, res


def h2_slow(gw, kind, body: bytes, piece: int, tls: bool):
    path, ctype = KINDS[kind]
    c = H2Conn(gw, tls=tls, timeout=30)
    try:
        sid = c.start("PUT" if kind == "upload" else "POST", path,
                      [("content-type", ctype), ("content-length", str(len(body)))])
        t0 = time.monotonic()
        res = c.results[sid]
        for i in range(0, len(body), piece):
            c.pump(PACE)
            if res.status or res.reset_code is not None or c.closed or time.monotonic() > t0 + WINDOW + 5:
                break
            c.send(sid, body[i:i + piece], end_stream=i + piece >= len(body))
        res = c.wait_response(sid, 5)
        return time.monotonic() - t0, res
    finally:
        c.close()


def slow(gw, proto, kind, body, piece):
    if proto == "h1":
        return h1_slow(gw, kind, body, piece)
    return h2_slow(gw, kind, body, piece, tls=proto == "h2")


# h2o 2.2.5 serves HTTP/1 with one total deadline per request (http1.req_timeout, armed once in
# lib/http1.c reqread_start, and again between requests). uploadgate's HTTP/1.1 front reads every head on
# cleartext and TLS listeners itself; a connection it hands to h2o (a non-upload request) keeps h2o's deadline.
def short_timeouts(cfg):
    cfg["timeouts"] = {"header": "1s", "body_idle": "1s", "keepalive": "1s", "request": "1h"}


def assert_cut_off_on_time(elapsed: float, timeout: float = 1.0, within: float = 3.0) -> None:
    """Cut off once the configured timeout has passed: not before it (less 0.1 s of timer granularity) - an immediate
    close is a failure, not a timeout - and not `within` s after it. Callers start the clock no later than the
    server's timer starts."""
    assert timeout - 0.1 <= elapsed < timeout + within, f"cut off after {elapsed:.2f}s; the timeout is {timeout}s"


def check_timeout_answer(got: bytes) -> None:
    """Closing silently is fine; if the server says something first it is a 408 (or 400), never a success."""
    if got:
        status = int(got.split(b" ", 2)[1])
        assert status in (400, 408), got[:300]


@pytest.mark.parametrize("tls", [False, True], ids=["h1", "h1-tls"])
def test_stalled_request_head_is_cut_off(make_gateway, tls):
    gw = make_gateway(configure=short_timeouts)
    t0 = time.monotonic()  # before the connection: the header timeout may run from the accept
    with connect(gw, tls=tls) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: applic")
        check_timeout_answer(read_until_closed(s, 6))
        assert_cut_off_on_time(time.monotonic() - t0)
    assert_clean(gw)


@pytest.mark.parametrize("kind", ["multipart", "raw"])
def test_stalled_http1_body_is_cut_off(make_gateway, kind):
    gw = make_gateway(configure=short_timeouts)
    if kind == "multipart":
        body = multipart_body([{"name": "file", "filename": "s.bin", "data": os.urandom(2 * MiB)}])
        ctype = multipart_content_type()
    else:
        body, ctype = os.urandom(2 * MiB), "application/octet-stream"
    with connect(gw) as s:
        s.sendall(http1_head("POST", "/upload", gw.authority,
                             [("Content-Type", ctype), ("Content-Length", str(len(body)))]))
        s.sendall(body[:512 * KiB])
        t0 = time.monotonic()
        check_timeout_answer(read_until_closed(s, 8))
        assert_cut_off_on_time(time.monotonic() - t0)
    assert_clean(gw)


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
def test_stalled_http2_body_is_cut_off(make_gateway, tls):
    gw = make_gateway(configure=short_timeouts)
    body = multipart_body([{"name": "file", "filename": "s.bin", "data": os.urandom(2 * MiB)}])
    c = H2Conn(gw, tls=tls, timeout=20)
    try:
        sid = c.start("POST", "/upload", [("content-type", multipart_content_type()), ("content-length", str(len(body)))])
        assert c.send(sid, body[:256 * KiB])
        t0 = time.monotonic()
        res = c.wait_response(sid, timeout=15)  # until reset, end of stream or connection closed
        assert_cut_off_on_time(time.monotonic() - t0)
        assert res.status is None or res.status in (400, 408), res
        assert res.reset_code is not None or res.goaway is not None or res.closed or res.status, res
    finally:
        c.close()
    assert_clean(gw)


def test_idle_keepalive_connection_is_closed_after_a_pass_through_request(make_gateway):
    """The front serves pass-through requests on its own connection (front/h1_pass.c), so keepalive applies after
    them too; h2o, which served such connections before, had only timeouts.request."""
    gw = make_gateway(configure=short_timeouts)
    with connect(gw) as s:
        s.sendall(http1_head("GET", "/api/items", gw.authority))
        res = HTTP1Reader(s).read_response(method="GET")
        assert res.status == 200, res
        t0 = time.monotonic()
        assert read_until_closed(s, 6) == b""
        assert_cut_off_on_time(time.monotonic() - t0)


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
        assert_cut_off_on_time(time.monotonic() - t0)


@H1_TLS
def test_stalled_pass_through_body_is_cut_off(make_gateway, tls):
    gw = make_gateway(configure=short_timeouts)
    with connect(gw, tls=tls) as s:
        t0 = time.monotonic()
        s.sendall(http1_head("POST", "/api/echo", gw.authority,
                             [("Content-Type", "application/json"), ("Content-Length", "1000")]) + b'{"a":')
        assert read_until_closed(s, 6) == b""
        assert_cut_off_on_time(time.monotonic() - t0)
    assert_nothing_reached_app(gw)


@H2_TLS
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


@H2_TLS
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


@H2_TLS
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


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
def test_http2_slowloris_cut_off_while_steady_upload_completes(make_gateway, tls):
    gw = make_gateway(configure=body_idle_1s)
    stalled_body = multipart_body([{"name": "file", "filename": "stall.bin", "data": os.urandom(2 * MiB)}])
    data = os.urandom(3 * MiB)
    steady_body = multipart_body([{"name": "file", "filename": "steady.bin", "data": data}])
    headers = [("content-type", multipart_content_type())]

    stalled = H2Conn(gw, tls=tls, timeout=20)
    steady = H2Conn(gw, tls=tls, timeout=20)
    try:
        s_sid = stalled.start("POST", "/upload", headers + [("content-length", str(len(stalled_body)))])
        assert stalled.send(s_sid, stalled_body[:256 * KiB])
        stall_start = time.monotonic()
        s_res = stalled.results[s_sid]
        cut_at = None

        def stalled_is_cut():
            return s_res.reset_code is not None or s_res.goaway is not None or stalled.closed or s_res.status

        # The steady upload sends 64 KiB every ~0.2 s (well inside body_idle) for ~3.5 s on its own connection.
        n_sid = steady.start("POST", "/upload", headers + [("content-length", str(len(steady_body)))])
        chunk = (len(steady_body) + 17) // 18
        for i in range(0, len(steady_body), chunk):
            last = i + chunk >= len(steady_body)
            assert steady.send(n_sid, steady_body[i:i + chunk], end_stream=last), \
                f"the steady upload was stopped after {i} bytes: {steady.results[n_sid]!r}"
            pace_until = time.monotonic() + 0.2  # paces the steady sender and watches the stalled connection
            while (left := pace_until - time.monotonic()) > 0:
                (steady if stalled.closed else stalled).pump(left)
                if cut_at is None and stalled_is_cut():
                    cut_at = time.monotonic() - stall_start
        steady_done = time.monotonic() - stall_start
        n_res = steady.wait_response(n_sid, 20)
        if cut_at is None:
            stalled.wait_response(s_sid, 10)
            cut_at = time.monotonic() - stall_start
    finally:
        stalled.close()
        steady.close()

    # The stalled stream was cut off after about body_idle, while the steady upload was still going.
    assert s_res.status in (None, 400, 408), s_res
    assert stalled_is_cut(), s_res
    print(f"stalled stream cut after {cut_at:.2f}s; steady upload sent in {steady_done:.2f}s")
    assert 0.8 <= cut_at < steady_done, f"stalled stream cut after {cut_at:.2f}s (steady upload took {steady_done:.2f}s)"
    assert s_res.goaway is not None or stalled.closed, f"the slow-loris connection was not closed: {s_res!r}"
    # The steady upload went through completely.
    assert n_res.status == 201, n_res
    body = n_res.json()
    assert body["files"][0]["sha256"] == sha256_bytes(data) and body["files"][0]["size"] == len(data), body
    entry, manifest = find_manifest(gw, body["id"])
    assert manifest["files"][0]["filename"] == "steady.bin"
    assert header_map(entry["headers"]).get("content-type") == ["application/json"]
    # Nothing of the stalled upload is left, and only the steady one reached the app.
    gw.wait_store_empty()
    assert [e["path"] for e in gw.app_log()] == ["/upload"], gw.app_log()


@pytest.mark.parametrize("kind", ["upload", "pass"])
@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_a_trickled_body_gets_408_after_one_window(make_gateway, proto, kind):
    """A byte every PACE s never trips body_idle (30 s here) but is far below 1 KiB/s: 408 request_timeout once the
    first window ends - not before it, and not much after - the partial upload removed, nothing sent to the app."""
    gw = make_gateway(configure=min_rate)
    elapsed, res = slow(gw, proto, kind, b"x" * 100000, 1)
    assert_error(res, 408, "request_timeout", limit="body_min_rate")
    assert WINDOW - 0.05 <= elapsed <= WINDOW + 1.5, elapsed
    gw.wait_store_empty()
    assert_nothing_reached_app(gw)


@pytest.mark.parametrize("kind", ["upload", "pass"])
@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_a_slow_body_above_the_minimum_rate_succeeds(make_gateway, proto, kind):
    """512 bytes every PACE s (~2 KiB/s, twice the minimum) for about two windows: served as usual."""
    gw = make_gateway(configure=min_rate)
    body = json_of_size(8 * KiB) if kind == "pass" else os.urandom(8 * KiB)
    elapsed, res = slow(gw, proto, kind, body, 512)
    assert elapsed >= 2 * WINDOW - 2 * PACE, elapsed  # it did span several windows
    if kind == "pass":
        assert res.status == 200 and len(res.json()["json"]["pad"]) == 8 * KiB - 10, res
    else:
        assert res.status == 201, res
