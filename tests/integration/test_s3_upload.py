"""Routes with `store: s3`: file parts streamed into S3-compatible object storage (the session's Swift, through
uploadgate's own S3 client) instead of storage.dir, the manifest naming s3:// objects.

Byte-exact objects (read back with boto3, never through uploadgate) and the manifest's sha256 for multipart bodies
with files below, at and across part_size, a raw body, many small files and one >= 100 MiB file; nothing left in the
store (no object, no incomplete multipart upload; aborts are asynchronous, so polled with a deadline) when the client
leaves mid-body, a limit refuses the body, the app refuses it or cannot be reached, or the store is cut mid-body;
503 store_unavailable with Retry-After while the store is down; and backpressure: a store slower than the client
keeps uploadgate's memory bounded (peak RSS from /proc) while the upload still completes byte-exact. A crash (SIGKILL)
mid-upload leaves the upload's pending marker above everything it stored, and the janitor's sweep removes it all.

Each test works under its own key prefix (storage.s3.prefix), so the one bucket is shared safely.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from urllib.parse import urlsplit

import pytest

from checks import assert_nothing_reached_app, find_manifest, manifests_in_log
from harness import (H2Conn, MiB, abort_socket, connect, curl, free_port, http1_head, multipart_body,
                     multipart_content_type, wait_until)
from harness.relay import Relay
from harness.s3store import unique_prefix
from test_s3_client import run_probe

PART = 5 * MiB  # the smallest part_size S3 allows: multi-part files stay small
IN_FLIGHT = 2
TRANSPORTS = ["h1", "h2c", "h2"]


# ---- set-up ----------------------------------------------------------------------------------------------------------


def _endpoint_target(s3):
    u = urlsplit(s3.endpoint)
    return u.hostname, u.port


def start_s3_gateway(make_gateway, tmp_path, s3, prefix, *, name="gw", endpoint=None,
                     routes=("/upload", "/upload-reject"), limits=None, s3_options=None, configure_extra=None, **kw):
    """uploadgate with storage.s3 on the session's Swift (or `endpoint`, a relay in front of it), its credentials in a
    file, and `routes` storing there (with `limits` added); `s3_options` are added to storage.s3, and
    `configure_extra` (a configure= hook) runs last."""
    (tmp_path / name).mkdir(parents=True, exist_ok=True)
    cred = tmp_path / name / "s3-credentials"
    cred.write_text(f"# test credentials\nAWS_ACCESS_KEY_ID={s3.access_key}\nAWS_SECRET_ACCESS_KEY={s3.secret_key}\n")

    def configure(c):
        c["storage"]["s3"] = {"endpoint": endpoint or s3.endpoint, "region": s3.region, "bucket": s3.bucket,
                              "prefix": prefix, "path_style": True, "credentials_file": str(cred),
                              "part_size": "5MiB", "parts_in_flight": IN_FLIGHT, **(s3_options or {})}
        for r in c["routes"]:
            if r["path"] in routes:
                r["store"] = "s3"
                if limits:
                    r.setdefault("limits", {}).update(limits)
        if configure_extra:
            configure_extra(c)

    return make_gateway(name, configure=configure, **kw)


def receive(sock, until: bytes, timeout: float) -> bytes:
    """What the socket brings until `until` is among it, the peer closes, or `timeout` s pass."""
    sock.settimeout(timeout)
    data = b""
    try:
        while until not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    return data


def head_status(gw, path="/upload"):
    """The status uploadgate answers a head with Expect: 100-continue: 100 when it would take the body."""
    s = connect(gw)
    try:
        s.sendall(http1_head("POST", path, gw.authority, [("Content-Type", "application/octet-stream"),
                                                          ("Content-Length", "1"), ("Expect", "100-continue")]))
        data = receive(s, b"\r\n", 10)
        return int(data.split(b" ", 2)[1]), data
    finally:
        abort_socket(s, rst=False)


def wait_store_up(gw, timeout=30.0):
    """Until the store answered uploadgate's probe (the route lets bodies in)."""
    wait_until(lambda: head_status(gw)[0] == 100, timeout, "uploadgate to see the store up")


