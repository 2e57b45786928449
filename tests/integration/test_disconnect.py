"""A client that goes away mid-upload leaves nothing on disk and nothing reaches the app."""

from __future__ import annotations

import os

import pytest

from checks import Sent, assert_nothing_reached_app, expect_upload, find_manifest
from harness import (MiB, H2Conn, HTTP1Reader, abort_socket, connect, curl, curl_form_args, http1_head, make_file,
                     multipart_body, multipart_content_type)


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
