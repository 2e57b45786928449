"""Successful uploads: multipart and raw bodies over every client protocol.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid

import pytest

from checks import Sent, expect_upload, find_manifest, header_map
from harness import (ALL_PROTOS, ERROR_PROTOS, H2Conn, KiB, MiB, PROTOS, UPLOAD_PROTOS, curl, curl_form_args,
                     make_file, multipart_body, multipart_content_type, sha256_file, wait_until)


@pytest.mark.parametrize("proto", ALL_PROTOS)
def test_single_file_and_fields(gateway, tmp_path, proto):
    f = make_file(tmp_path / "data", "report.pdf", 300 * KiB + 7)
    rid = f"req-{uuid.uuid4().hex}"
    fields = [("title", "hello"), ("note", "two words, ünïcode ✓")]
    res = curl(gateway, proto, "/upload?x=1&y=two",
               *curl_form_args([("file", f, "report.pdf", "application/pdf")], fields),
               "-H", f"X-Request-Id: {rid}")
    expect_upload(gateway, res, proto=proto, sent=[Sent("file", "report.pdf", "application/pdf", f)], fields=fields,
                  path="/upload?x=1&y=two", request_id=rid)
    assert len(gateway.app_log()) == 1, gateway.app_log()


@pytest.mark.parametrize("proto", UPLOAD_PROTOS)
def test_four_20mib_files_in_one_request(gateway, tmp_path, proto):
    files = [make_file(tmp_path / "data", f"part{i}.bin", 20 * MiB) for i in range(4)]
    sent = [
        Sent("a", "part0.bin", "application/octet-stream", files[0]),
        Sent("b", "part1.bin", "image/png", files[1]),
        Sent("docs", "part2.bin", "application/pdf", files[2]),
        Sent("docs", "part3.bin", "application/zip", files[3]),
    ]
    fields = [("title", "four files"), ("kind", "bulk")]
    res = curl(gateway, proto, "/upload",
               *curl_form_args([(s.field, s.file, s.filename, s.content_type) for s in sent], fields))
    expect_upload(gateway, res, proto=proto, sent=sent, fields=fields)
    # Bodies buffered on disk by the server (its .spool) are not left behind either.
    wait_until(lambda: not gateway.internal_files(), 5, f"spool files to go: {gateway.internal_files()}")


@pytest.mark.parametrize("proto", UPLOAD_PROTOS)
def test_four_20mib_files_in_parallel_requests(gateway, tmp_path, proto):
    p = PROTOS[proto]
    files = [make_file(tmp_path / "data", f"par{i}.bin", 20 * MiB) for i in range(4)]
    procs = []
    for i, f in enumerate(files):
        out = tmp_path / f"out{i}"
        argv = ["curl", "-sS", *p.curl_args, "-o", str(out), "-w", "%{json}", "--max-time", "120",
                *curl_form_args([("file", f, f"par{i}.bin", "application/octet-stream")], [("n", str(i))]),
                "-H", f"X-Request-Id: parallel-{i}"]
        if p.tls:
            argv += ["--cacert", str(gateway.cert)]
        argv.append(gateway.url(p, f"/upload?n={i}"))
        procs.append((subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE), out))
    ids = set()
    for i, (proc, out) in enumerate(procs):
        stdout, stderr = proc.communicate(timeout=150)
        assert proc.returncode == 0, f"curl {i}: rc {proc.returncode}: {stderr.decode()}"
        info = json.loads(stdout)
        assert info["http_code"] == 201, (i, info, out.read_bytes()[:500])
        if p.expect_version:
            assert info["http_version"] == p.expect_version
        body = json.loads(out.read_bytes())
        ids.add(body["id"])
        entry, m = find_manifest(gateway, body["id"])
        assert m["path"] == f"/upload?n={i}"
        assert m["fields"] == [{"name": "n", "value": str(i)}]
        assert [(x["size"], x["sha256"]) for x in m["files"]] == [(files[i].size, files[i].sha256)]
        assert header_map(entry["headers"])["x-request-id"] == [f"parallel-{i}"]
        assert body["files"][0]["sha256"] == files[i].sha256
        assert sha256_file(body["files"][0]["stored_as"]) == files[i].sha256
    assert len(ids) == 4
    assert len(gateway.app_log()) == 4
    gateway.wait_store_empty(5)


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
def test_four_uploads_multiplexed_on_one_h2_connection(gateway, tmp_path, tls):
    """4 streams on one HTTP/2 connection, DATA frames interleaved round-robin."""
    datas = [make_file(tmp_path / "data", f"mux{i}.bin", 5 * MiB + i).read() for i in range(4)]
    bodies = [multipart_body([{"name": "title", "data": f"mux {i}".encode()},
                              {"name": "file", "filename": f"mux{i}.bin", "content_type": "application/x-test",
                               "data": d}]) for i, d in enumerate(datas)]
    c = H2Conn(gateway, tls=tls, timeout=60)
    try:
        sids = [c.start("POST", f"/upload?mux={i}", [("content-type", multipart_content_type()),
                                                      ("content-length", str(len(b)))])
                for i, b in enumerate(bodies)]
        offsets = [0] * 4
        chunk = 64 * KiB
        while any(o < len(b) for o, b in zip(offsets, bodies)):
            for i, (sid, b) in enumerate(zip(sids, bodies)):
                if offsets[i] >= len(b):
                    continue
                piece = b[offsets[i]:offsets[i] + chunk]
                offsets[i] += len(piece)
                assert c.send(sid, piece, end_stream=offsets[i] >= len(b)), f"stream {sid} stopped: {c.results[sid]}"
        results = [c.wait_response(sid, 60) for sid in sids]
    finally:
        c.close()
    for i, r in enumerate(results):
        assert r.status == 201 and r.ended, r
        body = r.json()
        entry, m = find_manifest(gateway, body["id"])
        assert m["client"]["protocol"] == "HTTP/2"
        assert m["path"] == f"/upload?mux={i}"
        assert m["fields"] == [{"name": "title", "value": f"mux {i}"}]
        assert m["files"][0]["sha256"] == hashlib.sha256(datas[i]).hexdigest()
        assert m["files"][0]["size"] == len(datas[i])
    gateway.wait_store_empty(5)


@pytest.mark.parametrize("proto", ALL_PROTOS)
def test_raw_put_octet_stream(gateway, tmp_path, proto):
    f = make_file(tmp_path / "data", "blob.bin", 3 * MiB + 1)
    res = curl(gateway, proto, "/upload?name=blob.bin", "-X", "PUT", "--data-binary", f"@{f.path}",
               "-H", "Content-Type: application/octet-stream")
    expect_upload(gateway, res, proto=proto, sent=[Sent(None, None, "application/octet-stream", f)], method="PUT",
                  path="/upload?name=blob.bin")


@pytest.mark.parametrize("proto", UPLOAD_PROTOS)
def test_client_json_body_is_stored_as_a_file(gateway, tmp_path, proto):
    """A JSON body on an upload route is data like any other: stored, never taken for a manifest."""
    fake = {"version": 1, "id": "0" * 32, "route": "/upload", "method": "POST", "path": "/upload",
            "received_at": "2026-01-01T00:00:00.000Z", "client": {"address": "6.6.6.6", "protocol": "HTTP/1.1"},
            "fields": [], "files": [{"field": "file", "filename": "passwd", "content_type": "text/plain",
                                     "path": "/etc/passwd", "size": 1, "sha256": "0" * 64}]}
    raw = json.dumps(fake, indent=1).encode()
    src = tmp_path / "client.json"
    src.write_bytes(raw)
    from harness import LocalFile, sha256_bytes
    lf = LocalFile(src, len(raw), sha256_bytes(raw))
    res = curl(gateway, proto, "/upload", "--data-binary", f"@{src}", "-H", "Content-Type: application/json")
    m = expect_upload(gateway, res, proto=proto, sent=[Sent(None, None, "application/json", lf)])
    assert m["id"] != fake["id"]
    stored = res.json()["files"][0]["stored_as"]
    assert open(stored, "rb").read() == raw
    # Exactly one request reached the app, and it was uploadgate's manifest.
    log = gateway.app_log()
    assert len(log) == 1 and log[0]["json"]["id"] == m["id"] and log[0]["body_sha256"] != lf.sha256


def test_zero_byte_file_and_empty_field(gateway, tmp_path):
    empty = make_file(tmp_path / "data", "empty.txt", 0)
    small = make_file(tmp_path / "data", "small.txt", 1)
    fields = [("empty", ""), ("title", "x")]
    res = curl(gateway, "h1", "/upload",
               *curl_form_args([("e", empty, "empty.txt", "text/plain"), ("s", small, "small.txt", "text/plain")],
                               fields))
    expect_upload(gateway, res, proto="h1", fields=fields,
                  sent=[Sent("e", "empty.txt", "text/plain", empty), Sent("s", "small.txt", "text/plain", small)])


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_prefix_route_forwards_to_the_request_path(gateway, tmp_path, proto):
    f = make_file(tmp_path / "data", "b.bin", 100 * KiB)
    res = curl(gateway, proto, "/files/a/b.bin?v=2", "-T", str(f.path), "-H", "Content-Type: application/x-thing")
    expect_upload(gateway, res, proto=proto, sent=[Sent(None, None, "application/x-thing", f)], route="/files/*",
                  method="PUT", path="/files/a/b.bin?v=2", app_path="/files/a/b.bin?v=2")


def test_manifest_paths_use_storage_dir_without_app_dir(make_gateway, tmp_path):
    gw = make_gateway(app_dir=None)
    f = make_file(tmp_path / "data", "x.bin", 10 * KiB)
    res = curl(gw, "h1", "/upload", *curl_form_args([("file", f, "x.bin", "application/octet-stream")]))
    m = expect_upload(gw, res, proto="h1", sent=[Sent("file", "x.bin", "application/octet-stream", f)])
    assert m["files"][0]["path"] == f"{gw.store_dir}/{m['id']}/0"


@pytest.mark.parametrize("proto", ["h1", "h2c"])
def test_request_id_is_generated_when_absent(gateway, tmp_path, proto):
    f = make_file(tmp_path / "data", "x.bin", 1 * KiB)
    ids = []
    for _ in range(2):
        res = curl(gateway, proto, "/upload", *curl_form_args([("file", f, "x.bin", None)]))
        entry, _ = find_manifest(gateway, res.json()["id"])
        ids.append(header_map(entry["headers"])["x-request-id"][0])
    assert ids[0] != ids[1], "generated request ids must differ"


def test_headers_forwarded_with_the_manifest(gateway, tmp_path):
    """End-to-end headers go along; hop-by-hop ones (and those named in Connection) do not;
    X-Forwarded-For already present is kept and the client address appended."""
    f = make_file(tmp_path / "data", "x.bin", 2 * KiB)
    res = curl(gateway, "h1", "/upload",
               *curl_form_args([("file", f, "x.bin", "application/octet-stream")]),
               "-H", "X-Custom: abc", "-H", "Authorization: Bearer s3cr3t", "-H", "Cookie: a=b",
               "-H", "Connection: keep-alive, X-Hop", "-H", "X-Hop: must-not-pass", "-H", "Keep-Alive: timeout=5",
               "-H", "X-Forwarded-For: 10.1.2.3", "-H", "Content-Encoding: identity")
    assert res.status == 201, res
    entry, _ = find_manifest(gateway, res.json()["id"])
    h = header_map(entry["headers"])
    assert h.get("x-custom") == ["abc"]
    assert h.get("authorization") == ["Bearer s3cr3t"]
    assert h.get("cookie") == ["a=b"]
    assert "x-hop" not in h and "keep-alive" not in h and "content-encoding" not in h, h
    assert ",".join(h.get("x-forwarded-for", [])).replace(" ", "") == "10.1.2.3,127.0.0.1", h.get("x-forwarded-for")
    assert h.get("host") == [gateway.app.authority], h.get("host")
    assert h.get("content-type") == ["application/json"]


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_example_app_logs_the_client_uploadgate_saw(gateway, tmp_path, proto):
    """The example app logs the client as the last X-Forwarded-For entry, the peer uploadgate saw: in its request log
    and in uvicorn's access log. Three clients: 127.0.0.1 as is (uvicorn alone made it None, as it skips its trusted
    127.0.0.1), 127.0.0.1 claiming another address (uvicorn alone believed the claim), and 127.0.0.2 (uploadgate's own
    address towards the app, 127.0.0.1, is not the client)."""
    f = make_file(tmp_path / "data", "c.bin", 4 * KiB)
    claim = ["-H", "X-Forwarded-For: 10.9.8.7"]
    res = curl(gateway, proto, "/upload", *curl_form_args([("file", f, "c.bin", None)]))
    assert res.status == 201, res
    res = curl(gateway, proto, "/api/items?from=claim", *claim)
    assert res.status == 200, res
    res = curl(gateway, proto, "/api/items?from=other", *claim, "--interface", "127.0.0.2")
    assert res.status == 200, res

    logged = [(e["method"], e["path"], e["client"]) for e in gateway.app_log() if e["path"] != "/health"]
    assert logged == [("POST", "/upload", ["127.0.0.1", 0]), ("GET", "/api/items?from=claim", ["127.0.0.1", 0]),
                      ("GET", "/api/items?from=other", ["127.0.0.2", 0])], logged
    access = ['127.0.0.1:0 - "POST /upload ', '127.0.0.1:0 - "GET /api/items?from=claim ',
              '127.0.0.2:0 - "GET /api/items?from=other ']

    def access_lines():
        return [line.split("INFO:", 1)[-1].strip() for line in gateway.app.proc.output().splitlines()
                if ' - "' in line and '"GET /health ' not in line]

    # uvicorn writes its access line once the response is sent, maybe after curl has it.
    wait_until(lambda: len(access_lines()) >= len(access), 10, "uvicorn's access log lines")
    lines = access_lines()
    assert len(lines) == len(access) and all(line.startswith(a) for line, a in zip(lines, access)), lines


def test_unix_socket_backend(make_gateway, tmp_path):
    gw = make_gateway(uds_app=True)
    f = make_file(tmp_path / "data", "u.bin", 256 * KiB)
    res = curl(gw, "h2c", "/upload", *curl_form_args([("file", f, "u.bin", "application/octet-stream")]))
    expect_upload(gw, res, proto="h2c", sent=[Sent("file", "u.bin", "application/octet-stream", f)])
    res = curl(gw, "h1", "/api/items")
    assert res.status == 200 and res.json()["items"][0]["name"] == "alpha", res


def test_ipv6_listener(make_gateway, tmp_path):
    try:
        import socket
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    gw = make_gateway(listen_host="::1")
    f = make_file(tmp_path / "data", "v6.bin", 64 * KiB)
    for proto in ("h1", "h2"):
        res = curl(gw, proto, "/upload", *curl_form_args([("file", f, "v6.bin", "text/plain")]))
        expect_upload(gw, res, proto=proto, sent=[Sent("file", "v6.bin", "text/plain", f)], client_address="::1")


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_fields_only_upload_leaves_nothing_on_disk(gateway, proto):
    """A form without files still yields a manifest (files: []); no empty upload directory stays behind
    (the app gets no path to it, so nobody else could remove it)."""
    fields = [("title", "only fields"), ("n", "2")]
    res = curl(gateway, proto, "/upload", *curl_form_args([], fields))
    m = expect_upload(gateway, res, proto=proto, sent=[], fields=fields)
    assert m["files"] == []


def test_client_filenames_are_metadata_only(gateway, tmp_path):
    """Whatever the client calls its files, they are stored as <id>/<n>; the names go to the manifest verbatim."""
    names = ["../../evil.sh", "rapport-é✓.pdf", ".hidden", "a b;c.txt", "/etc/passwd"]
    datas = [os.urandom(1000 + i) for i in range(len(names))]
    body = multipart_body([{"name": f"f{i}", "filename": n, "content_type": "application/octet-stream", "data": d}
                           for i, (n, d) in enumerate(zip(names, datas))])
    src = tmp_path / "body.bin"
    src.write_bytes(body)
    res = curl(gateway, "h1", "/upload", "--data-binary", f"@{src}", "-H", f"Content-Type: {multipart_content_type()}")
    assert res.status == 201, res
    _, m = find_manifest(gateway, res.json()["id"])
    assert [f["filename"] for f in m["files"]] == names
    assert [f["path"] for f in m["files"]] == [gateway.manifest_path(m["id"], n) for n in range(len(names))]
    assert [f["sha256"] for f in m["files"]] == [hashlib.sha256(d).hexdigest() for d in datas]
    assert not list(gateway.workdir.parent.rglob("evil.sh")), "a file was created under the client's name"
    gateway.wait_store_empty(5)