def wait_store_clean(s3, prefix, timeout=30.0):
    """No object and no incomplete multipart upload under `prefix` (aborts and deletes run in the background)."""
    wait_until(lambda: not s3.list_objects(prefix) and not s3.list_uploads(prefix), timeout,
               f"nothing left under {prefix}")


def upload(gw, proto, path, body, content_type, timeout=300.0):
    """One request with `body` (a file on disk for curl) -> Response."""
    data = gw.workdir / f"body-{time.monotonic_ns()}.bin"
    data.write_bytes(body)
    return curl(gw, proto, path, "-X", "POST", "-H", f"Content-Type: {content_type}", "-H", "Expect:",
                "--data-binary", f"@{data}", timeout=timeout)


def check_objects(s3, gw, res, sent, prefix):
    """201 relayed; the manifest names one object per sent file, in order: path null, url/bucket/key/etag, size and
    sha256 of the bytes sent; every object byte-exact in the store; no multipart upload left. Returns the manifest."""
    assert res.status == 201, res
    _, m = find_manifest(gw, res.json()["id"])
    assert len(m["files"]) == len(sent), m
    for n, (f, data) in enumerate(zip(m["files"], sent)):
        key = f"{prefix}{m['id']}/{n}"
        assert f["path"] is None
        assert (f["url"], f["bucket"], f["key"]) == (f"s3://{s3.bucket}/{key}", s3.bucket, key), f
        assert f["etag"].startswith('"') and f["etag"].endswith('"'), f
        assert f["size"] == len(data)
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        assert s3.get(key) == data, f"object {key} differs from the bytes sent"
    assert s3.list_uploads(prefix) == []
    assert sorted(s3.list_objects(prefix)) == sorted(f"{prefix}{m['id']}/{n}" for n in range(len(sent)))
    assert gw.store_entries() == [], "an S3 route wrote to storage.dir"
    return m


def files_body(files):
    return multipart_body([{"name": "title", "data": b"s3"}] +
                          [{"name": f"f{n}", "filename": f"f{n}.bin", "content_type": "application/octet-stream",
                            "data": d} for n, d in enumerate(files)])


# ---- storing ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("proto", TRANSPORTS)
def test_s3_multipart_files_below_at_and_across_part_size_are_byte_exact(make_gateway, tmp_path, s3_server, proto):
    prefix = unique_prefix("three")
    gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix)
    wait_store_up(gw)
    files = [os.urandom(100 * 1024 + 3), os.urandom(PART), os.urandom(12 * MiB + 1)]
    res = upload(gw, proto, "/upload", files_body(files), multipart_content_type())
    m = check_objects(s3_server, gw, res, files, prefix)
    assert m["fields"] == [{"name": "title", "value": "s3"}]


def test_s3_raw_body_is_one_object(make_gateway, tmp_path, s3_server):
    prefix = unique_prefix("raw")
    gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix)
    wait_store_up(gw)
    body = os.urandom(6 * MiB + 5)
    res = upload(gw, "h1", "/upload", body, "application/x-thing")
    m = check_objects(s3_server, gw, res, [body], prefix)
    assert m["files"][0]["field"] is None and m["files"][0]["content_type"] == "application/x-thing"


def test_s3_many_small_files_keep_body_order(make_gateway, tmp_path, s3_server):
    prefix = unique_prefix("many")
    gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix, limits={"max_files": 64})
    wait_store_up(gw)
    files = [os.urandom(1000 + 97 * n) for n in range(50)]
    res = upload(gw, "h2c", "/upload", files_body(files), multipart_content_type())
    check_objects(s3_server, gw, res, files, prefix)


@pytest.mark.slow
def test_s3_file_of_100_mib(make_gateway, tmp_path, s3_server):
    prefix = unique_prefix("large")
    gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix, limits={"max_file": "200MiB"})
    wait_store_up(gw)
    files = [os.urandom(100 * MiB + 11)]
    res = upload(gw, "h1", "/upload", files_body(files), multipart_content_type(), timeout=600)
    check_objects(s3_server, gw, res, files, prefix)


# ---- nothing left behind ---------------------------------------------------------------------------------------------


