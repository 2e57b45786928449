"""Limits and start-up checks that protect the edge: TLS 1.2 suites, a port another process holds, the
pass-through body limit, uploadgate's own JSON for a pass-through the app cannot answer, the per-client share of
connections and the minimum body rate."""

from __future__ import annotations

import json
import os
import select
import socket
import ssl
import subprocess
import time

import pytest

from checks import assert_error, assert_nothing_reached_app
from harness import (ERROR_PROTOS, H2Conn, HTTP1Reader, KiB, MiB, Proc, binary_path, connect, curl, free_port, http1_head, read_until_closed,
                     to_yaml, wait_until)


def s_client(port: int, *args: str):
    """One TLS 1.2 handshake with openssl s_client; (completed, output)."""
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", "-tls1_2",
                        *args], input=b"", capture_output=True, timeout=30)
    out = (p.stdout + p.stderr).decode(errors="replace")
    return p.returncode == 0 and "Cipher is (NONE)" not in out and "New, TLSv1.2, Cipher is" in out, out


# -- TLS 1.2 suites -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cipher", ["AES128-SHA", "AES256-SHA256", "AES128-GCM-SHA256"])
def test_tls12_refuses_suites_without_forward_secrecy(gateway, cipher):
    ok, out = s_client(gateway.tls_port, "-cipher", cipher)
    assert not ok and "Cipher is (NONE)" in out, out


@pytest.mark.parametrize("cipher", ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                                    "ECDHE-RSA-CHACHA20-POLY1305"])
def test_tls12_accepts_ecdhe_aead_suites(gateway, cipher):
    ok, out = s_client(gateway.tls_port, "-cipher", cipher)
    assert ok and f"Cipher is {cipher}" in out, out


def test_tls_ciphers_override_per_listener(make_gateway):
    def configure(cfg):
        cfg["listen"][1]["tls"]["ciphers"] = "ECDHE-RSA-AES256-GCM-SHA384"
    gw = make_gateway(configure=configure)
    ok, out = s_client(gw.tls_port, "-cipher", "ECDHE-RSA-AES256-GCM-SHA384")
    assert ok, out
    ok, out = s_client(gw.tls_port, "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
    assert not ok, out


def test_tls_ciphers_that_select_nothing_stop_start_up(make_gateway):
    gw = make_gateway(start=False, configure=lambda cfg: cfg["listen"][1]["tls"].__setitem__("ciphers", "NO-SUCH-SUITE"))
    status, lines = run_to_exit(gw.config, gw.workdir / "bad-ciphers")
    assert status == 1, lines
    assert any(e.get("level") == "error" and gw.tls_authority in e["msg"] and "cipher" in e["msg"] for e in lines), lines


# -- an address another process holds -----------------------------------------------------------------------

def run_to_exit(cfg: dict, workdir, timeout: float = 15.0):
    """Start an uploadgate with `cfg` that is expected to exit on its own; (status, its log lines as JSON)."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "uploadgate.yaml"
    path.write_text(to_yaml(cfg))
    proc = Proc([str(binary_path()), "-c", str(path)], workdir / "uploadgate.log")
    try:
        wait_until(lambda: not proc.alive(), timeout, "uploadgate to exit")
    finally:
        status = proc.stop()
    lines = [json.loads(x) for x in proc.output().splitlines() if x.strip()]
    return status, lines


def test_a_second_instance_on_a_port_in_use_refuses_to_start(make_gateway, tmp_path):
    first = make_gateway()
    second = json.loads(json.dumps(first.config))
    second["storage"]["dir"] = str(tmp_path / "second-store")
    (tmp_path / "second-store").mkdir()
    status, lines = run_to_exit(second, tmp_path / "second")
    assert status not in (0, None), (status, lines)
    msg = f"listen {first.authority}: the address is in use by another process; not starting"
    assert any(e.get("level") == "error" and e.get("event") == "startup" and e["msg"] == msg for e in lines), lines
    # The first one still serves every connection.

    for _ in range(8):
        assert curl(first, "h1", "/api/items").status == 200


# -- the pass-through body limit ------------------------------------------------------------------------------

def json_of_size(n: int) -> bytes:
    """A JSON document of exactly n bytes (the example app's /api/echo parses it and answers 200)."""
    head, tail_ = b'{"pad":"', b'"}'
    return head + b"x" * (n - len(head) - len(tail_)) + tail_


def echo(gw, proto, body: bytes, tmp_path, path="/api/echo"):
    f = tmp_path / f"body-{len(body)}.json"
    f.write_bytes(body)
    return curl(gw, proto, path, "--data-binary", f"@{f}", "-H", "Content-Type: application/json")


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


# -- one client's share of the connections ----------------------------------------------------------------------

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


# -- the minimum body rate ------------------------------------------------------------------------------------------

WINDOW = 2.0  # timeouts.body_rate_window in these tests
PACE = 0.25   # how often the slow clients below send


def min_rate(cfg):
    cfg["timeouts"].update({"body_min_rate": "1KiB", "body_rate_window": f"{int(WINDOW)}s"})


def readable_within(sock, seconds: float) -> bool:
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    r, _, _ = select.select([sock], [], [], seconds)
    return bool(r)


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


# -- a pass-through the app cannot answer ---------------------------------------------------------------------------

@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_pass_through_to_an_app_that_is_down_gets_json_502(make_gateway, proto):
    gw = make_gateway(app=False, backend_url=f"http://127.0.0.1:{free_port()}")
    for method in ("GET", "POST"):
        res = curl(gw, proto, "/api/items", "-X", method, *(["--data-binary", "{}"] if method == "POST" else []))
        assert_error(res, 502, "bad_gateway")
        assert b"Gateway Error" not in res.body, res
    res = curl(gw, proto, "/api/items", "-I")  # HEAD: the JSON error's fields, no body (curl -I writes the head there)
    assert res.status == 502 and res.header("content-type") == "application/json" and b'"error"' not in res.body, res


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_pass_through_to_an_app_that_does_not_answer_gets_json_504(make_gateway, proto):
    """The backend accepts the connection but never answers: after backend.timeout (1 s) uploadgate's 504."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        gw = make_gateway(app=False, backend_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
                          configure=lambda cfg: cfg["backend"].__setitem__("timeout", "1s"))
        t0 = time.monotonic()
        res = curl(gw, proto, "/api/items", timeout=20)
        assert_error(res, 504, "gateway_timeout")
        assert 0.9 <= time.monotonic() - t0 <= 6, time.monotonic() - t0
    finally:
        silent.close()


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_a_502_the_app_sends_is_relayed_untouched(gateway, proto):
    res = curl(gateway, proto, "/api/status/502")
    assert res.status == 502 and res.json() == {"status": 502} and res.header("x-example-app") == "status", res
