"""HTTP/1.1 requests asking for "Upgrade: h2c" (RFC 7540 3.2; what curl --http2 sends on http://).

The HTTP/1.1 front reads the request's body, answers 101 and hands the connection to uploadgate's HTTP/2 front, where
the request becomes stream 1 (front/h1.c switch_to_h2, front/h2.c ug_h2_accept_upgrade). Every later stream is the
HTTP/2 front's, so uploads on an upgraded connection are decided at their HEADERS and streamed, as on any HTTP/2
connection. Requests that ask for the upgrade without what RFC 7540 requires (Connection naming HTTP2-Settings, one
HTTP2-Settings field), over TLS, or that are uploads (whose bodies the front streams rather than buffer before the
switch), are served as HTTP/1.1 with the upgrade ignored.
"""

from __future__ import annotations

import json
import os

import h2.config
import h2.connection
import pytest

from checks import assert_error, find_manifest, header_map
from harness import (H2Conn, H2Result, HTTP1Reader, MiB, connect, http1_head, multipart_body, multipart_content_type,
                     sha256_bytes)
from setups import ITEMS_BODY


class UpgradedH2Conn(H2Conn):
    """An HTTP/2 connection reached by upgrading an HTTP/1.1 request; the request's response is stream 1."""

    def __init__(self, gw, method: str, path: str, headers=(), body: bytes = b"", timeout: float = 30.0):
        self.timeout = timeout
        self.sock = connect(gw, timeout=timeout)
        self.authority = gw.authority
        self.scheme = "http"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        settings = self.conn.initiate_upgrade_connection()
        fields = [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"), ("HTTP2-Settings", settings.decode()),
                  *headers]
        if body:
            fields.append(("Content-Length", str(len(body))))
        self.sock.sendall(http1_head(method, path, gw.authority, fields) + body)
        self.switch_head = self._read_head_bytewise()
        self.results = {1: H2Result(all_sent=True)}
        self.closed = False
        self.flush()  # the client's preface and SETTINGS
        self.conn.increment_flow_control_window(16 * MiB)
        self.flush()

    def _read_head_bytewise(self) -> bytes:
        """The 101 (or any) response head, read a byte at a time so that no HTTP/2 byte after it is consumed."""
        got = b""
        while not got.endswith(b"\r\n\r\n"):
            c = self.sock.recv(1)
            if not c:
                raise ConnectionError(f"closed before a response head: {got!r}")
            got += c
        return got


def switched(c: UpgradedH2Conn) -> bool:
    return c.switch_head.startswith(b"HTTP/1.1 101 ")


