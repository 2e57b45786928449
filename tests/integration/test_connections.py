"""Several requests on one connection: HTTP/1.1 keep-alive and pipelining mixing uploads (streamed by uploadgate's
front) with pass-through requests (run through h2o's pipeline on the same connection), Connection: close, HTTP/1.0,
HEAD, and HTTP/2 streams interleaving uploads with a pass-through request.
"""

from __future__ import annotations

import json
import os

import pytest

from checks import assert_error, find_manifest
from harness import (H2Conn, HTTP1Reader, KiB, MiB, chunked, connect, curl_form_args, http1_head, make_file,
                     multipart_body, multipart_content_type, read_until_closed, sha256_bytes)
from setups import H1_TLS, H2_TLS, ITEMS_BODY, pattern, put_raw, readable_within


def echo_request(gw, doc, framing: str = "length", extra=()) -> bytes:
    raw = json.dumps(doc).encode()
    if framing == "chunked":
        return http1_head("POST", "/api/echo", gw.authority, [("Content-Type", "application/json"),
                                                              ("Transfer-Encoding", "chunked"), *extra]) + chunked(raw, 7)
    return http1_head("POST", "/api/echo", gw.authority, [("Content-Type", "application/json"),
                                                          ("Content-Length", str(len(raw))), *extra]) + raw


def test_keep_alive_two_uploads_on_one_connection_curl(gateway, tmp_path):
    a = make_file(tmp_path / "data", "a.bin", 1 * MiB)
    b = make_file(tmp_path / "data", "b.bin", 2 * MiB)
    outs = [tmp_path / "ka0", tmp_path / "ka1"]
    heads = [tmp_path / "ka0.h", tmp_path / "ka1.h"]
    argv = ["curl", "-sS", "--http1.1", "-w", "%{json}\\n", "--max-time", "60",
            *curl_form_args([("file", a, "a.bin", "application/octet-stream")]), "-o", str(outs[0]),
            "-D", str(heads[0]), gateway.url("h1", "/upload?n=0"),
            "--next", "--http1.1", "-w", "%{json}\\n", "--max-time", "60",
            *curl_form_args([("file", b, "b.bin", "application/octet-stream")]), "-o", str(outs[1]),
            "-D", str(heads[1]), gateway.url("h1", "/upload?n=1")]
    import subprocess
    cp = subprocess.run(argv, capture_output=True, timeout=120)
    assert cp.returncode == 0, cp.stderr.decode()
    infos = [json.loads(line) for line in cp.stdout.decode().splitlines() if line.strip()]
    assert [i["http_code"] for i in infos] == [201, 201], infos
    assert infos[0]["num_connects"] == 1 and infos[1]["num_connects"] == 0, \
        f"second upload did not reuse the connection: {[i['num_connects'] for i in infos]}"
    for n, (out, lf, name) in enumerate(zip(outs, (a, b), ("a.bin", "b.bin"))):
        body = json.loads(out.read_bytes())
        entry, m = find_manifest(gateway, body["id"])
        assert m["path"] == f"/upload?n={n}" and m["client"]["protocol"] == "HTTP/1.1"
        assert m["files"][0]["sha256"] == lf.sha256 and m["files"][0]["filename"] == name
    assert len(gateway.app_log()) == 2
    gateway.wait_store_empty(5)


def test_keep_alive_raw_socket_upload_then_passthrough_then_upload(gateway):
    d1, d2 = os.urandom(512 * KiB), os.urandom(700 * KiB)
    with connect(gateway) as s:
        reader = HTTP1Reader(s)
        ids = []
        for n, data in enumerate((d1, None, d2)):
            if data is None:
                s.sendall(http1_head("GET", "/api/items", gateway.authority))
                res = reader.read_response(method="GET")
                assert res.status == 200 and res.body.startswith(b'{"items"'), res
                continue
            s.sendall(http1_head("PUT", f"/upload?n={n}", gateway.authority,
                                 [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data)))])
                      + data)
            res = reader.read_response()
            assert res.status == 201, res
            assert "close" not in ",".join(res.headers.get("connection", [])).lower(), res.headers
            ids.append(json.loads(res.body)["id"])
    for uid, data in zip(ids, (d1, d2)):
        _, m = find_manifest(gateway, uid)
        assert m["files"][0]["sha256"] == sha256_bytes(data)
    gateway.wait_store_empty(5)


def test_http10_upload(gateway):
    data = os.urandom(100 * KiB)
    with connect(gateway) as s:
        s.sendall(b"PUT /upload?v=10 HTTP/1.0\r\nHost: " + gateway.authority.encode()
                  + b"\r\nContent-Type: application/octet-stream\r\nContent-Length: " + str(len(data)).encode()
                  + b"\r\n\r\n" + data)
        res = HTTP1Reader(s).read_response()
        assert read_until_closed(s, 10) == b""  # HTTP/1.0 without keep-alive: one exchange
    assert res.status == 201 and res.header("connection") == "close", res
    _, m = find_manifest(gateway, res.json()["id"])
    assert m["client"]["protocol"] == "HTTP/1.0" and m["files"][0]["sha256"] == sha256_bytes(data)


