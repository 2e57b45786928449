"""Chunked request bodies are read by uploadgate's strict decoder (RFC 9112 7.1: chunk-size is exactly 1*HEXDIG, then
optional BWS ";" chunk-ext, then CRLF). picohttpparser read "0x5" as 0 and "5zz" as 5: behind a proxy that reads
"0x3a" as 58, one request became two. Every such body now gets 400 bad_request JSON and a closed connection, on an
upload route and on a pass-through route, and nothing reaches the app or stays on disk."""

from __future__ import annotations

import json

import pytest

from checks import assert_clean, assert_error
from harness import HTTP1Reader, connect, http1_head, multipart_body, multipart_content_type, read_until_closed

TLS = pytest.mark.parametrize("tls", [False, True], ids=["h1", "h1-tls"])
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


@TLS
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


@TLS
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


@TLS
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
