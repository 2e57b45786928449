"""The raw "Resumable Uploads for HTTP" client (harness/ietf_resumable.py, draft -05, interop version 6): its
response parser against canned bytes (interim 104s before the final response, split reads, HEAD, chunked), and its
requests as a loopback server receives them (HTTP/1.1 and HTTP/2), including a creation stopped mid-body that still
reports the 104's upload URL.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from typing import List

import pytest

from checks import require_tools
from harness import REPO, KiB
from harness.ietf_resumable import (INTEROP_VERSION, PARTIAL_UPLOAD, IetfClient, IetfH2Client, Target,
                                    parse_exchange, parse_sf_boolean)

pytestmark = pytest.mark.peers

RESUMABLE_DIR = REPO / "tests" / "resumable"
INTERIM_104 = (b"HTTP/1.1 104 Upload Resumption Supported\r\n"
               b"Upload-Draft-Interop-Version: 6\r\n"
               b"Location: /uploads/abc123\r\n\r\n")


# --- the parser, canned bytes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [1, 7, 4096])
def test_ietf_parser_interim_104_then_final(step):
    data = (b"HTTP/1.1 100 Continue\r\n\r\n" + INTERIM_104 +
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
            b"Upload-Complete: ?1\r\n\r\n{\"ok\":true}")
    r = parse_exchange(data, "POST", step)
    assert [i.status for i in r.interim] == [100, 104]
    assert r.interim[1].headers["upload-draft-interop-version"] == ["6"]
    assert r.status == 201 and r.body == b'{"ok":true}'
    assert r.location == "/uploads/abc123"   # only the 104 carried it
    assert r.complete is True


def test_ietf_parser_final_location_wins_over_interim():
    data = INTERIM_104 + b"HTTP/1.1 201 Created\r\nLocation: /uploads/final\r\nContent-Length: 0\r\n\r\n"
    r = parse_exchange(data)
    assert r.location == "/uploads/final"


def test_ietf_parser_two_104s_first_location_used():
    second = INTERIM_104.replace(b"abc123", b"zzz")
    r = parse_exchange(INTERIM_104 + second + b"HTTP/1.1 204 No Content\r\n\r\n")
    assert [i.status for i in r.interim] == [104, 104]
    assert r.status == 204 and r.body == b""
    assert r.location == "/uploads/abc123"


def test_ietf_parser_head_offset_no_body():
    data = (b"HTTP/1.1 204 No Content\r\nUpload-Offset: 1234\r\nUpload-Complete: ?0\r\nUpload-Length: 9999\r\n"
            b"Cache-Control: no-store\r\nContent-Length: 9999\r\n\r\n")
    r = parse_exchange(data, "HEAD")
    assert r.status == 204 and r.offset == 1234 and r.complete is False and r.body == b""
    assert r.header("upload-length") == "9999"


def test_ietf_parser_chunked_final_after_interim():
    data = INTERIM_104 + b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    r = parse_exchange(data, step=3)
    assert r.status == 200 and r.body == b"hello world" and len(r.interim) == 1


def test_ietf_parser_connection_closed_after_interim():
    with pytest.raises(ConnectionError):
        parse_exchange(INTERIM_104)


@pytest.mark.parametrize("value,expected", [("?1", True), ("?0", False), (" ?1 ", True), ("1", None),
                                            ("true", None), ("?2", None), ("", None), (None, None)])
def test_ietf_structured_boolean(value, expected):
    assert parse_sf_boolean(value) is expected


# --- requests as a loopback server sees them -------------------------------------------------------------------


class CannedServer:
    """Accepts connections on 127.0.0.1:0; per connection reads the request head and up to `read_body` bytes (or
    until the client closes), records them, and answers `reply` as soon as the head has arrived (before the
    body), like a server that sends 104 at once."""

    def __init__(self, replies: List[bytes], send_before_body: bool = True):
        self.replies = list(replies)
        self.send_before_body = send_before_body
        self.received: List[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        for reply in self.replies:
            conn, _ = self.sock.accept()
            conn.settimeout(10)
            got = b""
            sent = False
            try:
                while True:
                    if not sent and b"\r\n\r\n" in got and self.send_before_body:
                        conn.sendall(reply)
                        sent = True
                    data = conn.recv(65536)
                    if not data:
                        break
                    got += data
                    head, _, body = got.partition(b"\r\n\r\n")
                    length = [int(x.split(b":")[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length:")]
                    if b"\r\n\r\n" in got and len(body) >= (length[0] if length else 0):
                        break
                if not sent:
                    conn.sendall(reply)
            except OSError:
                pass
            self.received.append(got)
            conn.close()
        self.done.set()

    def close(self):
        self.sock.close()


def _head_lines(raw: bytes) -> List[str]:
    return raw.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")


def test_ietf_client_create_append_offset_cancel_http1():
    srv = CannedServer([
        INTERIM_104 + b"HTTP/1.1 201 Created\r\nLocation: /uploads/abc123\r\nUpload-Complete: ?0\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nUpload-Offset: 5\r\nUpload-Complete: ?0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ])
    c = IetfClient(Target("127.0.0.1", srv.port), headers=[("Authorization", "Bearer t")])
    created = c.create("/uploads", b"hello", complete=False, length=11)
    assert created.status == 201 and created.location == "/uploads/abc123" and created.complete is False
    assert [i.status for i in created.interim] == [104]
    off = c.offset(created.location)
    assert off.offset == 5 and off.complete is False
    done = c.append(created.location, off.offset, b" world", complete=True)
    assert done.status == 200 and done.body == b"ok"
    assert c.cancel(created.location).status == 204
    assert srv.done.wait(10)
    post, head, patch, delete = srv.received
    assert _head_lines(post)[0] == "POST /uploads HTTP/1.1"
    assert {"Upload-Draft-Interop-Version: 6", "Upload-Complete: ?0", "Upload-Length: 11", "Content-Length: 5",
            "Authorization: Bearer t"} <= set(_head_lines(post)) and post.endswith(b"\r\n\r\nhello")
    assert _head_lines(head)[0] == "HEAD /uploads/abc123 HTTP/1.1"
    assert f"Upload-Draft-Interop-Version: {INTEROP_VERSION}" in _head_lines(head)
    assert _head_lines(patch)[0] == "PATCH /uploads/abc123 HTTP/1.1"
    assert {f"Content-Type: {PARTIAL_UPLOAD}", "Upload-Offset: 5", "Upload-Complete: ?1",
            "Content-Length: 6"} <= set(_head_lines(patch)) and patch.endswith(b"\r\n\r\n world")
    assert _head_lines(delete)[0] == "DELETE /uploads/abc123 HTTP/1.1"
    srv.close()


def test_ietf_client_stop_mid_body_keeps_interim_location_http1():
    srv = CannedServer([INTERIM_104])
    c = IetfClient(Target("127.0.0.1", srv.port))
    body = bytes(range(256)) * 256  # 64 KiB
    r = c.create("/uploads", body, complete=True, stop_after=10 * KiB, interim_wait=5)
    assert r.stopped and r.sent == 10 * KiB and r.status is None
    assert [i.status for i in r.interim] == [104] and r.location == "/uploads/abc123"
    assert srv.done.wait(10)
    (got,) = srv.received
    assert got.partition(b"\r\n\r\n")[2] == body[:10 * KiB]   # exactly the first 10 KiB, then the reset
    srv.close()


class CannedH2Server:
    """One HTTP/2 connection (prior knowledge) on 127.0.0.1:0: answers the first request with a 104 carrying
    Location as soon as its headers arrive, then (unless the stream is reset) 201 when the body has ended.
    Records the request headers, the DATA bytes and whether the stream was reset."""

    def __init__(self):
        import h2.config
        import h2.connection
        self.h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.headers = {}
        self.data = b""
        self.reset = False
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        import h2.events
        conn, _ = self.sock.accept()
        conn.settimeout(10)
        c = self.h2conn
        c.initiate_connection()
        conn.sendall(c.data_to_send())
        try:
            while not self.done.is_set():
                data = conn.recv(65536)
                if not data:
                    break
                for ev in c.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        self.headers = dict(ev.headers)
                        c.send_headers(ev.stream_id, [(":status", "104"), ("location", "/uploads/h2x"),
                                                      ("upload-draft-interop-version", "6")])
                    elif isinstance(ev, h2.events.DataReceived):
                        self.data += ev.data
                        c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        c.send_headers(ev.stream_id, [(":status", "201"), ("location", "/uploads/h2x")],
                                       end_stream=True)
                    elif isinstance(ev, h2.events.StreamReset):
                        self.reset = True
                        self.done.set()
                conn.sendall(c.data_to_send())
        except OSError:
            pass
        self.done.set()
        conn.close()
        self.sock.close()


@pytest.mark.parametrize("stop", [False, True], ids=["whole", "stopped"])
def test_ietf_client_create_h2c(stop):
    srv = CannedH2Server()
    c = IetfH2Client(Target("127.0.0.1", srv.port))
    body = b"x" * (40 * KiB)
    r = c.create("/uploads", body, complete=True, stop_after=8 * KiB if stop else None, interim_wait=5)
    assert [i.status for i in r.interim] == [104] and r.location == "/uploads/h2x", r
    assert srv.done.wait(10)
    assert srv.headers[":method"] == "POST" and srv.headers["upload-complete"] == "?1"
    assert srv.headers["upload-draft-interop-version"] == "6" and srv.headers["content-length"] == str(len(body))
    if stop:
        assert r.stopped and r.status is None and r.sent == 8 * KiB
        assert srv.reset and srv.data == body[:8 * KiB]
    else:
        assert r.status == 201 and not srv.reset and srv.data == body


# --- the same requests as a public draft -05 client ------------------------------------------------------------


def _fields(raw: bytes, names) -> dict:
    lines = _head_lines(raw)
    got = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return {"request": lines[0].rsplit(" ", 1)[0], **{n: got.get(n) for n in names}}


def test_ietf_client_sends_what_tus_js_client_draft05_sends(tmp_path):
    """tus-js-client's "ietf-draft-05" protocol and this client, creating an empty upload and appending the whole
    file, put the same draft fields on the wire."""
    require_tools("" if (RESUMABLE_DIR / "node_modules" / "tus-js-client").is_dir() and shutil.which("node")
                  else "node or tus-js-client missing (npm ci --prefix tests/resumable)", "UG_SKIP_RESUMABLE")
    data = bytes(range(250)) * 12
    replies = [b"HTTP/1.1 201 Created\r\nLocation: /uploads/abc123\r\nUpload-Draft-Interop-Version: 6\r\n"
               b"Content-Length: 0\r\nConnection: close\r\n\r\n",
               f"HTTP/1.1 204 No Content\r\nUpload-Offset: {len(data)}\r\nUpload-Complete: ?1\r\n"
               f"Connection: close\r\n\r\n".encode()]
    post_names = ("upload-draft-interop-version", "upload-complete", "upload-length", "content-length")
    patch_names = post_names[:2] + ("upload-offset", "content-type", "content-length")

    f = tmp_path / "f.bin"
    f.write_bytes(data)
    public = CannedServer(replies, send_before_body=False)
    cp = subprocess.run(["node", str(RESUMABLE_DIR / "tus_upload.mjs"), "--endpoint",
                         f"http://127.0.0.1:{public.port}/uploads", "--file", str(f), "--protocol", "ietf-draft-05",
                         "--retry-delays", ""], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0 and json.loads(cp.stdout.splitlines()[-1])["ok"], cp.stdout + cp.stderr
    assert public.done.wait(10)

    ours = CannedServer(replies, send_before_body=False)
    c = IetfClient(Target("127.0.0.1", ours.port))
    created = c.create("/uploads", b"", complete=False, length=len(data))
    assert c.append(created.location, 0, data, complete=True).status == 204
    assert ours.done.wait(10)

    for (theirs_raw, ours_raw), names in zip(zip(public.received, ours.received), (post_names, patch_names)):
        assert _fields(ours_raw, names) == _fields(theirs_raw, names)
    assert _fields(ours.received[1], patch_names) == {
        "request": "PATCH /uploads/abc123", "upload-draft-interop-version": "6", "upload-complete": "?1",
        "upload-offset": "0", "content-type": PARTIAL_UPLOAD, "content-length": str(len(data))}
    assert public.received[1].endswith(data) and ours.received[1].endswith(data)
    public.close()
    ours.close()