@pytest.mark.parametrize("tls", [False, True], ids=["h1", "h1-tls"])
def test_pipelined_upload_get_upload_on_one_connection(gateway, tls):
    """All three requests written at once: the second runs h2o's pipeline with the third still buffered behind it;
    three responses come back in order and no byte is lost."""
    d1, d3 = os.urandom(400 * KiB), os.urandom(600 * KiB)
    with connect(gateway, tls=tls) as s:
        s.sendall(put_raw(gateway, "/upload?n=1", d1) + http1_head("GET", "/api/items", gateway.authority)
                  + put_raw(gateway, "/upload?n=3", d3))
        reader = HTTP1Reader(s)
        r1 = reader.read_response()
        r2 = reader.read_response(method="GET")
        r3 = reader.read_response()
    assert r1.status == 201 and r3.status == 201, (r1, r3)
    assert r2.status == 200 and r2.body.startswith(b'{"items"'), r2
    for res, data, n in ((r1, d1, 1), (r3, d3, 3)):
        _, m = find_manifest(gateway, res.json()["id"])
        assert m["path"] == f"/upload?n={n}" and m["files"][0]["sha256"] == sha256_bytes(data)
    assert [e["path"] for e in gateway.app_log()] == ["/upload?n=1", "/api/items", "/upload?n=3"]
    gateway.wait_store_empty(5)


def test_pipelined_uploads_all_served_by_the_front(gateway):
    datas = [os.urandom(n) for n in (10, 256 * KiB, 1)]
    with connect(gateway) as s:
        s.sendall(b"".join(put_raw(gateway, f"/upload?n={i}", d) for i, d in enumerate(datas)))
        reader = HTTP1Reader(s)
        results = [reader.read_response() for _ in datas]
    for i, (res, d) in enumerate(zip(results, datas)):
        assert res.status == 201 and res.header("connection") == "keep-alive", res
        _, m = find_manifest(gateway, res.json()["id"])
        assert m["path"] == f"/upload?n={i}" and m["files"][0]["sha256"] == sha256_bytes(d)


def test_connection_close_is_honoured(gateway):
    with connect(gateway) as s:
        s.sendall(put_raw(gateway, "/upload", b"abc", [("Connection", "close")]))
        res = HTTP1Reader(s).read_response()
        assert read_until_closed(s, 10) == b""
    assert res.status == 201 and res.header("connection") == "close", res


@H1_TLS
def test_upload_after_a_get_on_one_connection_is_decided_at_its_head(gateway, tls):
    """GET, then an upload announcing 5 MiB to /limited (max_body 4 MiB): the 413 comes before a body byte is sent.
    h2o, which served connections after a pass-through request, would wait for the whole body first."""
    with connect(gateway, tls=tls) as s:
        reader = HTTP1Reader(s)
        s.sendall(http1_head("GET", "/api/items", gateway.authority))
        r1 = reader.read_response(method="GET")
        assert r1.status == 200 and r1.body == ITEMS_BODY and r1.header("connection") == "keep-alive", r1
        s.sendall(http1_head("PUT", "/limited", gateway.authority,
                             [("Content-Type", "application/octet-stream"), ("Content-Length", str(5 * MiB))]))
        assert readable_within(s, 5), "no 413 before the body"
        r2 = reader.read_response()
    assert_error(r2, 413, "body_too_large", limit="max_body")
    assert [e["path"] for e in gateway.app_log()] == ["/api/items"]


