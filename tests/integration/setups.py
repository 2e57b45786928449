"""Configurations, request builders and small socket helpers used by several test files (the harness package
holds the general-purpose clients and processes; checks.py the shared assertions).
"""

from __future__ import annotations

import json
import secrets
import select
import struct
import urllib.error
import urllib.request
from typing import Dict, List, Tuple

import pytest

from harness import (HTTP1Reader, Proc, binary_path, connect, curl, free_port, http1_head, multipart_body,
                     multipart_content_type, read_until_closed, to_yaml, wait_until)


PATHS = ["/api/echo", "/upload"]


def exchange(gw, raw: bytes):
    with connect(gw) as s:
        s.sendall(raw)
        res = HTTP1Reader(s).read_response()
        rest = read_until_closed(s, 10)
    return res, rest


def post_head(path: str, host: str, *fields: str, version: str = "1.1") -> bytes:
    lines = [f"POST {path} HTTP/{version}"] + ([f"Host: {host}"] if host else []) + list(fields)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def readable_within(sock, seconds: float) -> bool:
    r, _, _ = select.select([sock], [], [], seconds)
    return bool(r)


def put_raw(gw, path, data: bytes, extra=()) -> bytes:
    return http1_head("PUT", path, gw.authority,
                      [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data))), *extra]) + data


H1_TLS = pytest.mark.parametrize("tls", [False, True], ids=["h1", "h1-tls"])


ITEMS_BODY = b'{"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}]}'


def pattern(n: int) -> bytes:
    """What the example app's /api/bytes/{n} and /api/stream/{n} send."""
    return (bytes(range(256)) * (n // 256 + 1))[:n]


def frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream_id) + payload


H2_TLS = pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])


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


def json_of_size(n: int) -> bytes:
    """A JSON document of exactly n bytes (the example app's /api/echo parses it and answers 200)."""
    head, tail_ = b'{"pad":"', b'"}'
    return head + b"x" * (n - len(head) - len(tail_)) + tail_


UPLOAD_PATH = "/upload"


PASS_PATH = "/api/anything"


SMALL_FORM = multipart_body([{"name": "file", "filename": "a.txt", "data": b"hello", "content_type": "text/plain"}])


def capture_gateway(make_gateway, make_capture, tmp_path, routes=()):
    backend = make_capture("backend", status=201, headers=[("Content-Type", "application/json")], body='{"ok":true}')

    def conf(cfg):
        cfg["routes"] += list(routes)
    gw = make_gateway(app=False, backend_url=backend.backend_url, configure=conf)
    return gw, backend


def send_with_curl(gw, proto, path, headers, body: bytes = SMALL_FORM, method: str = "POST"):
    args = ["-X", method]
    for k, v in headers:
        args += ["-H", f"{k}: {v}"]
    if body:
        f = gw.workdir / f"body-{secrets.token_hex(4)}"
        f.write_bytes(body)
        args += ["-H", f"Content-Type: {multipart_content_type()}", "--data-binary", f"@{f}"]
    return curl(gw, proto, path, *args)


def with_admin(extra=None):
    """A configure= hook: admin listener on a free port (kept in cfg['_admin_port'] for the test), health path set."""
    def configure(cfg):
        port = free_port()
        cfg["admin"] = {"address": f"127.0.0.1:{port}"}
        cfg["backend"]["health_path"] = "/health"
        if extra:
            extra(cfg)
    return configure


def admin_port(gw) -> int:
    return int(gw.config["admin"]["address"].rsplit(":", 1)[1])


def admin_get(gw, path: str) -> Tuple[int, str, Dict[str, str]]:
    url = f"http://127.0.0.1:{admin_port(gw)}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode(), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), {k.lower(): v for k, v in e.headers.items()}


def log_lines(gw) -> List[dict]:
    """Every line uploadgate wrote (stdout and stderr), each parsed as JSON (a line that is not fails the test)."""
    out = []
    for line in gw.log().splitlines():
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"uploadgate log line is not JSON: {line!r}")
    return out
