"""Operations: the admin listener (probes, metrics), JSON logs, reload (SIGHUP), janitor. Stopping (SIGTERM, SIGINT)
is in test_shutdown.py.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import signal
import socket
import threading
import time
from typing import Dict, List, Tuple

import pytest

from checks import assert_error
from harness import (HTTP1Reader, KiB, MiB, REPO, connect, curl, curl_form_args, free_port, http1_head, make_file,
                     to_yaml, wait_until)
from setups import admin_get, log_lines, with_admin


TOKEN = "ops-test-token-0123456789abcdef"


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')


def parse_metrics(text: str) -> Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]:
    """{(name, ((label, value), ...)): value} for every sample; HELP/TYPE lines checked for every family."""
    out = {}
    typed = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not an exposition sample: {line!r}"
        labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
        family = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in typed or family in typed, f"{m.group(1)} has no # TYPE line"
    return out


def metric(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def auth_route(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKEN + "\n")

    def extra(cfg):
        cfg["routes"].insert(0, {"path": "/private", "methods": ["POST", "PUT"], "forward_to": "/upload",
                                 "auth": {"tokens_file": str(tokens)}})
    return extra


class ClosingBackend:
    """A backend on 127.0.0.1 that answers GETs with keep-alive, then, when told, closes every idle connection (as an
    app does when it restarts): h2o finds the closed socket in its pool and says so on stderr."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.idle: List[socket.socket] = []
        self.closed = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                data = b""
            if not data:
                with self.lock:
                    if conn in self.idle:  # the gateway hung up first: nothing left for close_idle to do
                        self.idle.remove(conn)
                        conn.close()
                return
            buf += data
            while b"\r\n\r\n" in buf:
                _, buf = buf.split(b"\r\n\r\n", 1)
                with self.lock:  # idle before the answer leaves: once the client has it, close_idle sees this socket
                    if conn not in self.idle:
                        self.idle.append(conn)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")

    def close_idle(self):
        with self.lock:
            for c in self.idle:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
                self.closed += 1
            self.idle = []

    def stop(self):
        self.stopping = True
        self.listener.close()
        self.close_idle()


def reload_with(gw, cfg: dict) -> None:
    gw.config_path.write_text(to_yaml(cfg))
    n = len([e for e in log_lines(gw) if e.get("event") == "reload"])
    gw.proc.signal(signal.SIGHUP)
    wait_until(lambda: len([e for e in log_lines(gw) if e.get("event") == "reload"]) > n, 10, "the reload to be logged")


