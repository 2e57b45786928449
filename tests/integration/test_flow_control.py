"""HTTP/2 flow control: a download larger than the client's windows streams as the client opens them, and a client
that never opens its windows can pin little memory, for a bounded time. Pass-through responses (h2o's reverse proxy)
are read from the backend only as fast as the client takes them: a stream holds at most one backend read, a
connection about UG_H2_PASS_CONN_HELD, and a stream that holds bytes and makes no progress for timeouts.body_idle is
reset (CANCEL), cancelling its backend request.
"""

from __future__ import annotations

import hashlib
import time

from harness import H2Conn, MiB
from setups import H2_TLS, pattern


BODY_IDLE = 2.0


def body_idle(cfg):
    cfg["timeouts"] = {"header": "10s", "body_idle": f"{int(BODY_IDLE)}s", "keepalive": "60s", "request": "1h"}


def proc_status_kib(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def write_pattern_file(path, size: int) -> str:
    """A file of `size` bytes (a repeated 1 MiB pattern); returns its sha256."""
    chunk = bytes(range(256)) * 4096
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            piece = chunk[:min(left, len(chunk))]
            f.write(piece)
            h.update(piece)
            left -= len(piece)
    return h.hexdigest()


@H2_TLS
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
    assert hashlib.sha256(res.body).digest() == hashlib.sha256(pattern(n)).digest()


@H2_TLS
def test_zero_window_streams_hold_no_response_bodies_and_are_reset_after_body_idle(make_gateway, make_static_site,
                                                                                    tmp_path, tls):
    """Four streams for 100 MiB pass-through responses from a client whose SETTINGS_INITIAL_WINDOW_SIZE is 0: the
    backend is not read past what the streams hold (uploadgate's peak RSS stays far below the 400 MiB), each stream
    is reset (CANCEL) once it has made no progress for body_idle - not before - and a client with a normal window
    meanwhile gets a response byte-exact."""
    import h2.settings

    site_dir = tmp_path / "site"
    site_dir.mkdir()
    write_pattern_file(site_dir / "big.bin", 100 * MiB)
    small_sha = write_pattern_file(site_dir / "small.bin", 4 * MiB + 5)
    site = make_static_site(site_dir)
    gw = make_gateway(app=False, backend_url=site.origin, configure=body_idle)

    stalled = H2Conn(gw, tls=tls, timeout=30, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    try:
        sent_at = time.monotonic()
        sids = [stalled.start("GET", "/big.bin", end_stream=True) for _ in range(4)]

        # Polled until every stream is over or the deadline passes; the checks below say which bound broke.
        deadline = sent_at + BODY_IDLE + 15
        while not (stalled.closed or all(stalled.results[s].reset_code is not None or stalled.results[s].ended
                                         for s in sids)) and time.monotonic() < deadline:
            stalled.pump(0.05)
        done_at = time.monotonic()
        results = [stalled.results[s] for s in sids]
    finally:
        stalled.close()
    peak_mib = proc_status_kib(gw.proc.pid, "VmHWM") / 1024
    # The bound held is one backend read per stream and 4 MiB per connection; unbounded, one stream alone pins ~80 MiB
    # in these 2 s.
    assert peak_mib < 40, f"uploadgate's peak RSS {peak_mib:.0f} MiB: the responses were buffered"
    for r in results:
        # RST_STREAM(CANCEL); the connection's last stream may instead go with the connection (GOAWAY, NO_ERROR)
        assert r.status == 200 and not r.ended and (r.reset_code == 8 or (r.goaway == 0 and r.closed)), r
        assert len(r.body) == 0
    assert sum(r.reset_code == 8 for r in results) >= len(results) - 1, results
    elapsed = done_at - sent_at
    assert BODY_IDLE - 0.1 <= elapsed <= BODY_IDLE + 10, f"reset after {elapsed:.2f}s, body_idle is {BODY_IDLE}s"

    normal = H2Conn(gw, tls=tls, timeout=60)
    try:
        res = normal.wait_response(normal.start("GET", "/small.bin", end_stream=True))
    finally:
        normal.close()
    assert res.status == 200 and res.ended, res
    assert len(res.body) == 4 * MiB + 5
    assert hashlib.sha256(res.body).hexdigest() == small_sha