@H1_TLS
def test_get_upload_get_on_one_connection(gateway, tls):
    data = os.urandom(3 * MiB + 17)
    with connect(gateway, tls=tls) as s:
        reader = HTTP1Reader(s)
        s.sendall(http1_head("GET", "/api/bytes/1000", gateway.authority))
        r1 = reader.read_response(method="GET")
        s.sendall(put_raw(gateway, "/upload?after-get", data))
        r2 = reader.read_response()
        s.sendall(http1_head("GET", "/api/items", gateway.authority))
        r3 = reader.read_response(method="GET")
    assert r1.status == 200 and r1.body == pattern(1000), r1
    assert r2.status == 201 and r2.header("connection") == "keep-alive", r2
    _, m = find_manifest(gateway, r2.json()["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data) and m["files"][0]["size"] == len(data)
    assert r3.status == 200 and r3.body == ITEMS_BODY, r3
    assert [e["path"] for e in gateway.app_log()] == ["/api/bytes/1000", "/upload?after-get", "/api/items"]
    gateway.wait_store_empty(5)


@H1_TLS
def test_pipelined_pass_through_bodies_and_an_upload(gateway, tls):
    """Four requests in one write - a JSON body with Content-Length, one chunked, a GET, an upload: each body is
    given to its own request and the responses come back in order."""
    data = os.urandom(700 * KiB)
    docs = [{"n": 1, "pad": "a" * 100_000}, {"n": 2, "text": "ünïcode ✓"}]
    with connect(gateway, tls=tls) as s:
        s.sendall(echo_request(gateway, docs[0]) + echo_request(gateway, docs[1], "chunked")
                  + http1_head("GET", "/api/items", gateway.authority) + put_raw(gateway, "/upload?pipelined", data))
        reader = HTTP1Reader(s)
        r1, r2 = reader.read_response(), reader.read_response()
        r3, r4 = reader.read_response(method="GET"), reader.read_response()
    assert r1.status == 200 and r1.json()["json"] == docs[0], r1
    assert r2.status == 200 and r2.json()["json"] == docs[1], r2
    assert r2.json()["headers"]["content-length"] == str(len(json.dumps(docs[1]).encode())), r2
    assert r3.status == 200 and r3.body == ITEMS_BODY, r3
    assert r4.status == 201, r4
    _, m = find_manifest(gateway, r4.json()["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data)
    log = gateway.app_log()
    assert [e["path"] for e in log] == ["/api/echo", "/api/echo", "/api/items", "/upload?pipelined"]
    assert [e["body_sha256"] for e in log[:2]] == [sha256_bytes(json.dumps(d).encode()) for d in docs]
    gateway.wait_store_empty(5)


def test_head_request_then_another_on_one_connection(gateway):
    with connect(gateway) as s:
        reader = HTTP1Reader(s)
        s.sendall(http1_head("HEAD", "/api/bytes/4096", gateway.authority)
                  + http1_head("GET", "/api/bytes/10", gateway.authority))
        r1 = reader.read_response(method="HEAD")
        r2 = reader.read_response(method="GET")
    assert r1.status in (200, 405), r1  # FastAPI answers HEAD on a GET route as it likes; only the framing counts
    assert r1.body == b""
    assert r2.status == 200 and r2.body == pattern(10), r2


def test_connection_close_is_honoured_after_a_pass_through_request(gateway):
    with connect(gateway) as s:
        s.sendall(http1_head("GET", "/api/items", gateway.authority, [("Connection", "close")]))
        res = HTTP1Reader(s).read_response(method="GET")
        assert res.status == 200 and res.header("connection") == "close", res
        assert read_until_closed(s, 5) == b""


@H2_TLS
def test_interleaved_uploads_and_a_passthrough_request_on_one_connection(gateway, tls):
    datas = [os.urandom(n) for n in (3 * MiB + 17, 1 * MiB, 2 * MiB + 5)]
    bodies = [multipart_body([{"name": "title", "data": f"t{i}".encode()},
                              {"name": "file", "filename": f"f{i}.bin", "data": d}]) for i, d in enumerate(datas)]
    c = H2Conn(gateway, tls=tls, timeout=30)
    try:
        sids = [c.start("POST", f"/upload?n={i}", [("content-type", multipart_content_type()),
                                                     ("content-length", str(len(b)))]) for i, b in enumerate(bodies)]
        # A pass-through request between the uploads' heads and their bodies: h2o answers it while they stream.
        get = c.start("GET", "/api/items", end_stream=True)
        got = c.wait_response(get)
        assert got.status == 200 and got.body == ITEMS_BODY, got
        # DATA frames of the three streams interleaved, 64 KiB at a time.
        offsets = [0, 0, 0]
        while any(o < len(b) for o, b in zip(offsets, bodies)):
            for i, (sid, b) in enumerate(zip(sids, bodies)):
                if offsets[i] < len(b):
                    piece = b[offsets[i]:offsets[i] + 64 * KiB]
                    offsets[i] += len(piece)
                    assert c.send(sid, piece, end_stream=offsets[i] == len(b)), c.results[sid]
        results = [c.wait_response(sid) for sid in sids]
    finally:
        c.close()
    for i, (r, d) in enumerate(zip(results, datas)):
        assert r.status == 201 and r.ended, r
        _, m = find_manifest(gateway, r.json()["id"])
        assert m["path"] == f"/upload?n={i}"
        assert m["client"]["protocol"] == "HTTP/2"
        assert [(f["name"], f["value"]) for f in m["fields"]] == [("title", f"t{i}")]
        assert [(f["filename"], f["size"], f["sha256"]) for f in m["files"]] == [(f"f{i}.bin", len(d), sha256_bytes(d))]