class _Sender:
    """One upload sent in pieces over `proto`, so a test can wait for the store between them."""

    def __init__(self, gw, proto, body):
        self.gw, self.proto, self.body, self.at = gw, proto, body, 0
        headers = [("content-type", multipart_content_type()), ("content-length", str(len(body)))]
        if proto == "h1":
            self.sock = connect(gw)
            self.sock.sendall(http1_head("POST", "/upload", gw.authority, headers))
        else:
            self.conn = H2Conn(gw, tls=proto == "h2")
            self.sid = self.conn.start("POST", "/upload", headers)

    def send(self, upto):
        piece, self.at = self.body[self.at:upto], upto
        if self.proto == "h1":
            self.sock.sendall(piece)
        else:
            self.conn.send(self.sid, piece, end_stream=upto == len(self.body))

    def leave(self):
        if self.proto == "h1":
            abort_socket(self.sock, rst=True)
        else:
            self.conn.reset(self.sid)
            self.conn.close()

    def answer(self):
        """(status, body) of the response."""
        if self.proto == "h1":
            data = receive(self.sock, b'"}}', 60)  # an error's JSON body ends so
            abort_socket(self.sock, rst=False)
            head, _, body = data.partition(b"\r\n\r\n")
            return int(head.split(b" ", 2)[1]), body
        r = self.conn.wait_response(self.sid)
        self.conn.close()
        return r.status, r.body


def _first_object_stored(s3, prefix):
    """The upload's first file is a complete object in the store (so what follows must remove it)."""
    return wait_until(lambda: [k for k in s3.list_objects(prefix) if k.endswith("/0")], 30, "the first object")


@pytest.mark.parametrize("proto", TRANSPORTS)
def test_s3_client_leaving_mid_body_leaves_no_object_nor_upload(make_gateway, tmp_path, s3_server, proto):
    prefix = unique_prefix("left")
    gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix)
    wait_store_up(gw)
    body = files_body([os.urandom(256 * 1024), os.urandom(20 * MiB)])
    sender = _Sender(gw, proto, body)
    sender.send(1 * MiB)  # the first file whole: a complete object
    _first_object_stored(s3_server, prefix)
    sender.send(13 * MiB)  # and the second past two parts: a multipart upload with parts
    wait_until(lambda: s3_server.list_uploads(prefix), 30, "the second file's multipart upload")
    sender.leave()
    wait_store_clean(s3_server, prefix)
    assert_nothing_reached_app(gw)


def test_s3_crash_mid_upload_leaves_only_what_the_sweep_removes(make_gateway, tmp_path, s3_server):
    """uploadgate killed (SIGKILL) mid-body once the first file is a complete object: the store then holds that object,
    the second file's incomplete multipart upload and the upload's pending marker `<id>/.pending`, which was placed
    before any object was completed. The janitor's sweep (the engine's, run by the probe: Swift's Initiated cannot be
    backdated, so the age is 0 instead of storage.retention) deletes every object under the stale marker, then aborts
    the marker and the upload. A delivered upload under the same prefix has no marker any more and is kept."""
    prefix = unique_prefix("crash")
    gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix)
    wait_store_up(gw)
    kept_data = os.urandom(1000)
    kept = check_objects(s3_server, gw, upload(gw, "h1", "/upload", files_body([kept_data]), multipart_content_type()),
                         [kept_data], prefix)
    kept_key = f"{prefix}{kept['id']}/0"
    body = files_body([os.urandom(256 * 1024), os.urandom(20 * MiB)])
    sender = _Sender(gw, "h1", body)
    sender.send(1 * MiB)
    first = wait_until(lambda: [k for k in s3_server.list_objects(prefix) if k.endswith("/0") and k != kept_key], 30,
                       "the first object")[0]
    at = first[:-1]  # "<prefix><id>/"
    sender.send(13 * MiB)
    wait_until(lambda: (at + "1") in [k for k, _ in s3_server.list_uploads(prefix)], 30,
               "the second file's multipart upload")
    gw.proc.signal(signal.SIGKILL)
    assert gw.proc.popen.wait(10) == -signal.SIGKILL
    gw.proc.stopped_by_us = True
    sender.leave()
    assert sorted(s3_server.list_objects(prefix)) == sorted([kept_key, at + "0"])
    assert sorted(k for k, _ in s3_server.list_uploads(prefix)) == [at + ".pending", at + "1"]
    rc, result, err = run_probe(s3_server, ["--prefix", prefix, "sweep", "3600000"])
    assert (rc, result) == (0, {"aborted": 0, "error": "ok"}), err
    assert sorted(s3_server.list_objects(prefix)) == sorted([kept_key, at + "0"]), "younger than the age: kept"
    # Initiated has whole seconds, which Swift may round up: a just-created upload can look up to 1 s younger, so one
    # sweep may take the marker and a later one the younger file upload
    aborted = []

    def sweep():
        rc, result, err = run_probe(s3_server, ["--prefix", prefix, "sweep", "0"])
        assert (rc, result["error"]) == (0, "ok"), err
        aborted.append(result["aborted"])
        return not s3_server.list_uploads(prefix)
    wait_until(sweep, 10, "the sweep to remove the crashed upload", interval=0.5)
    assert sum(aborted) == 2, aborted
    assert s3_server.list_objects(prefix) == [kept_key], "only the delivered upload's object is left"
    assert s3_server.get(kept_key) == kept_data
    assert len(gw.app_requests("/upload")) == 1, "the crashed upload reached the app"


