"""A client that leaves once its whole body is sent and the manifest is at the app: the app's answer alone decides the
files' fate (< 400 kept byte-exact, >= 400 removed), and the access line records the app's status and client_left."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from checks import manifests_in_log
from harness import MiB, H2Conn, abort_socket, connect, http1_head, multipart_body, multipart_content_type, wait_until

SLOW = 2.0  # the app's work after it has logged the manifest: the client leaves within it

HOWS = [("h1", "close"), ("h1", "rst"), ("h1-tls", "close"), ("h1-tls", "rst"),
        ("h2c", "rst_stream"), ("h2c", "close"), ("h2", "rst_stream"), ("h2", "close")]


def _body():
    files = [os.urandom(3 * MiB + 7), os.urandom(64 * 1024)]
    body = multipart_body([{"name": "title", "data": b"left"}]
                          + [{"name": f"f{i}", "filename": f"f{i}.bin", "content_type": "application/octet-stream",
                              "data": d} for i, d in enumerate(files)])
    return body, [hashlib.sha256(d).hexdigest() for d in files]


def _manifest_at_app(gw):
    """The manifest the app logged (before its handler runs), once it is there."""
    found = wait_until(lambda: [m for e, m in manifests_in_log(gw) if e["path"] == "/slow"], 10 + SLOW,
                       "the manifest at the app")
    assert len(found) == 1, found
    return found[0]


def _access_line(gw):
    def lines():
        out = [json.loads(x) for x in gw.log().splitlines() if x.startswith("{")]
        return [e for e in out if e.get("msg") == "request" and e.get("path") == "/slow"]

    [line] = wait_until(lines, 10 + SLOW, "the access line of /slow")
    return line


def _upload_then_leave(gw, proto, how):
    """Sends the whole upload, waits until the app has the manifest, then leaves as `how` says; returns the manifest and
    the sent files' sha256."""
    body, shas = _body()
    headers = [("content-type", multipart_content_type()), ("content-length", str(len(body)))]
    if proto.startswith("h1"):
        s = connect(gw, tls=proto == "h1-tls")
        s.sendall(http1_head("POST", "/slow", gw.host_header(proto), headers) + body)
        m = _manifest_at_app(gw)
        abort_socket(s, rst=how == "rst")
        return m, shas
    c = H2Conn(gw, tls=proto == "h2")
    try:
        sid = c.start("POST", "/slow", headers)
        assert c.send(sid, body, end_stream=True), c.results[sid]
        m = _manifest_at_app(gw)
        assert c.results[sid].status is None, c.results[sid]  # still waiting for the app
        if how == "rst_stream":
            c.reset(sid)
        else:
            abort_socket(c.sock, rst=False)
        return m, shas
    finally:
        c.close()


@pytest.mark.parametrize("proto,how", HOWS, ids=[f"{p}-{h}" for p, h in HOWS])
def test_files_the_app_accepted_stay_when_the_client_left(make_gateway, proto, how):
    gw = make_gateway(slow_seconds=SLOW)
    m, shas = _upload_then_leave(gw, proto, how)
    line = _access_line(gw)
    assert line["status"] == 200 and line.get("client_left") is True and "error" not in line, line
    assert line["files"] == 2, line
    assert len(m["files"]) == 2 and [f["size"] for f in m["files"]] == [3 * MiB + 7, 64 * 1024], m["files"]
    for n, f in enumerate(m["files"]):
        p = gw.local_path(m["id"], n)
        assert p.is_file(), f"{p} is gone though the app accepted it"
        assert hashlib.sha256(p.read_bytes()).hexdigest() == f["sha256"] == shas[n], n


@pytest.mark.parametrize("proto,how", [("h1", "close"), ("h1-tls", "rst"), ("h2c", "rst_stream"), ("h2", "close")],
                         ids=["h1-close", "h1-tls-rst", "h2c-rst_stream", "h2-close"])
def test_files_the_app_refused_go_when_the_client_left(make_gateway, proto, how):
    gw = make_gateway(slow_seconds=SLOW, slow_status=422)
    _upload_then_leave(gw, proto, how)
    line = _access_line(gw)
    assert line["status"] == 422 and line.get("client_left") is True, line
    gw.wait_store_empty(10)


@pytest.mark.parametrize("proto,how", [("h2c", "rst_stream")], ids=["h2c-rst_stream"])
def test_a_graceful_stop_waits_for_the_app_of_a_client_that_left(make_gateway, proto, how):
    """SIGTERM while the app has the manifest of a client that left: uploadgate still waits (within shutdown_grace) for
    the app's answer, which decides the files, and logs it before it exits."""
    gw = make_gateway(slow_seconds=SLOW)
    m, shas = _upload_then_leave(gw, proto, how)
    assert gw.stop() == 0
    line = _access_line(gw)
    assert line["status"] == 200 and line.get("client_left") is True, line
    for n, f in enumerate(m["files"]):
        assert hashlib.sha256(gw.local_path(m["id"], n).read_bytes()).hexdigest() == shas[n], n