def test_admin_is_not_on_the_public_listener(make_gateway):
    gw = make_gateway(configure=with_admin())
    status, body, _ = admin_get(gw, "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    # The public port passes /healthz through to the app (which has none): never uploadgate's own probe.
    res = curl(gw, "h1", "/healthz")
    assert res.status == 404 and b'"status":"ok"' not in res.body, res
    status, body, _ = admin_get(gw, "/nope")
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"


def test_readyz_follows_the_backend_and_the_storage(make_gateway, make_app):
    app = make_app("ops-app")
    gw = make_gateway(app=False, backend_url=app.backend_url, configure=with_admin())
    status, body, headers = admin_get(gw, "/readyz")
    assert status == 200, body
    assert json.loads(body) == {"status": "ready", "backend": "ok", "storage": "ok"}
    assert headers["content-type"] == "application/json"

    app.stop()
    status, body, _ = admin_get(gw, "/readyz")
    assert status == 503, body
    doc = json.loads(body)
    assert doc["status"] == "not ready" and doc["reason"].startswith("backend health check failed"), doc
    assert admin_get(gw, "/healthz")[0] == 200  # liveness does not depend on the app

    app.start()
    status, body, _ = admin_get(gw, "/readyz")
    assert status == 200, body


def test_readyz_refuses_when_free_space_is_below_min_free(make_gateway):
    def huge_min_free(cfg):
        cfg["storage"]["min_free"] = "1000TiB"
    gw = make_gateway(configure=with_admin(huge_min_free))
    status, body, _ = admin_get(gw, "/readyz")
    assert status == 503, body
    assert "below storage.min_free" in json.loads(body)["reason"], body


def test_readyz_without_health_path_does_not_ask_the_app(make_gateway):
    def no_health(cfg):
        del cfg["backend"]["health_path"]
    gw = make_gateway(configure=with_admin(no_health))
    status, body, _ = admin_get(gw, "/readyz")
    assert status == 200 and json.loads(body)["backend"] == "not checked", body
    assert gw.app_requests("/health") == []


@pytest.mark.parametrize("proto", ["h1", "h2c"])
def test_metrics_count_exactly_what_happened(make_gateway, tmp_path, proto):
    """The same sequence over the streaming front (h1) and h2o's buffered path (h2c) moves the counters alike."""
    gw = make_gateway(configure=with_admin(auth_route(tmp_path)))
    before = parse_metrics(admin_get(gw, "/metrics")[1])
    version = re.search(r"project\(uploadgate\s+VERSION\s+([0-9.]+)", (REPO / "CMakeLists.txt").read_text()).group(1)
    assert metric(before, "uploadgate_build_info", version=version) == 1

    a = make_file(tmp_path / "d", "a.bin", 300 * KiB + 1)
    b = make_file(tmp_path / "d", "b.bin", 70 * KiB)
    c = make_file(tmp_path / "d", "c.bin", 5)
    r1 = curl(gw, proto, "/upload", *curl_form_args([("f", a, "a.bin", None)]))
    r2 = curl(gw, proto, "/upload", *curl_form_args([("f", b, "b.bin", None), ("g", c, "c.bin", None)], [("t", "x")]))
    r3 = curl(gw, proto, "/api/items")
    r4 = curl(gw, proto, "/private", *curl_form_args([("f", c, "c.bin", None)]), "-H", "Authorization: Bearer wrong")
    r5 = curl(gw, proto, "/private", *curl_form_args([("f", c, "c.bin", None)]))
    r6 = curl(gw, proto, "/limited", *curl_form_args([("f", make_file(tmp_path / "d", "big.bin", 2 * MiB), "big", None)]))
    assert [r.status for r in (r1, r2, r3, r4, r5, r6)] == [201, 201, 200, 401, 401, 413]

    # The last request is counted when h2o disposes of it, right after its response: wait for that, not for time.
    def settled():
        s = parse_metrics(admin_get(gw, "/metrics")[1])
        return s if metric(s, "uploadgate_requests_total", route="/limited", code="413") == 1 else None
    after = wait_until(settled, 10, "the last request to be counted")

    def delta(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("uploadgate_requests_total", route="/upload", code="201") == 2
    assert delta("uploadgate_requests_total", route="none", code="200") == 1
    assert delta("uploadgate_requests_total", route="/private", code="401") == 2
    assert delta("uploadgate_upload_files_total", route="/upload") == 3
    assert delta("uploadgate_upload_bytes_total", route="/upload") == a.size + b.size + c.size
    assert delta("uploadgate_upload_files_total", route="/limited") == 0
    assert delta("uploadgate_auth_failures_total", reason="invalid_token") == 1
    assert delta("uploadgate_auth_failures_total", reason="missing_token") == 1
    assert delta("uploadgate_request_duration_seconds_count", route="/upload") == 2
    assert delta("uploadgate_request_duration_seconds_bucket", route="/upload", le="+Inf") == 2
    assert metric(after, "uploadgate_requests_in_flight") == 0
    assert metric(after, "uploadgate_storage_free_bytes") > 0
    assert metric(after, "uploadgate_ready") == 1


def test_backend_errors_are_counted_by_reason(make_gateway, tmp_path):
    gw = make_gateway(app=False, backend_url=f"http://127.0.0.1:{free_port()}", configure=with_admin())
    f = make_file(tmp_path / "d", "x.bin", 10)
    res = curl(gw, "h1", "/upload", *curl_form_args([("f", f, "x.bin", None)]))
    assert_error(res, 502, "bad_gateway")
    samples = wait_until(lambda: (lambda s: s if metric(s, "uploadgate_backend_errors_total", reason="connect") else None)(
        parse_metrics(admin_get(gw, "/metrics")[1])), 10, "the backend error to be counted")
    assert metric(samples, "uploadgate_backend_errors_total", reason="connect") == 1


@pytest.mark.parametrize("proto", ["h1", "h2c"])
def test_every_log_line_is_json_with_one_access_line_per_request(make_gateway, tmp_path, proto):
    gw = make_gateway(configure=with_admin(auth_route(tmp_path)))
    f = make_file(tmp_path / "d", "l.bin", 1000)
    r1 = curl(gw, proto, "/upload?q=1", *curl_form_args([("f", f, "l.bin", None)]), "-H", "X-Request-Id: log-test-1")
    r2 = curl(gw, proto, "/private", *curl_form_args([("f", f, "l.bin", None)]), "-H", f"Authorization: Bearer {TOKEN}")
    r3 = curl(gw, proto, "/api/items")
    assert (r1.status, r2.status, r3.status) == (201, 201, 200)
    wait_until(lambda: len([e for e in log_lines(gw) if e.get("msg") == "request"]) >= 3, 10, "three access lines")
    gw.stop()
    lines = log_lines(gw)
    assert any(e.get("event") == "listening" and e["level"] == "info" for e in lines), lines[:5]
    assert any(e.get("event") == "shutdown" for e in lines)
    access = [e for e in lines if e.get("msg") == "request"]
    assert len(access) == 3, access
    up, priv, get = access
    protocol = "HTTP/1.1" if proto == "h1" else "HTTP/2"
    assert list(up)[:14] == ["time", "level", "msg", "request_id", "route", "method", "path", "status", "bytes_in",
                             "bytes_out", "files", "duration_s", "client", "protocol"]
    assert (up["request_id"], up["route"], up["method"], up["path"], up["status"], up["files"], up["client"],
            up["protocol"]) == ("log-test-1", "/upload", "POST", "/upload?q=1", 201, 1, "127.0.0.1", protocol)
    assert up["bytes_in"] > 1000 and up["bytes_out"] == len(r1.body) and up["duration_s"] >= 0
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", up["time"])
    assert priv["subject"].startswith("token:") and priv["route"] == "/private" and len(priv["request_id"]) == 32
    assert (get["route"], get["status"], get["files"], get["bytes_in"]) == (None, 200, 0, 0)
    assert "subject" not in get and "error" not in get
    # Times and sizes are the request's own on every path (the pass-through GET is served by h2o's pipeline, whose
    # access logger reads what the protocol layer recorded).
    for e, res in ((up, r1), (priv, r2), (get, r3)):
        t = datetime.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        assert abs(t.timestamp() - time.time()) < 600, e
        assert 0 <= e["duration_s"] < 30, e
        assert e["bytes_out"] == len(res.body), (e, len(res.body))


def test_error_responses_are_logged_with_their_code(make_gateway, tmp_path):
    gw = make_gateway(configure=with_admin())
    big = make_file(tmp_path / "d", "big.bin", 2 * MiB)
    res = curl(gw, "h1", "/limited", *curl_form_args([("f", big, "big", None)]))
    assert res.status == 413
    entry = wait_until(lambda: next((e for e in log_lines(gw) if e.get("msg") == "request"), None), 10, "the access line")
    assert (entry["status"], entry["error"], entry["route"], entry["files"]) == (413, "file_too_large", "/limited", 0)


def test_proxy_errors_are_json_events_too(make_gateway):
    """h2o's reverse proxy reports a refused connection itself; uploadgate turns it into a JSON event."""
    gw = make_gateway(app=False, backend_url=f"http://127.0.0.1:{free_port()}", configure=with_admin())
    res = curl(gw, "h1", "/api/items", "-H", "X-Request-Id: proxy-down-1")
    assert res.status == 502, res
    event = wait_until(lambda: next((e for e in log_lines(gw) if e.get("event") == "request"), None), 10, "the proxy's error")
    assert event["level"] == "warn" and "proxy" in event["msg"] and "proxy-down-1" in event["msg"], event
    access = [e for e in log_lines(gw) if e.get("msg") == "request"]
    assert [(e["status"], e["route"], e["request_id"]) for e in access] == [(502, None, "proxy-down-1")]


def test_what_h2o_prints_on_stderr_is_a_json_event(make_gateway):
    """The backend closes a pooled keep-alive connection early: h2o prints "[WARN] detected close by upstream ..."
    on stderr; it reaches the log as a JSON event (event "h2o", level warn) and every line stays JSON."""
    backend = ClosingBackend()
    try:
        gw = make_gateway(app=False, backend_url=f"http://127.0.0.1:{backend.port}")
        assert curl(gw, "h1", "/api/items").status == 200
        backend.close_idle()
        assert backend.closed == 1
        assert curl(gw, "h1", "/api/items").status == 200  # h2o drops the dead socket and connects again
        event = wait_until(lambda: next((e for e in log_lines(gw) if e.get("event") == "h2o"), None), 10,
                           "h2o's warning as an event")
        assert event["level"] == "warn", event
        assert event["msg"] == "detected close by upstream before the expected timeout (see issue #679)", event
        gw.stop()
        lines = log_lines(gw)  # every line parses as JSON, or this fails
        assert not [line for line in gw.log().splitlines() if "detected close" in line and '"event":"h2o"' not in line]
        assert len([e for e in lines if e.get("msg") == "request"]) == 2
    finally:
        backend.stop()


def test_log_level_warn_silences_access_lines(make_gateway, tmp_path):
    gw = make_gateway(configure=with_admin(lambda cfg: cfg.update(log={"level": "warn"})))
    assert curl(gw, "h1", "/api/items").status == 200
    gw.stop()
    lines = log_lines(gw)
    assert [e for e in lines if e.get("msg") == "request"] == []
    assert all(e["level"] in ("warn", "error") for e in lines), lines


def test_sighup_applies_a_changed_route_to_new_requests(make_gateway, tmp_path):
    gw = make_gateway(configure=with_admin())
    f = make_file(tmp_path / "d", "r.bin", 2000)
    assert curl(gw, "h1", "/brand-new", *curl_form_args([("f", f, "r.bin", None)])).status == 404  # passed through

    # An upload in flight across the reload finishes under the configuration it started with.
    d = os.urandom(200 * KiB)
    s = connect(gw)
    s.sendall(http1_head("PUT", "/upload?inflight=1", gw.authority,
                         [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(d)))]) + d[:1000])
    wait_until(lambda: any(not p.name.startswith(".") for p in gw.store_dir.iterdir()), 10, "the upload to begin")

    cfg = json.loads(json.dumps(gw.config))
    cfg["routes"].append({"path": "/brand-new", "methods": ["POST"], "forward_to": "/upload"})
    cfg["routes"][0]["limits"]["max_file"] = "1KiB"  # /upload now refuses what it accepted before
    reload_with(gw, cfg)
    assert any(e.get("event") == "reload" and "generation 2" in e["msg"] for e in log_lines(gw))

    s.sendall(d[1000:])
    res = HTTP1Reader(s).read_response()
    s.close()
    assert res.status == 201, res  # started before the reload: old limits
    assert curl(gw, "h1", "/brand-new", *curl_form_args([("f", f, "r.bin", None)])).status == 201
    assert_error(curl(gw, "h2c", "/upload", *curl_form_args([("f", f, "r.bin", None)])), 413, "file_too_large")
    samples = parse_metrics(admin_get(gw, "/metrics")[1])
    assert metric(samples, "uploadgate_config_reloads_total", result="success") == 1