def test_get_is_upgraded_and_later_uploads_are_decided_at_their_headers(gateway):
    c = UpgradedH2Conn(gateway, "GET", "/api/items")
    try:
        assert switched(c), c.switch_head
        head = c.switch_head.decode("latin-1").lower()
        assert "upgrade: h2c" in head and "connection: upgrade" in head, head
        r1 = c.wait_response(1)
        assert r1.status == 200 and r1.body == ITEMS_BODY and r1.ended, r1
        # 5 MiB announced to /limited (max_body 4 MiB): the 413 comes before a DATA frame is sent
        sid = c.start("PUT", "/limited", [("content-type", "application/octet-stream"),
                                          ("content-length", str(5 * MiB))])
        r2 = c.wait_response(sid, timeout=5)
        assert_error(r2, 413, "body_too_large", limit="max_body")
        data = os.urandom(MiB + 5)
        body = multipart_body([{"name": "file", "filename": "up.bin", "data": data}])
        sid = c.start("POST", "/upload?upgraded", [("content-type", multipart_content_type()),
                                                   ("content-length", str(len(body)))])
        assert c.send(sid, body, end_stream=True)
        r3 = c.wait_response(sid)
    finally:
        c.close()
    assert r3.status == 201, r3
    m_path, m = find_manifest(gateway, json.loads(r3.body)["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data) and m["client"]["protocol"] == "HTTP/2"
    assert [e["path"] for e in gateway.app_log()] == ["/api/items", "/upload?upgraded"]
    gateway.wait_store_empty(5)


def test_request_body_is_read_before_the_switch_and_given_to_stream_1(gateway):
    raw = json.dumps({"upgraded": True, "pad": "x" * 200_000}).encode()
    c = UpgradedH2Conn(gateway, "POST", "/api/echo?u=1", [("Content-Type", "application/json"), ("X-Test", "up")], raw)
    try:
        assert switched(c), c.switch_head
        res = c.wait_response(1)
    finally:
        c.close()
    assert res.status == 200 and res.ended, res
    doc = json.loads(res.body)
    assert doc["json"] == json.loads(raw) and doc["query"] == "u=1" and doc["headers"]["x-test"] == "up"
    [entry] = gateway.app_log()
    assert entry["body_sha256"] == sha256_bytes(raw)
    fields = {k for k, _ in entry["headers"]}
    assert not fields & {"upgrade", "http2-settings"}, fields  # (Connection is the proxy's own, to the app)


@pytest.mark.parametrize("case", ["no-settings-token", "no-settings-field", "two-settings-fields", "bad-settings"])
def test_incomplete_upgrade_requests_are_served_as_http11(gateway, case):
    settings = h2.connection.H2Connection().initiate_upgrade_connection().decode()
    fields = {"no-settings-token": [("Connection", "Upgrade"), ("Upgrade", "h2c"), ("HTTP2-Settings", settings)],
              "no-settings-field": [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c")],
              "two-settings-fields": [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                                      ("HTTP2-Settings", settings), ("HTTP2-Settings", settings)],
              "bad-settings": [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                               ("HTTP2-Settings", "AAMAAAB")]}[case]  # 5 bytes: not whole 6-byte entries
    with connect(gateway) as s:
        s.sendall(http1_head("GET", "/api/items", gateway.authority, fields)
                  + http1_head("GET", "/api/bytes/3", gateway.authority))
        reader = HTTP1Reader(s)
        r1, r2 = reader.read_response(method="GET"), reader.read_response(method="GET")
    assert r1.status == 200 and r1.body == ITEMS_BODY, r1
    assert r2.status == 200 and r2.body == b"\x00\x01\x02", r2


def test_no_upgrade_over_tls(gateway):
    settings = h2.connection.H2Connection().initiate_upgrade_connection().decode()
    with connect(gateway, tls=True) as s:
        s.sendall(http1_head("GET", "/api/items", gateway.authority,
                             [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"), ("HTTP2-Settings", settings)]))
        res = HTTP1Reader(s).read_response(method="GET")
    assert res.status == 200 and res.body == ITEMS_BODY, res


def test_upload_asking_for_h2c_upgrade_is_served_here_as_http1(gateway):
    """curl --http2 on http:// asks every first request, uploads included, to upgrade to h2c. The front serves such an
    upload itself as HTTP/1.1, the upgrade ignored (RFC 9110 7.8), instead of leaving it to h2o, which would read the
    whole body into its buffer before switching: the answer is 201 on HTTP/1.1, not 101."""
    data = os.urandom(2 * MiB)
    body = multipart_body([{"name": "file", "filename": "u.bin", "data": data}])
    with connect(gateway) as s:
        s.sendall(http1_head("POST", "/upload", gateway.authority,
                             [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                              ("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"), ("Content-Type", multipart_content_type()),
                              ("Content-Length", str(len(body)))]) + body)
        res = HTTP1Reader(s).read_response()
    assert res.status == 201, res
    _, m = find_manifest(gateway, res.json()["id"])
    assert m["client"]["protocol"] == "HTTP/1.1"
    assert m["files"][0]["sha256"] == sha256_bytes(data)
    # hop-by-hop fields of the upgrade request are not passed on to the app
    headers = set(header_map(gateway.app_log()[-1]["headers"]))
    assert not headers & {"upgrade", "http2-settings", "connection"}, headers
