"""Uploads that h2o reads whole before uploadgate's handler runs (h2o's buffered path): an HTTP/1.0 request with
"Expect: 100-continue" is left to h2o's pipeline by the HTTP/1.1 front. They are served by the same exchange as the
uploads the fronts stream: the manifest, the app's answer, the files, one access line, and the rule that the app
decides once the manifest is sent, whatever the client does then. A head with more than 100 fields is refused with
400 on every protocol."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from checks import assert_error, find_manifest, manifests_in_log
from harness import (KiB, H2Conn, HTTP1Reader, abort_socket, connect, multipart_body, multipart_content_type,
                     read_until_closed, wait_until)

SLOW = 2.0  # the app's work after it has logged the manifest: the client leaves within it


def _files():
    return [os.urandom(300 * KiB + 3), os.urandom(5 * KiB)]


def _body(files):
    return multipart_body([{"name": "title", "data": b"buffered"}]
                          + [{"name": f"f{i}", "filename": f"f{i}.bin", "content_type": "application/octet-stream",
                              "data": d} for i, d in enumerate(files)])


def _http10_expect(gw, tls, path, body, extra=b""):
    """An HTTP/1.0 upload asking for 100-continue (which HTTP/1.0 must not get): the front leaves it to h2o."""
    host = gw.tls_authority if tls else gw.authority
    return (f"POST {path} HTTP/1.0\r\nHost: {host}\r\nExpect: 100-continue\r\n"
            f"Content-Type: {multipart_content_type()}\r\nContent-Length: {len(body)}\r\n").encode() + extra + b"\r\n" + body


def _access_lines(gw, path):
    out = [json.loads(x) for x in gw.log().splitlines() if x.startswith("{")]
    return [e for e in out if e.get("msg") == "request" and e.get("path") == path]


@pytest.mark.parametrize("proto", ["h1", "h1-tls"])
def test_buffered_upload_is_served_like_a_streamed_one(gateway, proto):
    files = _files()
    body = _body(files)
    with connect(gateway, tls=proto == "h1-tls") as s:
        s.sendall(_http10_expect(gateway, proto == "h1-tls", "/upload?via=buffered", body,
                                 b"Origin: https://nowhere.example\r\nX-Request-Id: buffered-id-1\r\n"))
        res = HTTP1Reader(s).read_response()
        assert read_until_closed(s, 10) == b""
    assert res.status == 201, res
    entry, m = find_manifest(gateway, res.json()["id"])
    assert m["client"]["protocol"] == "HTTP/1.0", m["client"]
    assert [f["size"] for f in m["files"]] == [len(d) for d in files], m["files"]
    for n, d in enumerate(files):
        assert m["files"][n]["sha256"] == hashlib.sha256(d).hexdigest(), n
    assert dict((k.lower(), v) for k, v in entry["headers"]).get("x-request-id") == "buffered-id-1", entry["headers"]
    # exactly one access line, the exchange's: route, status, files, protocol
    [line] = wait_until(lambda: _access_lines(gateway, "/upload?via=buffered"), 10, "the access line")
    assert line["status"] == 201 and line["route"] == "/upload" and line["files"] == 2, line
    assert line["protocol"] == "HTTP/1.0" and line["request_id"] == "buffered-id-1", line


@pytest.mark.parametrize("proto", ["h1", "h1-tls"])
def test_buffered_upload_over_a_limit_leaves_nothing(gateway, proto):
    body = multipart_body([{"name": f"f{i}", "filename": f"f{i}.bin", "content_type": "application/octet-stream",
                            "data": os.urandom(10 * KiB)} for i in range(4)])  # /limited: max_files 3
    with connect(gateway, tls=proto == "h1-tls") as s:
        s.sendall(_http10_expect(gateway, proto == "h1-tls", "/limited", body))
        res = HTTP1Reader(s).read_response()
    assert_error(res, 413, "too_many_files")
    gateway.wait_store_empty(10)
    assert not [m for e, m in manifests_in_log(gateway) if e["path"] == "/upload"], "the app was reached"


@pytest.mark.parametrize("app_status", [200, 422])
def test_buffered_upload_whose_client_left_is_decided_by_the_app(make_gateway, app_status):
    gw = make_gateway(slow_seconds=SLOW, slow_status=None if app_status == 200 else app_status)
    files = _files()
    s = connect(gw)
    s.sendall(_http10_expect(gw, False, "/slow", _body(files)))
    found = wait_until(lambda: [m for e, m in manifests_in_log(gw) if e["path"] == "/slow"], 10 + SLOW,
                       "the manifest at the app")
    abort_socket(s, rst=True)
    [line] = wait_until(lambda: _access_lines(gw, "/slow"), 10 + SLOW, "the access line of /slow")
    assert line["status"] == app_status and line.get("client_left") is True, line
    [m] = found
    if app_status == 200:
        for n, d in enumerate(files):
            p = gw.local_path(m["id"], n)
            assert p.is_file(), f"{p} is gone though the app accepted it"
            assert hashlib.sha256(p.read_bytes()).digest() == hashlib.sha256(d).digest(), n
    else:
        gw.wait_store_empty(10)


MANY = [(f"x-field-{i}", "v") for i in range(101)]


@pytest.mark.parametrize("proto", ["h1", "h2c", "h2"])
@pytest.mark.parametrize("path", ["/upload", "/api/items"])
def test_a_head_with_more_than_100_fields_is_refused(gateway, proto, path):
    if proto == "h1":
        head = f"POST {path} HTTP/1.1\r\nHost: {gateway.authority}\r\nContent-Length: 0\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in MANY) + "\r\n"
        with connect(gateway) as s:
            s.sendall(head.encode())
            res = HTTP1Reader(s).read_response()
        assert_error(res, 400, "bad_request")
    else:
        c = H2Conn(gateway, tls=proto == "h2")
        try:
            res = c.wait_response(c.start("POST", path, MANY, end_stream=True))
        finally:
            c.close()
        err = assert_error(res, 400, "bad_request")
        assert err["message"] == "the request head has more than 100 fields", err
    assert not gateway.app_requests(path), gateway.app_requests(path)
