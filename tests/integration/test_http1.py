"""HTTP/1.1 specifics: chunked request bodies, Expect: 100-continue, keep-alive."""

from __future__ import annotations

import json
import os
import select

import pytest

from checks import Sent, assert_clean, assert_error, expect_upload, find_manifest, header_map
from harness import (KiB, MiB, HTTP1Reader, chunked, connect, curl, curl_form_args, http1_head,
                     make_file, multipart_body, multipart_content_type, sha256_bytes)


@pytest.mark.parametrize("proto", ["h1", "h1-tls"])
def test_chunked_multipart_upload(gateway, tmp_path, proto):
    f = make_file(tmp_path / "data", "c.bin", 5 * MiB + 3)
    res = curl(gateway, proto, "/upload", *curl_form_args([("file", f, "c.bin", "application/octet-stream")],
                                                          [("mode", "chunked")]),
               "-H", "Transfer-Encoding: chunked", "-v")
    assert "> Transfer-Encoding: chunked" in res.stderr, "curl did not send a chunked body:\n" + res.stderr[-2000:]
    expect_upload(gateway, res, proto=proto, sent=[Sent("file", "c.bin", "application/octet-stream", f)],
                  fields=[("mode", "chunked")])


def test_chunked_raw_put_over_socket(gateway, tmp_path):
    data = os.urandom(3 * MiB + 17)
    with connect(gateway) as s:
        s.sendall(http1_head("PUT", "/upload?raw=chunked", gateway.authority,
                             [("Content-Type", "application/octet-stream"), ("Transfer-Encoding", "chunked"),
                              ("Connection", "close")]))
        s.sendall(chunked(data, chunk=100 * KiB + 1))
        res = HTTP1Reader(s).read_response()
    assert res.status == 201, res
    entry, m = find_manifest(gateway, json.loads(res.body)["id"])
    assert m["method"] == "PUT" and m["path"] == "/upload?raw=chunked"
    assert m["files"] == [{"field": None, "filename": None, "content_type": "application/octet-stream",
                           "path": gateway.manifest_path(m["id"], 0), "size": len(data), "sha256": sha256_bytes(data)}]
    assert "transfer-encoding" not in header_map(entry["headers"])
    gateway.wait_store_empty(5)


def _read_within(sock, seconds: float) -> bool:
    r, _, _ = select.select([sock], [], [], seconds)
    return bool(r)


def test_expect_100_continue_raw(gateway, tmp_path):
    """The server says 100 Continue before the client sends the body; Expect does not reach the app."""
    data = os.urandom(2 * MiB)
    body = multipart_body([{"name": "file", "filename": "e.bin", "content_type": "application/octet-stream",
                            "data": data}])
    with connect(gateway) as s:
        s.sendall(http1_head("POST", "/upload", gateway.authority,
                             [("Content-Type", multipart_content_type()), ("Content-Length", str(len(body))),
                              ("Expect", "100-continue"), ("Connection", "close")]))
        assert _read_within(s, 5), "no 100 Continue (nor any response) within 5 s of the request head"
        reader = HTTP1Reader(s)
        status, _ = reader.read_head()
        assert status == 100, f"expected 100 Continue before the body, got {status}"
        s.sendall(body)
        res = reader.read_response()
    assert res.status == 201, res
    entry, m = find_manifest(gateway, json.loads(res.body)["id"])
    assert m["files"][0]["sha256"] == sha256_bytes(data)
    assert "expect" not in header_map(entry["headers"])


def test_expect_100_continue_curl(gateway, tmp_path):
    f = make_file(tmp_path / "data", "e.bin", 3 * MiB)
    res = curl(gateway, "h1", "/upload", "-v", "-H", "Expect: 100-continue",
               *curl_form_args([("file", f, "e.bin", "application/octet-stream")]))
    assert "< HTTP/1.1 100 Continue" in res.stderr, "curl saw no 100 Continue:\n" + res.stderr[-2000:]
    expect_upload(gateway, res, proto="h1", sent=[Sent("file", "e.bin", "application/octet-stream", f)])


def test_expect_100_continue_over_limit_gets_413(gateway):
    """Content-Length over max_body with Expect: the final answer is 413 (before or after a 100)."""
    size = 5 * MiB
    with connect(gateway) as s:
        s.sendall(http1_head("PUT", "/limited", gateway.authority,
                             [("Content-Type", "application/octet-stream"), ("Content-Length", str(size)),
                              ("Expect", "100-continue"), ("Connection", "close")]))
        assert _read_within(s, 5), "no response within 5 s of the request head"
        reader = HTTP1Reader(s)
        status, headers = reader.read_head()
        if status == 100:
            try:
                s.sendall(os.urandom(size))
            except OSError:
                pass
            res = reader.read_response()
        else:
            res = _response_after_head(reader, status, headers)
    assert_error(res, 413, "body_too_large", limit="max_body")
    assert_clean(gateway)


def _response_after_head(reader, status, headers):
    from harness import Response
    n = int(headers.get("content-length", ["0"])[-1])
    return Response(status, headers, reader.read_exact(n))


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


def test_tls_alpn_http11_only_client(gateway):
    """A TLS client offering only http/1.1 in ALPN is served over HTTP/1.1."""
    with connect(gateway, tls=True, alpn=("http/1.1",)) as s:
        assert s.selected_alpn_protocol() in ("http/1.1", None)
        s.sendall(http1_head("GET", "/api/items", gateway.tls_authority, [("Connection", "close")]))
        res = HTTP1Reader(s).read_response(method="GET")
    assert res.status == 200, res
