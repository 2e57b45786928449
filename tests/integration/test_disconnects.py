"""A client that goes away. Mid-upload (closed or reset, HTTP/1.1 or HTTP/2, or a body shorter than announced): nothing
stays on disk and nothing reaches the app. Once its whole body is sent and the manifest is at the app: the app's
answer alone decides the files' fate (< 400 kept byte-exact, >= 400 removed), the access line records the app's
status and client_left, and a graceful stop waits for that app.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from checks import Sent, assert_nothing_reached_app, expect_upload, find_manifest, manifests_in_log
from harness import (H2Conn, HTTP1Reader, MiB, abort_socket, connect, curl, curl_form_args, http1_head, make_file,
                     multipart_body, multipart_content_type, wait_until)


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


def _sync_upload(gw, tmp_path):
    """A complete upload after the aborted one: proves the server still works and gives the
    abort time to be processed before we poll the disk (no sleeping)."""
    f = make_file(tmp_path / "data", "after.bin", 64 * 1024)
    res = curl(gw, "h1", "/upload", *curl_form_args([("file", f, "after.bin", None)]))
    expect_upload(gw, res, proto="h1", sent=[Sent("file", "after.bin", "application/octet-stream", f)])
    return res.json()["id"]


def _assert_only_sync_reached_app(gw, sync_id):
    log = gw.app_log()
    assert len(log) == 1, "requests reached the app: " + ", ".join(f"{e['method']} {e['path']}" for e in log)
    find_manifest(gw, sync_id)


@pytest.mark.parametrize("tls", [False, True], ids=["cleartext", "tls"])
@pytest.mark.parametrize("how", ["close", "rst"])
@pytest.mark.parametrize("kind", ["multipart", "raw"])
def test_http1_client_disconnects_mid_body(gateway, tmp_path, tls, how, kind):
    if kind == "multipart":
        body = multipart_body([{"name": "title", "data": b"partial"},
                               {"name": "file", "filename": "big.bin", "content_type": "application/octet-stream",
                                "data": os.urandom(8 * MiB)}])
        ctype = multipart_content_type()
    else:
        body = os.urandom(8 * MiB)
        ctype = "application/octet-stream"
    s = connect(gateway, tls=tls)
    s.sendall(http1_head("POST", "/upload", gateway.host_header("h1-tls" if tls else "h1"),
                         [("Content-Type", ctype), ("Content-Length", str(len(body)))]))
    s.sendall(body[:3 * MiB])  # a complete first part (for multipart) and part of the file
    abort_socket(s, rst=(how == "rst"))
    sync_id = _sync_upload(gateway, tmp_path)
    gateway.wait_store_empty(10)
    _assert_only_sync_reached_app(gateway, sync_id)


def test_http1_client_disconnects_after_second_file_started(gateway, tmp_path):
    """The first file was completely stored (renamed from .part) before the client vanished."""
    first = os.urandom(2 * MiB)
    body = multipart_body([{"name": "a", "filename": "a.bin", "data": first},
                           {"name": "b", "filename": "b.bin", "data": os.urandom(4 * MiB)}])
    s = connect(gateway)
    s.sendall(http1_head("POST", "/upload", gateway.authority,
                         [("Content-Type", multipart_content_type()), ("Content-Length", str(len(body)))]))
    s.sendall(body[:len(body) - 1 * MiB])
    abort_socket(s, rst=False)
    sync_id = _sync_upload(gateway, tmp_path)
    gateway.wait_store_empty(10)
    _assert_only_sync_reached_app(gateway, sync_id)


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
@pytest.mark.parametrize("how", ["rst_stream", "close"])
def test_http2_client_aborts_mid_body(gateway, tmp_path, tls, how):
    body = multipart_body([{"name": "title", "data": b"partial"},
                           {"name": "file", "filename": "big.bin", "data": os.urandom(8 * MiB)}])
    c = H2Conn(gateway, tls=tls)
    sid = c.start("POST", "/upload", [("content-type", multipart_content_type()),
                                      ("content-length", str(len(body)))])
    assert c.send(sid, body[:3 * MiB]), c.results[sid]
    if how == "rst_stream":
        c.reset(sid)
        # The same connection still works; its next stream is handled after the reset one.
        f = make_file(tmp_path / "data", "same-conn.bin", 100 * 1024)
        b2 = multipart_body([{"name": "file", "filename": "same-conn.bin", "content_type": "text/plain",
                              "data": f.read()}])
        sid2 = c.start("POST", "/upload", [("content-type", multipart_content_type()),
                                           ("content-length", str(len(b2)))])
        assert c.send(sid2, b2, end_stream=True), c.results[sid2]
        r2 = c.wait_response(sid2)
        assert r2.status == 201 and r2.ended, r2
        c.close()
        gateway.wait_store_empty(10)
        log = gateway.app_log()
        assert len(log) == 1, log
        find_manifest(gateway, r2.json()["id"])
    else:
        abort_socket(c.sock, rst=False)
        sync_id = _sync_upload(gateway, tmp_path)
        gateway.wait_store_empty(10)
        _assert_only_sync_reached_app(gateway, sync_id)


def test_truncated_body_is_not_an_upload(gateway, tmp_path):
    """Content-Length promised more than arrived (half-close after the partial body):
    the partial body must not be taken for a complete upload."""
    import socket
    body = os.urandom(2 * MiB)
    s = connect(gateway)
    s.sendall(http1_head("PUT", "/upload", gateway.authority,
                         [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body) + 1))]))
    s.sendall(body)
    s.shutdown(socket.SHUT_WR)
    # The server may answer (400/408) or just close; either way no 2xx.
    reader = HTTP1Reader(s)
    try:
        res = reader.read_response()
        assert res.status >= 400, res
    except ConnectionError:
        pass
    s.close()
    sync_id = _sync_upload(gateway, tmp_path)
    gateway.wait_store_empty(10)
    _assert_only_sync_reached_app(gateway, sync_id)
    assert_nothing_reached_app(gateway, exclude_paths=["/upload"])


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
