"""Error responses of upload routes: a JSON error, nothing left on disk, nothing sent to the app."""

from __future__ import annotations

import time

import pytest

from checks import Sent, assert_clean, assert_error, expect_upload, find_manifest
from harness import (ERROR_PROTOS, KiB, MiB, curl, curl_form_args, free_port, make_file, multipart_body,
                     multipart_content_type)

BOUNDARY = "ugtestboundary7MA4YWxkTrZu0gW"


def post_bytes(gw, proto, path, body: bytes, content_type: str, tmp_path, *args, method="POST"):
    src = tmp_path / f"body-{time.monotonic_ns()}.bin"
    src.write_bytes(body)
    return curl(gw, proto, path, "-X", method, "--data-binary", f"@{src}", "-H", f"Content-Type: {content_type}",
                *args)


# -- malformed multipart ---------------------------------------------------------------------------

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


# -- method not allowed ----------------------------------------------------------------------------

@pytest.mark.parametrize("proto", ERROR_PROTOS)
@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH"])
def test_method_not_allowed(gateway, proto, method):
    args = ["-X", method] if method != "GET" else []
    if method == "PATCH":
        args += ["--data-binary", "some body", "-H", "Content-Type: application/octet-stream"]
    res = curl(gateway, proto, "/upload", *args)
    assert_error(res, 405, "method_not_allowed")
    allow = {m.strip().upper() for m in ",".join(res.headers.get("allow", [])).split(",") if m.strip()}
    assert allow == {"POST", "PUT"}, f"Allow: {res.headers.get('allow')}"
    assert_clean(gateway)


# -- limits (route /limited: max_body 4MiB, max_file 1MiB, max_files 3, max_fields 4, max_field_size 1KiB) -----

def _limit_case(name, tmp_path):
    d = tmp_path / "data"
    if name == "body_too_large":
        f = make_file(d, "big.bin", 4 * MiB + 1)
        return ["-X", "PUT", "--data-binary", f"@{f.path}", "-H", "Content-Type: application/octet-stream"], "max_body"
    if name == "file_too_large":
        f = make_file(d, "big.bin", 1 * MiB + 1)
        return curl_form_args([("file", f, "big.bin", "application/octet-stream")]), "max_file"
    if name == "too_many_files":
        fs = [make_file(d, f"s{i}.bin", KiB) for i in range(4)]
        return curl_form_args([("f", x, x.path.name, None) for x in fs]), "max_files"
    if name == "too_many_fields":
        return curl_form_args([], [(f"k{i}", "v") for i in range(5)]), "max_fields"
    if name == "field_too_large":
        return curl_form_args([], [("big", "x" * (KiB + 1))]), "max_field_size"
    raise KeyError(name)


LIMIT_CODES = {
    "body_too_large": "body_too_large",
    "file_too_large": "file_too_large",
    "too_many_files": "too_many_files",
    "too_many_fields": "too_many_fields",
    "field_too_large": "field_too_large",
}


@pytest.mark.parametrize("proto", ERROR_PROTOS)
@pytest.mark.parametrize("case", list(LIMIT_CODES))
def test_limit_exceeded(gateway, tmp_path, proto, case):
    args, limit = _limit_case(case, tmp_path)
    res = curl(gateway, proto, "/limited", *args)
    assert_error(res, 413, LIMIT_CODES[case], limit=limit)
    assert_clean(gateway)


def test_body_too_large_chunked_http1(gateway, tmp_path):
    """No Content-Length: limits are enforced while the body streams in, and the error names the first one the
    body crosses whatever its chunking: a raw body is one file, so on /limited (max_file 1 MiB < max_body 4 MiB)
    that is max_file."""
    f = make_file(tmp_path / "data", "big.bin", 6 * MiB)
    res = curl(gateway, "h1", "/limited", "-X", "PUT", "--data-binary", f"@{f.path}",
               "-H", "Content-Type: application/octet-stream", "-H", "Transfer-Encoding: chunked")
    assert_error(res, 413, "file_too_large", limit="max_file")
    assert_clean(gateway)


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_everything_exactly_at_the_limits_is_accepted(gateway, tmp_path, proto):
    d = tmp_path / "data"
    files = [make_file(d, "exact.bin", 1 * MiB), make_file(d, "b.bin", 10 * KiB), make_file(d, "c.bin", 1)]
    fields = [("k0", "x" * KiB), ("k1", "v"), ("k2", ""), ("k3", "last")]
    sent = [Sent("f", x.path.name, "application/octet-stream", x) for x in files]
    res = curl(gateway, proto, "/limited",
               *curl_form_args([(s.field, s.file, s.filename, s.content_type) for s in sent], fields))
    expect_upload(gateway, res, proto=proto, sent=sent, fields=fields, route="/limited", path="/limited",
                  app_path="/upload")


# -- storage, backend ------------------------------------------------------------------------------

def _min_free_huge(cfg):
    cfg["storage"]["min_free"] = "1000TiB"


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_insufficient_storage(make_gateway, tmp_path, proto):
    gw = make_gateway(configure=_min_free_huge)
    f = make_file(tmp_path / "data", "x.bin", 64 * KiB)
    res = curl(gw, proto, "/upload", *curl_form_args([("file", f, "x.bin", None)], [("t", "v")]))
    assert_error(res, 507, "insufficient_storage")
    res = curl(gw, proto, "/upload", "-X", "PUT", "--data-binary", f"@{f.path}",
               "-H", "Content-Type: application/octet-stream")
    assert_error(res, 507, "insufficient_storage")
    assert_clean(gw)
    # Pass-through does not store anything and keeps working.
    res = curl(gw, proto, "/api/items")
    assert res.status == 200, res


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_backend_unreachable(make_gateway, tmp_path, proto):
    gw = make_gateway(app=False, backend_url=f"http://127.0.0.1:{free_port()}")
    f = make_file(tmp_path / "data", "x.bin", 512 * KiB)
    res = curl(gw, proto, "/upload", *curl_form_args([("file", f, "x.bin", None)]))
    assert_error(res, 502, "bad_gateway")
    res = curl(gw, proto, "/upload", "-X", "PUT", "--data-binary", f"@{f.path}",
               "-H", "Content-Type: application/octet-stream")
    assert_error(res, 502, "bad_gateway")
    gw.wait_store_empty()


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_backend_timeout(make_gateway, tmp_path, proto):
    def timeout_1s(cfg):
        cfg["backend"]["timeout"] = "1s"

    slow = 3
    gw = make_gateway(configure=timeout_1s, slow_seconds=slow)
    f = make_file(tmp_path / "data", "x.bin", 256 * KiB)
    t0 = time.monotonic()
    res = curl(gw, proto, "/slow", *curl_form_args([("file", f, "x.bin", None)]))
    elapsed = time.monotonic() - t0
    assert_error(res, 504, "gateway_timeout")
    assert elapsed < slow - 0.3, f"the 504 took {elapsed:.1f}s: the 1s backend timeout did not fire"
    # The app did receive that manifest ...
    reqs = gw.app_requests("/slow")
    assert len(reqs) == 1, gw.app_log()
    m = reqs[0]["json"]
    assert m["files"][0]["sha256"] == f.sha256
    # ... and, keep_on_error being false, the files are gone.
    gw.wait_store_empty()


# -- the app answers >= 400 ------------------------------------------------------------------------

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