def test_sighup_raises_max_body_back_to_the_start_up_value(make_gateway, tmp_path):
    """A reload that lowered the largest max_body does not make the lower value the ceiling: the next reload may go
    back up to what uploadgate started with (h2o's entity limit was derived from that), and uploads of that size work."""
    def configure(cfg):
        with_admin()(cfg)
        cfg["routes"] = [{"path": "/upload", "forward_to": "/upload", "limits": {"max_body": "3MiB"}}]
    gw = make_gateway(configure=configure)
    started = json.loads(json.dumps(gw.config))
    f = make_file(tmp_path / "d", "big.bin", 2 * MiB)
    lowered = json.loads(json.dumps(started))
    lowered["routes"][0]["limits"]["max_body"] = "1MiB"
    reload_with(gw, lowered)
    assert_error(curl(gw, "h1", "/upload", *curl_form_args([("f", f, "big.bin", None)])), 413, "body_too_large")

    reload_with(gw, started)
    event = [e for e in log_lines(gw) if e.get("event") == "reload"][-1]
    assert event["level"] == "info" and "generation 3" in event["msg"], event
    for proto in ("h1", "h2c"):
        assert curl(gw, proto, "/upload", *curl_form_args([("f", f, "big.bin", None)])).status == 201, proto
    # Above the start-up value still needs a restart.
    higher = json.loads(json.dumps(started))
    higher["routes"][0]["limits"]["max_body"] = "4MiB"
    reload_with(gw, higher)
    event = [e for e in log_lines(gw) if e.get("event") == "reload"][-1]
    assert event["level"] == "error" and "max_body larger than the largest one started with" in event["msg"], event


