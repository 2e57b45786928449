"""Uploads refused after their head: a malformed multipart body gets 400 malformed_multipart, and an app that answers
a manifest with >= 400 has its files removed (unless the route sets keep_on_error); a JSON error, nothing left on
disk, nothing sent to the app when uploadgate refuses.
"""

from __future__ import annotations

import time

import pytest

from checks import assert_clean, assert_error, find_manifest
from harness import ERROR_PROTOS, KiB, MiB, curl, curl_form_args, make_file, multipart_body, multipart_content_type


BOUNDARY = "ugtestboundary7MA4YWxkTrZu0gW"


def post_bytes(gw, proto, path, body: bytes, content_type: str, tmp_path, *args, method="POST"):
    src = tmp_path / f"body-{time.monotonic_ns()}.bin"
    src.write_bytes(body)
    return curl(gw, proto, path, "-X", method, "--data-binary", f"@{src}", "-H", f"Content-Type: {content_type}",
                *args)


def _file_part(size=100 * KiB):
    import os
    return {"name": "file", "filename": "a.bin", "content_type": "application/octet-stream", "data": os.urandom(size)}


MALFORMED = {
    # Content-Type multipart/form-data without a boundary parameter.
    "no-boundary": lambda: (multipart_body([_file_part()]), "multipart/form-data"),
    # A complete file part (already stored by then) and no closing delimiter.
    "no-close-delimiter": lambda: (multipart_body([{"name": "t", "data": b"x"}, _file_part()], close=False),
                                   multipart_content_type()),
    # A body that does not start with the boundary at all.
    "garbage": lambda: (b"this is not multipart at all\r\n" * 100, multipart_content_type()),
    # A part without Content-Disposition.
    "part-without-disposition": lambda: (
        f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--{BOUNDARY}--\r\n".encode(),
        multipart_content_type()),
    # The stream stops in the middle of a part's header block.
    "truncated-part-header": lambda: (
        multipart_body([_file_part()], close=False) + f"--{BOUNDARY}\r\nContent-Disposition: form-da".encode(),
        multipart_content_type()),
}


@pytest.mark.parametrize("proto", ERROR_PROTOS)
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_multipart(gateway, tmp_path, proto, case):
    body, ctype = MALFORMED[case]()
    res = post_bytes(gateway, proto, "/upload", body, ctype, tmp_path)
    assert_error(res, 400, "malformed_multipart")
    assert_clean(gateway)


@pytest.mark.parametrize("proto", ["h1", "h2c", "h2"])
def test_app_rejection_removes_files(gateway, tmp_path, proto):
    fs = [make_file(tmp_path / "data", f"r{i}.bin", 300 * KiB) for i in range(2)]
    res = curl(gateway, proto, "/upload-reject", *curl_form_args([("f", x, x.path.name, None) for x in fs]))
    assert res.status == 422, res
    body = res.json()
    assert body["detail"] == "this endpoint rejects every upload"
    entry, m = find_manifest(gateway, body["id"])
    assert [x["sha256"] for x in m["files"]] == [x.sha256 for x in fs]
    gateway.wait_store_empty()
    assert len(gateway.app_log()) == 1


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_app_rejection_by_field_removes_files(gateway, tmp_path, proto):
    f = make_file(tmp_path / "data", "r.bin", 1 * MiB)
    res = curl(gateway, proto, "/upload", *curl_form_args([("file", f, "r.bin", None)], [("reject", "1")]))
    assert res.status == 422 and res.json()["detail"] == "rejected on request", res
    gateway.wait_store_empty()


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_keep_on_error_keeps_files(gateway, tmp_path, proto):
    fs = [make_file(tmp_path / "data", f"k{i}.bin", 200 * KiB + i) for i in range(2)]
    res = curl(gateway, proto, "/keep", *curl_form_args([("f", x, x.path.name, None) for x in fs]))
    assert res.status == 422, res
    uid = res.json()["id"]
    find_manifest(gateway, uid)
    # Synchronise: a later request on a new connection is answered after the first one was finished.
    assert curl(gateway, proto, "/health").status == 200
    from harness import sha256_file
    assert gateway.store_entries() == sorted([f"{uid}/", f"{uid}/0", f"{uid}/1"]), gateway.store_entries()
    for n, x in enumerate(fs):
        assert sha256_file(gateway.local_path(uid, n)) == x.sha256
