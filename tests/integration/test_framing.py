"""How message bodies are delimited: chunked request bodies (uploadgate's strict decoder, RFC 9112 7.1: chunk-size is
exactly 1*HEXDIG, then optional BWS ";" chunk-ext, then CRLF - lenient size lines such as "0x3a" are request
smuggling shapes and get 400 with a closed connection), trailers, invalid Content-Length / Transfer-Encoding
combinations, and the framing of streamed pass-through responses. Raw sockets, so that the bytes on the wire can
be asserted; nothing malformed reaches the app or stays on disk.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from checks import (Sent, assert_clean, assert_error, assert_nothing_reached_app, expect_upload, find_manifest,
                    header_map)
from harness import (HTTP1Reader, KiB, MiB, chunked, connect, curl, curl_form_args, http1_head, make_file,
                     multipart_body, multipart_content_type, read_until_closed, sha256_bytes)
from setups import H1_TLS, ITEMS_BODY, pattern, put_raw


FORM = multipart_body([{"name": "file", "filename": "a.txt", "data": b"x" * 100, "content_type": "text/plain"}])


DOC = json.dumps({"name": "chunked", "n": 1}).encode()


SMUGGLED = b"GET /api/items HTTP/1.1\r\nHost: x\r\n\r\n"


def head(gw, path: str, tls: bool) -> bytes:
    ctype = multipart_content_type() if path == "/upload" else "application/json"
    return http1_head("POST", path, gw.tls_authority if tls else gw.authority,
                      [("Content-Type", ctype), ("Transfer-Encoding", "chunked")])


def body_for(path: str) -> bytes:
    return FORM if path == "/upload" else DOC


def first_chunk(size_line: str, data: bytes) -> bytes:
    """One chunk carrying all of `data` under the given size line, then the last chunk."""
    return size_line.encode("latin-1") + data + b"\r\n0\r\n\r\n"


# (id, size line for a chunk of n bytes): each one a lenient parser reads some way
BAD_SIZE_LINES = [
    ("0x-prefix", lambda n: f"0x{n:x}\r\n"),
    ("trailing-junk", lambda n: f"{n:x}zz\r\n"),
    ("minus", lambda n: f"-{n:x}\r\n"),
    ("plus", lambda n: f"+{n:x}\r\n"),
    ("space-then-crlf", lambda n: f"{n:x} \r\n"),
    ("bare-lf", lambda n: f"{n:x}\n"),
    ("17-digits", lambda n: f"{n:017x}\r\n"),
    ("empty-extension", lambda n: f"{n:x};\r\n"),
]


@H1_TLS
@pytest.mark.parametrize("path", ["/upload", "/api/echo"])
@pytest.mark.parametrize("case, line", BAD_SIZE_LINES, ids=[c for c, _ in BAD_SIZE_LINES])
def test_lenient_chunk_sizes_are_refused(gateway, tls, path, case, line):
    data = body_for(path)
    with connect(gateway, tls=tls) as s:
        s.sendall(head(gateway, path, tls) + first_chunk(line(len(data)), data) + SMUGGLED)
        res = HTTP1Reader(s).read_response()
        rest = read_until_closed(s, 10)
    err = assert_error(res, 400, "bad_request")
    assert "chunked" in err["message"], err
    assert res.header("connection") == "close" and rest == b"", (res, rest)
    assert_clean(gateway)


@H1_TLS
@pytest.mark.parametrize("path", ["/upload", "/api/echo"])
def test_0x3a_smuggling_shape_is_refused(gateway, tls, path):
    # "0x3a": 0 (the last chunk) to picohttpparser, 58 to a proxy reading it as hex with a prefix; the 58 bytes after
    # it would have become a second request here.
    inner = SMUGGLED + b"X" * (0x3a - len(SMUGGLED)) + b"\r\n"
    with connect(gateway, tls=tls) as s:
        s.sendall(head(gateway, path, tls) + b"0x3a\r\n" + inner + b"0\r\n\r\n")
        res = HTTP1Reader(s).read_response()
        rest = read_until_closed(s, 10)
    assert_error(res, 400, "bad_request")
    assert rest == b"", rest
    assert_clean(gateway)


@H1_TLS
@pytest.mark.parametrize("path", ["/upload", "/api/echo"])
@pytest.mark.parametrize("line", ["{n:x} ;ext\r\n", "{n:X};a=b;c=\"q\\\"\"\r\n", "000{n:x}\r\n"])
def test_valid_size_lines_are_served(gateway, tls, path, line):
    data = body_for(path)
    trailer = b"0\r\nX-Checksum: abc\r\n\r\n"
    with connect(gateway, tls=tls) as s:
        s.sendall(head(gateway, path, tls) + line.format(n=len(data)).encode() + data + b"\r\n" + trailer)
        res = HTTP1Reader(s).read_response()
    if path == "/upload":
        assert res.status == 201 and [f["size"] for f in res.json()["files"]] == [100], res
    else:
        assert res.status == 200 and json.loads(res.body)["json"] == json.loads(DOC), res


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


@pytest.mark.parametrize("headers,why", [
    ([("Content-Length", "5"), ("Transfer-Encoding", "chunked")], "both"),
    ([("Transfer-Encoding", "gzip, chunked")], "coding"),
    ([("Content-Length", "5"), ("Content-Length", "6")], "conflict"),
    ([("Content-Length", "-1")], "invalid"),
])
def test_invalid_framing_is_refused(gateway, headers, why):
    with connect(gateway) as s:
        s.sendall(http1_head("PUT", "/upload", gateway.authority,
                             [("Content-Type", "application/octet-stream"), *headers]) + b"hello")
        res = HTTP1Reader(s).read_response()
        assert read_until_closed(s, 10) == b""
    assert_error(res, 400, "bad_request")
    assert_clean(gateway)


def test_chunked_body_with_trailer_then_pipelined_request(gateway):
    data = os.urandom(1 * MiB + 333)
    body = chunked(data, chunk=77 * KiB)[:-2] + b"X-Checksum: none\r\n\r\n"  # a trailer section
    with connect(gateway) as s:
        s.sendall(http1_head("PUT", "/upload?c=1", gateway.authority,
                             [("Content-Type", "application/octet-stream"), ("Transfer-Encoding", "chunked")])
                  + body + put_raw(gateway, "/upload?c=2", b"second"))
        reader = HTTP1Reader(s)
        r1, r2 = reader.read_response(), reader.read_response()
    assert r1.status == 201 and r2.status == 201, (r1, r2)
    _, m1 = find_manifest(gateway, r1.json()["id"])
    _, m2 = find_manifest(gateway, r2.json()["id"])
    assert m1["files"][0]["size"] == len(data) and m1["files"][0]["sha256"] == sha256_bytes(data)
    assert m2["path"] == "/upload?c=2" and m2["files"][0]["sha256"] == sha256_bytes(b"second")


def test_broken_chunked_pass_through_body_gets_400(gateway):
    with connect(gateway) as s:
        s.sendall(http1_head("POST", "/api/echo", gateway.authority,
                             [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]) + b"zz\r\n{}\r\n")
        res = HTTP1Reader(s).read_response()
        assert read_until_closed(s, 10) == b""
    err = assert_error(res, 400, "bad_request")
    assert "chunked" in err["message"]
    assert_nothing_reached_app(gateway)


@H1_TLS
def test_streamed_response_is_chunked_and_the_connection_goes_on(gateway, tls):
    n = 5 * MiB + 3
    with connect(gateway, tls=tls) as s:
        reader = HTTP1Reader(s)
        s.sendall(http1_head("GET", f"/api/stream/{n}", gateway.authority))
        r1 = reader.read_response(method="GET")
        s.sendall(http1_head("GET", "/api/items", gateway.authority))
        r2 = reader.read_response(method="GET")
    assert r1.status == 200 and r1.header("transfer-encoding") == "chunked" and r1.header("content-length") is None, r1
    assert r1.header("connection") == "keep-alive"
    assert hashlib.sha256(r1.body).hexdigest() == sha256_bytes(pattern(n))
    assert r2.status == 200 and r2.body == ITEMS_BODY, r2


def test_streamed_response_to_http10_keep_alive_ends_with_the_connection(gateway):
    """HTTP/1.0 has no chunked coding: a response without a length is delimited by the close, whatever the client
    asked for (h2o 2.2.5 promised keep-alive here and the client waited forever)."""
    n = 300 * KiB
    with connect(gateway) as s:
        s.sendall(f"GET /api/stream/{n} HTTP/1.0\r\nHost: {gateway.authority}\r\nConnection: keep-alive\r\n\r\n".encode())
        got = read_until_closed(s, 10)
    head, body = got.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    assert lines[0].startswith("HTTP/1.1 200"), lines
    assert fields.get("connection") == "close" and "content-length" not in fields and "transfer-encoding" not in fields
    assert body == pattern(n)