@pytest.mark.parametrize("change,why", [
    ("syntax", "t"),
    ("listen", "listen changed: it takes effect only after a restart"),
    ("tokens", "auth:"),
], ids=["invalid-yaml", "restart-only-setting", "missing-tokens-file"])
def test_sighup_with_a_bad_file_keeps_the_running_configuration(make_gateway, tmp_path, change, why):
    gw = make_gateway(configure=with_admin())
    cfg = json.loads(json.dumps(gw.config))
    if change == "syntax":
        gw.config_path.write_text(to_yaml(cfg) + "\nroutes: [unclosed\n")
        n = len([e for e in log_lines(gw) if e.get("event") == "reload"])
        gw.proc.signal(signal.SIGHUP)
        wait_until(lambda: len([e for e in log_lines(gw) if e.get("event") == "reload"]) > n, 10, "the reload attempt")
        why = str(gw.config_path) + ":"
    else:
        if change == "listen":
            cfg["listen"][0]["address"] = f"127.0.0.1:{free_port()}"
        else:
            cfg["routes"][0]["auth"] = {"tokens_file": str(tmp_path / "no-such-tokens")}
        reload_with(gw, cfg)
    event = [e for e in log_lines(gw) if e.get("event") == "reload"][-1]
    assert event["level"] == "error" and "the running one stays" in event["msg"] and why in event["msg"], event
    # Still serving, with the old configuration (no auth on /upload).
    f = make_file(tmp_path / "d", "k.bin", 100)
    assert curl(gw, "h1", "/upload", *curl_form_args([("f", f, "k.bin", None)])).status == 201
    assert gw.proc.alive()
    assert metric(parse_metrics(admin_get(gw, "/metrics")[1]), "uploadgate_config_reloads_total", result="failure") == 1