@pytest.mark.parametrize("proto", TRANSPORTS)
def test_s3_body_refused_mid_body_leaves_nothing(make_gateway, tmp_path, s3_server, proto):
    prefix = unique_prefix("refused")
    gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix, limits={"max_file": "7MiB"})
    wait_store_up(gw)
    body = files_body([os.urandom(64 * 1024), os.urandom(12 * MiB)])
    sender = _Sender(gw, proto, body)
    sender.send(1 * MiB)
    _first_object_stored(s3_server, prefix)
    try:
        sender.send(len(body))
    except OSError:
        pass  # answered and closed before the whole body went
    status, answer = sender.answer()
    assert status == 413, answer
    assert json.loads(answer)["error"]["code"] == "file_too_large"
    wait_store_clean(s3_server, prefix)
    assert_nothing_reached_app(gw)


def test_s3_declared_length_past_the_largest_object_is_413_at_the_head(make_gateway, tmp_path, s3_server):
    """10000 parts of part_size (5 MiB) is the most one object holds: a longer declared body is refused before it is
    read, whatever the route's own max_body."""
    prefix = unique_prefix("too-long")
    gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix, limits={"max_body": "100GiB", "max_file": "100GiB"})
    wait_store_up(gw)
    s = connect(gw)
    s.sendall(http1_head("POST", "/upload", gw.authority, [("Content-Type", "application/octet-stream"),
                                                          ("Content-Length", str(10000 * PART + 1))]))
    data = receive(s, b'"}}', 30)
    abort_socket(s, rst=False)
    assert data.startswith(b"HTTP/1.1 413 "), data
    body = json.loads(data.partition(b"\r\n\r\n")[2])
    assert body["error"]["code"] == "body_too_large"
    assert "largest object the store takes (10000 parts of part_size: 50000 MiB)" in body["error"]["message"], body
    assert_nothing_reached_app(gw)
    assert s3_server.list_objects(prefix) == [] and s3_server.list_uploads(prefix) == []


def test_s3_objects_the_app_refused_are_deleted(make_gateway, tmp_path, s3_server):
    prefix = unique_prefix("app-refused")
    gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix)
    wait_store_up(gw)
    res = upload(gw, "h1", "/upload-reject", files_body([os.urandom(64 * 1024), os.urandom(6 * MiB)]),
                 multipart_content_type())
    assert res.status == 422, res
    entries = [m for _, m in manifests_in_log(gw)]
    assert len(entries) == 1 and entries[0]["files"][1]["url"].startswith("s3://"), entries
    wait_store_clean(s3_server, prefix)


def test_s3_objects_go_when_the_app_cannot_be_reached(make_gateway, tmp_path, s3_server):
    prefix = unique_prefix("no-app")
    gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix, app=False,
                          backend_url=f"http://127.0.0.1:{free_port()}")
    wait_store_up(gw)
    res = upload(gw, "h1", "/upload", files_body([os.urandom(64 * 1024), os.urandom(6 * MiB)]),
                 multipart_content_type())
    assert res.status == 502, res
    assert res.json()["error"]["code"] != "store_failed"
    wait_store_clean(s3_server, prefix)


