"""HTTP/2 specifics: a body over a route limit gets a 413 response (not a stream reset), and the
connection survives it."""

from __future__ import annotations

import os

import pytest

from checks import assert_clean, assert_error
from harness import H2Conn, KiB, MiB, multipart_body, multipart_content_type

ITEMS_BODY = b'{"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}]}'


def _cases():
    big = os.urandom(6 * MiB)
    file_body = multipart_body([{"name": "file", "filename": "big.bin", "data": os.urandom(2 * MiB)}])
    return {
        # (headers, body, code, limit)
        "declared-length": ([("content-type", "application/octet-stream"), ("content-length", str(len(big)))],
                            big, "body_too_large", "max_body"),
        # No content-length: the body streams into the upload, and the first limit it crosses is named - a raw body
        # is one file, and /limited's max_file (1 MiB) is below its max_body (as test_body_too_large_chunked_http1).
        "streamed-no-length": ([("content-type", "application/octet-stream")], big, "file_too_large", "max_file"),
        "file-too-large-no-length": ([("content-type", multipart_content_type())], file_body, "file_too_large",
                                     "max_file"),
        "too-many-files": ([("content-type", multipart_content_type())],
                           multipart_body([{"name": f"f{i}", "filename": f"{i}.bin", "data": b"x" * KiB}
                                           for i in range(5)]), "too_many_files", "max_files"),
    }


CASES = list(_cases())


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
@pytest.mark.parametrize("case", CASES)
def test_h2_over_limit_gets_413_response(gateway, tls, case):
    headers, body, code, limit = _cases()[case]
    c = H2Conn(gateway, tls=tls, timeout=30)
    try:
        sid = c.start("PUT" if "octet" in headers[0][1] else "POST", "/limited", headers)
        for i in range(0, len(body), 128 * KiB):
            piece = body[i:i + 128 * KiB]
            if not c.send(sid, piece, end_stream=i + len(piece) >= len(body)):
                break
        res = c.wait_response(sid)
        assert res.status is not None, f"stream reset / connection closed without a response: {res!r}"
        assert res.ended, f"413 response not completed with END_STREAM: {res!r}"
        assert res.goaway is None, f"GOAWAY sent: {res!r}"
        assert_error(res, 413, code, limit=limit)
        r2 = c.get("/api/items")  # the connection serves on
        assert r2.status == 200 and r2.body == ITEMS_BODY, r2
    finally:
        c.close()
    assert_clean(gateway, exclude_paths=["/api/items"])