def test_janitor_removes_aged_upload_dirs_and_stale_parts_at_startup(make_gateway):
    """Before start: an aged upload dir, a fresh one, a crash's .part file, and a foreign dir; only the first and the
    .part go (at start-up, without waiting for the periodic pass)."""
    def configure(cfg):
        cfg["storage"]["retention"] = "1h"
        with_admin()(cfg)
    gw = make_gateway(configure=configure, start=False)
    old, fresh, crashed = "a" * 32, "b" * 32, "c" * 32
    for name in (old, fresh, crashed, "operator-notes"):
        (gw.store_dir / name).mkdir()
    (gw.store_dir / old / "0").write_bytes(b"old")
    (gw.store_dir / fresh / "0").write_bytes(b"fresh")
    (gw.store_dir / crashed / "0").write_bytes(b"done")
    (gw.store_dir / crashed / "1.part").write_bytes(b"half")
    (gw.store_dir / "operator-notes" / "x").write_bytes(b"keep")
    past = time.time() - 3 * 3600
    for p in (gw.store_dir / old / "0", gw.store_dir / old, gw.store_dir / "operator-notes" / "x", gw.store_dir / "operator-notes"):
        os.utime(p, (past, past))
    gw.start()
    # The pass reports its counts when it ends: wait for them, then look at the disk.
    samples = wait_until(lambda: (lambda s: s if metric(s, "uploadgate_janitor_removed_dirs_total") else None)(
        parse_metrics(admin_get(gw, "/metrics")[1])), 10, "the janitor's first pass")
    assert not (gw.store_dir / old).exists()
    assert (gw.store_dir / fresh / "0").read_bytes() == b"fresh"
    assert (gw.store_dir / crashed / "0").read_bytes() == b"done"
    assert not (gw.store_dir / crashed / "1.part").exists()
    assert (gw.store_dir / "operator-notes" / "x").read_bytes() == b"keep"
    assert metric(samples, "uploadgate_janitor_removed_dirs_total") == 1
    assert metric(samples, "uploadgate_janitor_removed_parts_total") == 1