# ---- the store failing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("proto", TRANSPORTS)
def test_s3_store_down_at_the_head_is_503_with_retry_after(make_gateway, tmp_path, s3_server, proto):
    relay = Relay(_endpoint_target(s3_server))
    relay.down()
    try:
        prefix = unique_prefix("down")
        gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix, endpoint=relay.url)
        res = upload(gw, proto, "/upload", files_body([os.urandom(1024)]), multipart_content_type())
        assert res.status == 503, res
        assert res.json()["error"]["code"] == "store_unavailable"
        assert res.header("retry-after") == "5", res.headers
        assert_nothing_reached_app(gw)
        assert s3_server.list_objects(prefix) == [] and s3_server.list_uploads(prefix) == []
    finally:
        relay.close()


def test_s3_store_cut_mid_body_is_502_and_leaves_nothing(make_gateway, tmp_path, s3_server):
    relay = Relay(_endpoint_target(s3_server))
    try:
        prefix = unique_prefix("cut")
        gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix, endpoint=relay.url)
        wait_store_up(gw)
        body = files_body([os.urandom(30 * MiB)])
        headers = [("Content-Type", multipart_content_type()), ("Content-Length", str(len(body)))]
        s = connect(gw)
        s.sendall(http1_head("POST", "/upload", gw.authority, headers) + body[:8 * MiB])
        wait_until(lambda: [k for k, _ in s3_server.list_uploads(prefix) if not k.endswith("/.pending")] or None, 20,
                   "the file's multipart upload to begin")
        relay.down()  # the store is gone mid-body: every retry fails
        s.settimeout(120)
        answer = b""
        try:
            s.sendall(body[8 * MiB:])
        except OSError:
            pass  # answered and closed before the whole body went
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
        s.close()
        assert answer.startswith(b"HTTP/1.1 502 "), answer[:300]
        assert b'"code":"store_failed"' in answer, answer[:600]
        relay.up()  # the store is back: the background abort gets through
        wait_store_clean(s3_server, prefix, timeout=60)
        assert_nothing_reached_app(gw)
    finally:
        relay.close()


# ---- backpressure ----------------------------------------------------------------------------------------------------


def _rss_kib(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


@pytest.mark.parametrize("proto", TRANSPORTS)
def test_s3_slow_store_keeps_memory_bounded(make_gateway, tmp_path, s3_server, proto, monkeypatch):
    """The store takes 8 MiB/s per connection, the client sends 96 MiB as fast as it can: uploadgate stops reading (HTTP/1.1) or
    holds the stream's window (HTTP/2), so its peak RSS grows by at most the object's parts (part_size x
    (parts_in_flight + 1)), the HTTP/2 windows (16 MiB) and slack - not by the body - and the object is byte-exact."""
    # Under AddressSanitizer freed memory waits in a quarantine (256 MiB by default) before it is reused, so peak RSS
    # grows with everything freed - TLS records on h2 - and says nothing of what the upload holds: keep it small.
    options = [o for o in os.environ.get("ASAN_OPTIONS", "").split(":") if o]
    if options:
        monkeypatch.setenv("ASAN_OPTIONS", ":".join(options + ["quarantine_size_mb=1"]))
    relay = Relay(_endpoint_target(s3_server), rate=8 * MiB)
    try:
        prefix = unique_prefix("slow-store")
        gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix, endpoint=relay.url)
        wait_store_up(gw)
        pid = gw.proc.pid
        before = _rss_kib(pid, "VmHWM")
        files = [os.urandom(96 * MiB)]
        res = upload(gw, proto, "/upload", files_body(files), multipart_content_type(), timeout=300)
        peak = _rss_kib(pid, "VmHWM")
        check_objects(s3_server, gw, res, files, prefix)
        window = 16 * MiB if proto != "h1" else 0
        bound = PART * (IN_FLIGHT + 1) + window + 24 * MiB
        grown = (peak - before) * 1024
        assert grown < bound, f"peak RSS grew by {grown / MiB:.1f} MiB, bound {bound / MiB:.1f} MiB"
    finally:
        relay.close()
