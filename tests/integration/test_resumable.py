"""Resumable uploads (tus 1.0.0) on a route with a `resumable:` block: creation (with upload, deferred length),
HEAD/PATCH/DELETE of an upload, every refusal's status and JSON error, checksums, durable offsets after a cut
PATCH, state shared by processes on one storage dir (and across a restart), one manifest per completed upload,
the app's refusal, ownership by token subject, CORS exposure, expiry by the janitor, and concatenation (partial
uploads joined into a final one, handed over as one manifest).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import socket
import time

import jwt as pyjwt
import pytest

from checks import assert_error
from harness import ERROR_PROTOS, HTTP1Reader, UPLOAD_PROTOS, connect, curl, http1_head, wait_until

TUS = "/tus/"
MAX_FILE = 8 * 1024 * 1024
MAX_CHUNK = 2 * 1024 * 1024
SECRET = secrets.token_urlsafe(36).encode()


def b64(s: bytes) -> str:
    return base64.b64encode(s).decode()


def tus_route(resumable=None, auth=None) -> dict:
    r = {"path": "/tus/*", "forward_to": "/uploaded", "limits": {"max_file": "8MiB"},
         "resumable": resumable if resumable is not None else {"expires": "1h", "max_chunk": "2MiB"}}
    if auth:
        r["auth"] = auth
    return r


def route_gateway(make_gateway, make_capture, route: dict, *, name="gw", status=204, body="", store=None, extra=None):
    """A gateway with `route` added, in front of a capture backend answering `status` with JSON `body`; `store`: the
    storage dir of another gateway (to share it), `extra(cfg)`: any other change."""
    backend = make_capture(f"{name}-backend", status=status, headers=[("Content-Type", "application/json")], body=body)

    def conf(cfg):
        cfg["routes"].append(route)
        if store is not None:
            cfg["storage"]["dir"] = str(store)
        if extra:
            extra(cfg)
    gw = make_gateway(name, app=False, backend_url=backend.backend_url, configure=conf)
    gw.backend = backend
    return gw


def tus_gateway(make_gateway, make_capture, tmp_path, *, name="gw", status=204, body="", resumable=None, auth=None,
                store=None, extra=None):
    """A gateway with a resumable route in front of a capture backend answering `status`."""
    return route_gateway(make_gateway, make_capture, tus_route(resumable, auth), name=name, status=status, body=body,
                         store=store, extra=extra)


def tus(gw, proto, method, path, headers=(), body=None, version="1.0.0"):
    """One tus request with curl; `headers` as (name, value) pairs."""
    args = ["--head"] if method == "HEAD" else ["-X", method]
    if version is not None:
        args += ["-H", f"Tus-Resumable: {version}"]
    for k, v in headers:
        args += ["-H", f"{k}: {v}" if v != "" else f"{k};"]
    if body is not None:
        f = gw.workdir / f"body-{secrets.token_hex(4)}"
        f.write_bytes(body)
        args += ["--data-binary", f"@{f}"]
    return curl(gw, proto, path, *args)


OCTETS = ("Content-Type", "application/offset+octet-stream")


def create(gw, proto, length=None, metadata=None, headers=(), body=None):
    hs = list(headers)
    if length is not None:
        hs.append(("Upload-Length", str(length)))
    if metadata is not None:
        hs.append(("Upload-Metadata", metadata))
    if body is not None:
        hs.append(OCTETS)
    res = tus(gw, proto, "POST", TUS, hs, body)
    return res


def location(res) -> str:
    loc = res.header("location")
    assert loc and loc.startswith(TUS) and len(loc) == len(TUS) + 32, res
    return loc


def patch(gw, proto, loc, offset, data, headers=()):
    return tus(gw, proto, "PATCH", loc, [OCTETS, ("Upload-Offset", str(offset)), *headers], data)


def manifests(gw):
    return [json.loads(r["body"]) for r in gw.backend.log() if r["path"] == "/uploaded"]


def assert_one_manifest(gw, data: bytes) -> dict:
    """The app got exactly one manifest, for one file whose sha256 is that of `data`."""
    ms = manifests(gw)
    assert len(ms) == 1 and len(ms[0]["files"]) == 1, ms
    assert ms[0]["files"][0]["sha256"] == hashlib.sha256(data).hexdigest() and ms[0]["files"][0]["size"] == len(data), ms
    return ms[0]


def resumable_dir(store, loc):
    return store / ".resumable" / loc[len(TUS):]


def head_offset(gw, proto, loc):
    res = tus(gw, proto, "HEAD", loc)
    assert res.status == 200, res
    return int(res.header("upload-offset"))


# ---- discovery and version ----


@pytest.mark.parametrize("proto", UPLOAD_PROTOS)
def test_options_advertises_the_server(make_gateway, make_capture, tmp_path, proto):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    res = tus(gw, proto, "OPTIONS", TUS, version=None)
    assert res.status == 204, res
    assert res.header("tus-resumable") == "1.0.0", res
    assert res.header("tus-version") == "1.0.0", res
    ext = res.header("tus-extension").split(",")
    assert set(ext) == {"creation", "creation-with-upload", "creation-defer-length", "termination", "checksum",
                        "expiration", "concatenation"}, res
    assert res.header("tus-max-size") == str(MAX_FILE), res
    assert set(res.header("tus-checksum-algorithm").split(",")) == {"sha1", "md5", "sha256"}, res
    assert gw.backend.log() == []


@pytest.mark.parametrize("proto", ERROR_PROTOS)
@pytest.mark.parametrize("version", [None, "0.2.2", "1.0"])
def test_wrong_or_missing_tus_resumable_is_412(make_gateway, make_capture, tmp_path, proto, version):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    res = tus(gw, proto, "POST", TUS, [("Upload-Length", "5")], version=version)
    assert_error(res, 412, "tus_version_unsupported")
    assert res.header("tus-version") == "1.0.0", res
    assert res.header("tus-resumable") == "1.0.0", res
    assert not (gw.store_dir / ".resumable").exists() or not os.listdir(gw.store_dir / ".resumable")


# ---- the whole flow ----


@pytest.mark.parametrize("proto", UPLOAD_PROTOS)
def test_chunked_upload_sends_one_manifest(make_gateway, make_capture, tmp_path, proto):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    data = os.urandom(3 * 1024 * 1024 + 123)
    meta = f"filename {b64('report ü.pdf'.encode())},filetype {b64(b'application/pdf')},project {b64(b'p1')},empty"
    res = create(gw, proto, len(data), meta)
    assert res.status == 201, res
    assert res.header("tus-resumable") == "1.0.0", res
    assert res.header("upload-expires", ) is not None and res.header("upload-expires").endswith(" GMT"), res
    loc = location(res)

    head = tus(gw, proto, "HEAD", loc)
    assert head.status == 200, head
    assert head.header("upload-offset") == "0" and head.header("upload-length") == str(len(data)), head
    assert head.header("upload-metadata") == meta, head
    assert head.header("cache-control") == "no-store", head
    assert head.header("upload-expires").endswith(" GMT"), head

    cuts = [0, 1024 * 1024, 2 * 1024 * 1024 + 7, len(data)]
    for a, b in zip(cuts, cuts[1:]):
        res = patch(gw, proto, loc, a, data[a:b])
        assert res.status == 204, res
        assert res.header("upload-offset") == str(b), res
        assert res.header("tus-resumable") == "1.0.0", res
    ms = manifests(gw)
    assert len(ms) == 1, ms
    m = ms[0]
    assert len(m["files"]) == 1, m
    f = m["files"][0]
    assert f["sha256"] == hashlib.sha256(data).hexdigest(), f
    assert f["size"] == len(data) and f["filename"] == "report ü.pdf" and f["content_type"] == "application/pdf", f
    assert {x["name"]: x["value"] for x in m["fields"]} == {"project": "p1", "empty": ""}, m
    # The app hears of it as a one-request upload to the route would be: POST to the route's path.
    assert m["method"] == "POST" and m["path"] == TUS, m
    assert [r["method"] for r in gw.backend.log() if r["path"] == "/uploaded"] == ["POST"]
    stored = gw.local_path(m["id"], 0)
    assert stored.read_bytes() == data

    # the last chunk again (its answer was lost): the same answer, no second manifest
    again = patch(gw, proto, loc, len(data), b"")
    assert again.status == 204 and again.header("upload-offset") == str(len(data)), again
    assert len(manifests(gw)) == 1
    head = tus(gw, proto, "HEAD", loc)
    assert head.status == 200 and head.header("upload-offset") == str(len(data)), head


# ---- refusals ----


def assert_offset(gw, loc, offset):
    assert head_offset(gw, "h1", loc) == offset
    assert (resumable_dir(gw.store_dir, loc) / "data").stat().st_size == offset


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_patch_refusals(make_gateway, make_capture, tmp_path, proto):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    loc = location(create(gw, proto, 10))
    res = tus(gw, proto, "PATCH", loc, [("Content-Type", "application/octet-stream"), ("Upload-Offset", "0")], b"abc")
    assert_error(res, 415, "unsupported_media_type")
    assert res.header("tus-resumable") == "1.0.0", res
    res = patch(gw, proto, loc, 3, b"abc")
    assert_error(res, 409, "offset_mismatch")
    res = tus(gw, proto, "PATCH", loc, [OCTETS], b"abc")
    assert_error(res, 400, "bad_request")
    res = patch(gw, proto, loc, "-1", b"abc")
    assert_error(res, 400, "bad_request")
    assert_offset(gw, loc, 0)
    for unknown in [TUS + secrets.token_hex(16), TUS + "not-an-id", loc + "/x"]:
        assert_error(patch(gw, proto, unknown, 0, b"abc"), 404, "not_found")
        head = tus(gw, proto, "HEAD", unknown)
        assert head.status == 404 and head.header("content-length") in (None, "0"), head
        assert_error(tus(gw, proto, "DELETE", unknown), 404, "not_found")
    assert_error(patch(gw, proto, loc, 0, b"x" * 11), 413, "chunk_too_large")
    assert_offset(gw, loc, 0)
    assert manifests(gw) == []


def test_head_of_unknown_upload_is_404_without_body(make_gateway, make_capture, tmp_path):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    for proto in ERROR_PROTOS:
        res = tus(gw, proto, "HEAD", TUS + secrets.token_hex(16))
        assert res.status == 404 and res.header("tus-resumable") == "1.0.0", res
        assert res.header("content-length") in (None, "0"), res


@pytest.mark.parametrize("proto", ERROR_PROTOS)
@pytest.mark.parametrize("metadata", [
    "filename", "a YQ==,a Yg==", "a YQ", "a Y Q==", "a YR==", "a YQ==,,b Yg==", "a YQ==,", "a b c", "a,b YQ=*",
])
def test_malformed_metadata_is_400(make_gateway, make_capture, tmp_path, proto, metadata):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    if metadata == "filename":  # a key without a value is fine; a value that is not base64 is not
        res = create(gw, proto, 5, "filename")
        assert res.status == 201, res
        return
    res = create(gw, proto, 5, metadata)
    err = assert_error(res, 400, "bad_request")
    assert "Upload-Metadata" in err["message"], err
    assert os.listdir(gw.store_dir / ".resumable") == [] if (gw.store_dir / ".resumable").exists() else True


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_creation_refusals(make_gateway, make_capture, tmp_path, proto):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    assert_error(create(gw, proto, MAX_FILE + 1), 413, "file_too_large")
    assert_error(create(gw, proto), 400, "bad_request")
    assert_error(create(gw, proto, 5, headers=[("Upload-Defer-Length", "1")]), 400, "bad_request")
    assert_error(create(gw, proto, headers=[("Upload-Defer-Length", "2")]), 400, "bad_request")
    assert_error(create(gw, proto, "12a"), 400, "bad_request")
    res = tus(gw, proto, "POST", TUS, [("Upload-Length", "5"), ("Content-Type", "text/plain")], b"hello")
    assert_error(res, 415, "unsupported_media_type")
    res = tus(gw, proto, "PATCH", TUS, [OCTETS, ("Upload-Offset", "0")], b"x")
    assert_error(res, 405, "method_not_allowed")
    assert res.header("allow") == "POST, OPTIONS", res
    res = create(gw, proto, MAX_FILE)
    assert res.status == 201, res
    assert_error(tus(gw, proto, "POST", location(res), [("Upload-Length", "5")]), 405, "method_not_allowed")
    assert len(os.listdir(gw.store_dir / ".resumable")) == 1


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_checksum(make_gateway, make_capture, tmp_path, proto):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    data = b"0123456789" * 100
    loc = location(create(gw, proto, len(data)))
    wrong = ("Upload-Checksum", "sha1 " + b64(hashlib.sha1(b"something else").digest()))
    res = patch(gw, proto, loc, 0, data[:500], [wrong])
    assert_error(res, 460, "checksum_mismatch")
    assert_offset(gw, loc, 0)
    res = patch(gw, proto, loc, 0, data[:500], [("Upload-Checksum", "crc32 AAAAAA==")])
    assert_error(res, 400, "bad_request")
    res = patch(gw, proto, loc, 0, data[:500], [("Upload-Checksum", "sha256 " + b64(b"short"))])
    assert_error(res, 400, "bad_request")
    assert_offset(gw, loc, 0)
    for algo, start, end in [("sha1", 0, 300), ("md5", 300, 600), ("sha256", 600, 1000)]:
        digest = hashlib.new(algo, data[start:end]).digest()
        res = patch(gw, proto, loc, start, data[start:end], [("Upload-Checksum", f"{algo} {b64(digest)}")])
        assert res.status == 204 and res.header("upload-offset") == str(end), res
    assert_one_manifest(gw, data)


@pytest.mark.parametrize("proto", UPLOAD_PROTOS)
def test_large_patches_without_flushes_give_the_manifest_sha256(make_gateway, make_capture, tmp_path, proto):
    """PATCHes of 9 MiB and more, hashed off the event loop while they arrive, committed without a flush (nothing
    else gives the hashing time to catch up), one of them refused by its checksum and dropped: the manifest's sha256
    is that of the bytes accepted."""
    route = dict(tus_route({"expires": "1h", "max_chunk": "16MiB", "fsync": False}), limits={"max_file": "64MiB"})
    gw = route_gateway(make_gateway, make_capture, route)
    piece = 9 * 1024 * 1024 + 7
    data = os.urandom(3 * piece)
    loc = location(create(gw, proto, len(data)))
    for i in range(3):
        chunk = data[i * piece:(i + 1) * piece]
        if i == 1:
            wrong = ("Upload-Checksum", "sha1 " + b64(hashlib.sha1(b"other").digest()))
            assert_error(patch(gw, proto, loc, i * piece, os.urandom(piece), [wrong]), 460, "checksum_mismatch")
        res = patch(gw, proto, loc, i * piece, chunk)
        assert res.status == 204 and res.header("upload-offset") == str((i + 1) * piece), res
    assert_one_manifest(gw, data)


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_creation_with_upload_and_deferred_length(make_gateway, make_capture, tmp_path, proto):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    data = os.urandom(5000)
    res = create(gw, proto, headers=[("Upload-Defer-Length", "1")], body=data[:2000])
    assert res.status == 201 and res.header("upload-offset") == "2000", res
    loc = location(res)
    head = tus(gw, proto, "HEAD", loc)
    assert head.header("upload-defer-length") == "1" and head.header("upload-length") is None, head
    assert_error(patch(gw, proto, loc, 2000, data[2000:], [("Upload-Length", str(MAX_FILE + 1))]), 413, "file_too_large")
    res = patch(gw, proto, loc, 2000, data[2000:], [("Upload-Length", str(len(data)))])
    assert res.status == 204 and res.header("upload-offset") == str(len(data)), res
    assert_one_manifest(gw, data)
    # a whole upload in its creation request
    whole = os.urandom(300)
    res = create(gw, proto, len(whole), f"filename {b64(b'w.bin')}", body=whole)
    assert res.status == 201 and res.header("upload-offset") == "300", res
    location(res)
    ms = manifests(gw)
    assert len(ms) == 2 and ms[1]["files"][0]["sha256"] == hashlib.sha256(whole).hexdigest(), ms
    assert ms[1]["files"][0]["filename"] == "w.bin", ms


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_termination_removes_the_files(make_gateway, make_capture, tmp_path, proto):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    loc = location(create(gw, proto, 100))
    assert patch(gw, proto, loc, 0, b"x" * 40).status == 204
    assert resumable_dir(gw.store_dir, loc).exists()
    res = tus(gw, proto, "DELETE", loc)
    assert res.status == 204 and res.header("tus-resumable") == "1.0.0", res
    assert not resumable_dir(gw.store_dir, loc).exists()
    assert_error(patch(gw, proto, loc, 40, b"y"), 404, "not_found")
    assert tus(gw, "h1", "HEAD", loc).status == 404
    assert manifests(gw) == [] and gw.store_entries() == []


def token(sub: str) -> str:
    now = int(time.time())
    return pyjwt.encode({"sub": sub, "iat": now, "exp": now + 300}, SECRET, algorithm="HS256")


def jwt_gateway(make_gateway, make_capture, tmp_path):
    """A gateway whose resumable route takes HS256 tokens; the Authorization fields of subjects alice and bob."""
    secret = tmp_path / "jwt.secret"
    secret.write_bytes(SECRET)
    gw = tus_gateway(make_gateway, make_capture, tmp_path,
                     auth={"jwt": {"algorithms": ["HS256"], "secret_file": str(secret)}})
    return gw, [("Authorization", f"Bearer {token('alice')}")], [("Authorization", f"Bearer {token('bob')}")]


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_an_upload_belongs_to_its_subject(make_gateway, make_capture, tmp_path, proto):
    gw, alice, bob = jwt_gateway(make_gateway, make_capture, tmp_path)
    assert_error(create(gw, proto, 10), 401, "unauthorized")
    loc = location(create(gw, proto, 10, headers=alice))
    assert_error(tus(gw, proto, "PATCH", loc, [OCTETS, ("Upload-Offset", "0")]), 401, "unauthorized")
    assert_error(patch(gw, proto, loc, 0, b"01234", bob), 404, "not_found")
    assert tus(gw, proto, "HEAD", loc, bob).status == 404
    assert_error(tus(gw, proto, "DELETE", loc, bob), 404, "not_found")
    assert patch(gw, proto, loc, 0, b"01234", alice).status == 204
    assert patch(gw, proto, loc, 5, b"56789", alice).status == 204
    ms = manifests(gw)
    assert len(ms) == 1 and ms[0]["auth"]["subject"] == "alice", ms


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_app_refusal_removes_the_upload(make_gateway, make_capture, tmp_path, proto):
    gw = tus_gateway(make_gateway, make_capture, tmp_path, status=422, body='{"detail":"virus found"}')
    data = os.urandom(1000)
    loc = location(create(gw, proto, len(data)))
    assert patch(gw, proto, loc, 0, data[:600]).status == 204
    res = patch(gw, proto, loc, 600, data[600:])
    assert res.status == 422 and res.json() == {"detail": "virus found"}, res
    assert len(manifests(gw)) == 1
    wait_until(lambda: gw.store_entries() == [], 10, "the refused upload's files to go")
    assert not resumable_dir(gw.store_dir, loc).exists()
    assert tus(gw, proto, "HEAD", loc).status == 404


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_cors_exposes_the_tus_fields(make_gateway, make_capture, tmp_path, proto):
    origin = "https://app.example.net"

    def cors(cfg):
        cfg["cors"] = {"allow_origins": [origin], "allow_methods": ["POST", "PATCH", "HEAD", "DELETE"],
                       "allow_headers": ["Tus-Resumable", "Upload-Length", "Upload-Offset", "Content-Type"],
                       "expose_headers": ["X-Trace"]}
    gw = tus_gateway(make_gateway, make_capture, tmp_path, extra=cors)
    res = create(gw, proto, 5, headers=[("Origin", origin)])
    assert res.status == 201, res
    assert res.header("access-control-allow-origin") == origin, res
    exposed = {v.strip().lower() for v in res.header("access-control-expose-headers").split(",")}
    # the route speaks both protocols (the default): the IETF draft's fields are exposed too
    assert exposed == {"x-trace", "location", "upload-offset", "upload-length", "tus-version", "tus-resumable",
                       "tus-max-size", "tus-extension", "upload-expires", "upload-metadata", "upload-concat",
                       "upload-complete", "upload-limit", "upload-draft-interop-version"}, res
    pre = curl(gw, proto, TUS, "-X", "OPTIONS", "-H", f"Origin: {origin}", "-H", "Access-Control-Request-Method: PATCH")
    assert pre.status == 204 and pre.header("access-control-allow-origin") == origin, pre
    assert pre.header("tus-version") is None, pre  # a preflight is CORS's, not tus's


# ---- durability, processes, expiry ----


def open_patch(gw, loc, offset, total_len, first: bytes):
    """A PATCH over HTTP/1.1 that declares `total_len` body bytes and sends only `first` (the socket stays open)."""
    s = connect(gw)
    s.sendall(http1_head("PATCH", loc, gw.authority, [("Tus-Resumable", "1.0.0"), OCTETS,
                                                      ("Upload-Offset", str(offset)),
                                                      ("Content-Length", str(total_len))]) + first)
    return s


def data_size(gw, loc) -> int:
    try:
        return (resumable_dir(gw.store_dir, loc) / "data").stat().st_size
    except FileNotFoundError:
        return -1


def test_a_cut_patch_keeps_what_arrived(make_gateway, make_capture, tmp_path):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    data = os.urandom(200_000)
    loc = location(create(gw, "h1", len(data)))
    s = open_patch(gw, loc, 0, 150_000, data[:70_000])
    wait_until(lambda: data_size(gw, loc) == 70_000, 10, "the first bytes to be written")
    assert head_offset(gw, "h1", loc) == 0  # not acknowledged while the PATCH goes on
    s.close()
    wait_until(lambda: head_offset(gw, "h1", loc) == 70_000, 10, "the received bytes to count")
    assert data_size(gw, loc) == 70_000
    assert_error(patch(gw, "h1", loc, 0, data), 409, "offset_mismatch")
    res = patch(gw, "h2c", loc, 70_000, data[70_000:])
    assert res.status == 204 and res.header("upload-offset") == str(len(data)), res
    assert_one_manifest(gw, data)


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_a_second_writer_is_locked_out(make_gateway, make_capture, tmp_path, proto):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    data = os.urandom(100_000)
    loc = location(create(gw, proto, len(data)))
    s = open_patch(gw, loc, 0, 100_000, data[:10_000])
    wait_until(lambda: data_size(gw, loc) == 10_000, 10, "the first PATCH to hold the upload")
    res = patch(gw, proto, loc, 0, data)
    assert_error(res, 423, "upload_locked")
    assert_error(tus(gw, proto, "DELETE", loc), 423, "upload_locked")
    s.sendall(data[10_000:])
    r = HTTP1Reader(s).read_response()
    s.close()
    assert r.status == 204, r
    assert len(manifests(gw)) == 1


def test_state_survives_a_restart(make_gateway, make_capture, tmp_path):
    gw1 = tus_gateway(make_gateway, make_capture, tmp_path, name="first")
    data = os.urandom(3_000_000)
    loc = location(create(gw1, "h1", len(data), f"filename {b64(b'big.bin')}"))
    assert patch(gw1, "h2", loc, 0, data[:1_700_001]).status == 204
    gw1.stop()
    gw2 = tus_gateway(make_gateway, make_capture, tmp_path, name="second", store=gw1.store_dir)
    assert head_offset(gw2, "h1", loc) == 1_700_001
    res = patch(gw2, "h1-tls", loc, 1_700_001, data[1_700_001:])
    assert res.status == 204, res
    ms = manifests(gw2)
    assert len(ms) == 1, ms
    f = ms[0]["files"][0]
    assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["filename"] == "big.bin", f
    assert (gw1.store_dir / ms[0]["id"] / "0").read_bytes() == data


def test_two_processes_share_the_uploads(make_gateway, make_capture, tmp_path):
    gw1 = tus_gateway(make_gateway, make_capture, tmp_path, name="one")
    gw2 = tus_gateway(make_gateway, make_capture, tmp_path, name="two", store=gw1.store_dir)
    data = os.urandom(500_000)
    loc = location(create(gw1, "h1", len(data)))
    assert patch(gw2, "h2c", loc, 0, data[:200_000]).status == 204
    assert head_offset(gw1, "h1", loc) == 200_000
    s = open_patch(gw1, loc, 200_000, 100_000, data[200_000:210_000])
    wait_until(lambda: data_size(gw1, loc) == 210_000, 10, "the PATCH on the first process to hold the upload")
    assert_error(patch(gw2, "h2", loc, 200_000, data[200_000:300_000]), 423, "upload_locked")
    s.sendall(data[210_000:300_000])
    r = HTTP1Reader(s).read_response()
    s.close()
    assert r.status == 204 and r.header("upload-offset") == "300000", r
    assert patch(gw1, "h1", loc, 300_000, data[300_000:]).status == 204
    assert len(manifests(gw1)) == 1 and manifests(gw2) == []
    assert manifests(gw1)[0]["files"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    # the completed upload, retried on the other process: no second hand-off
    again = patch(gw2, "h1", loc, len(data), b"")
    assert again.status == 204 and again.header("upload-offset") == str(len(data)), again
    assert len(manifests(gw1)) == 1 and manifests(gw2) == []


def test_expired_uploads_are_gone(make_gateway, make_capture, tmp_path):
    from setups import admin_get, with_admin
    gw = tus_gateway(make_gateway, make_capture, tmp_path, name="first", resumable={"expires": "1s"})
    loc = location(create(gw, "h1", 100))
    assert patch(gw, "h1", loc, 0, b"x" * 10).status == 204
    started = time.monotonic()
    wait_until(lambda: tus(gw, "h1", "HEAD", loc).status == 410, 10, "the upload to expire")
    assert time.monotonic() - started >= 0.5  # not before its time (it was touched by the PATCH)
    assert_error(patch(gw, "h2c", loc, 10, b"y"), 410, "upload_expired")
    assert resumable_dir(gw.store_dir, loc).exists()
    gw.stop()
    # the janitor (its first pass runs at start-up) removes it
    gw2 = tus_gateway(make_gateway, make_capture, tmp_path, name="second", store=gw.store_dir,
                      resumable={"expires": "1s"}, extra=with_admin())
    wait_until(lambda: not resumable_dir(gw.store_dir, loc).exists(), 10, "the janitor to remove the upload")
    # the janitor counts the removal after it: wait for the count, then check it is exactly one
    wait_until(lambda: "uploadgate_resumable_expired_total 0\n" not in admin_get(gw2, "/metrics")[1], 10,
               "the janitor to count the removal")
    status, text, _ = admin_get(gw2, "/metrics")
    assert status == 200 and "uploadgate_resumable_expired_total 1\n" in text, text
    assert_error(patch(gw2, "h1", loc, 10, b"y"), 404, "not_found")


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_max_chunk_bounds_each_request(make_gateway, make_capture, tmp_path, proto):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    data = os.urandom(MAX_CHUNK + 100)
    loc = location(create(gw, proto, len(data)))
    err = assert_error(patch(gw, proto, loc, 0, data), 413, "chunk_too_large")
    assert "max_chunk" in err["message"], err
    assert_offset(gw, loc, 0)
    if proto == "h1":  # a body of unknown length is cut where it crosses the limit; what came before it counts
        res = tus(gw, proto, "PATCH", loc, [OCTETS, ("Upload-Offset", "0"), ("Transfer-Encoding", "chunked")], data)
        assert_error(res, 413, "chunk_too_large")
        wait_until(lambda: head_offset(gw, "h1", loc) == MAX_CHUNK, 10, "the bytes up to max_chunk to count")
    at = head_offset(gw, "h1", loc)
    assert patch(gw, proto, loc, at, data[at:at + MAX_CHUNK]).status == 204
    at2 = head_offset(gw, "h1", loc)
    assert patch(gw, proto, loc, at2, data[at2:]).status == 204
    assert_one_manifest(gw, data)


def test_body_idle_ends_a_patch_and_keeps_its_bytes(make_gateway, make_capture, tmp_path):
    def idle(cfg):
        cfg["timeouts"]["body_idle"] = "1s"
    gw = tus_gateway(make_gateway, make_capture, tmp_path, extra=idle)
    data = os.urandom(50_000)
    loc = location(create(gw, "h1", len(data)))
    s = open_patch(gw, loc, 0, len(data), data[:20_000])
    wait_until(lambda: data_size(gw, loc) == 20_000, 10, "the first bytes to be written")
    started = time.monotonic()
    s.settimeout(10)
    try:
        closed = s.recv(1) == b""
    except ConnectionResetError:
        closed = True
    waited = time.monotonic() - started
    s.close()
    assert closed and 0.7 <= waited <= 5, waited  # body_idle, neither early nor late
    wait_until(lambda: head_offset(gw, "h1", loc) == 20_000, 10, "the received bytes to count")
    assert patch(gw, "h2", loc, 20_000, data[20_000:]).status == 204
    assert_one_manifest(gw, data)


# ---- concatenation ----

PARTIAL = ("Upload-Concat", "partial")


def partial(gw, proto, data: bytes, headers=()) -> str:
    """A complete partial upload of `data` (two PATCHes); its location."""
    loc = location(create(gw, proto, len(data), headers=[PARTIAL, *headers]))
    half = len(data) // 2
    for a, b in ((0, half), (half, len(data))):
        res = patch(gw, proto, loc, a, data[a:b], headers)
        assert res.status == 204 and res.header("upload-offset") == str(b), res
    return loc


def final(gw, proto, urls, headers=()):
    return tus(gw, proto, "POST", TUS, [("Upload-Concat", "final;" + " ".join(urls)), *headers])


def upload_dirs(gw) -> set:
    d = gw.store_dir / ".resumable"
    return set(os.listdir(d)) if d.exists() else set()


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_concatenation_joins_partials_into_one_manifest(make_gateway, make_capture, tmp_path, proto):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    parts = [os.urandom(3 * 1024 * 1024 + 17), os.urandom(1), os.urandom(700 * 1024)]
    locs = [partial(gw, proto, p) for p in parts]
    assert manifests(gw) == []  # a complete partial upload is never handed over by itself
    head = tus(gw, proto, "HEAD", locs[0])
    assert head.status == 200 and head.header("upload-concat") == "partial", head
    assert head.header("upload-offset") == head.header("upload-length") == str(len(parts[0])), head

    # an absolute URL and paths, in the order the bytes are joined
    urls = [f"https://uploads.example.net{locs[2]}", locs[0], locs[1]]
    data = parts[2] + parts[0] + parts[1]
    meta = f"filename {b64(b'joined.bin')},project {b64(b'p7')}"
    res = final(gw, proto, urls, [("Upload-Metadata", meta)])
    assert res.status == 201 and res.header("upload-offset") == str(len(data)), res
    loc = location(res)
    m = assert_one_manifest(gw, data)
    assert m["method"] == "POST" and m["path"] == TUS and m["files"][0]["filename"] == "joined.bin", m
    assert {x["name"]: x["value"] for x in m["fields"]} == {"project": "p7"}, m
    assert gw.local_path(m["id"], 0).read_bytes() == data

    head = tus(gw, proto, "HEAD", loc)
    assert head.status == 200 and head.header("upload-concat") == "final;" + " ".join(urls), head
    assert head.header("upload-offset") == head.header("upload-length") == str(len(data)), head
    assert_error(patch(gw, proto, loc, len(data), b""), 403, "forbidden")
    assert_error(patch(gw, proto, loc, 0, b"x"), 403, "forbidden")
    # the partial uploads went with the app's answer; only the final one's record stays
    assert upload_dirs(gw) == {loc[len(TUS):]}
    for p in locs:
        assert tus(gw, proto, "HEAD", p).status == 404
    assert_error(final(gw, proto, locs), 404, "not_found")
    assert len(manifests(gw)) == 1


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_concatenation_refusals(make_gateway, make_capture, tmp_path, proto):
    gw = tus_gateway(make_gateway, make_capture, tmp_path)
    done = partial(gw, proto, b"complete")
    plain = location(create(gw, proto, 3))
    assert patch(gw, proto, plain, 0, b"ab").status == 204
    half = location(create(gw, proto, 10, headers=[PARTIAL]))
    assert patch(gw, proto, half, 0, b"01234").status == 204
    before = upload_dirs(gw)

    res = final(gw, proto, [done, half])
    assert_error(res, 400, "bad_request")
    assert res.json()["error"]["message"] == "a partial upload named by Upload-Concat is not complete", res
    res = final(gw, proto, [done, plain])
    assert_error(res, 400, "bad_request")
    assert "Upload-Concat: partial" in res.json()["error"]["message"], res
    res = final(gw, proto, [done, done])
    assert_error(res, 400, "bad_request")
    assert res.json()["error"]["message"] == "Upload-Concat names a partial upload twice", res
    assert_error(final(gw, proto, [done, TUS + secrets.token_hex(16)]), 404, "not_found")
    assert_error(final(gw, proto, [done, "/other/" + done[len(TUS):]]), 404, "not_found")
    assert_error(final(gw, proto, [done, done + "/x"]), 404, "not_found")
    assert_error(tus(gw, proto, "POST", TUS, [("Upload-Concat", f"final;{done}"), ("Upload-Length", "8")]),
                 400, "bad_request")
    for bad in ["final;", "whole", "partial;", f"final {done}"]:
        res = tus(gw, proto, "POST", TUS, [("Upload-Concat", bad), ("Upload-Length", "8")])
        assert_error(res, 400, "bad_request")
        assert "Upload-Concat" in res.json()["error"]["message"], res
    assert manifests(gw) == []
    assert upload_dirs(gw) == before  # no final upload was left behind, every part is still there
    assert head_offset(gw, proto, half) == 5 and head_offset(gw, proto, done) == 8


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_concatenation_max_file_bounds_the_final_length(make_gateway, make_capture, tmp_path, proto):
    def small(cfg):
        cfg["routes"][-1]["limits"]["max_file"] = "1KiB"
    gw = tus_gateway(make_gateway, make_capture, tmp_path, extra=small)
    a, b = partial(gw, proto, os.urandom(600)), partial(gw, proto, os.urandom(424))
    c = partial(gw, proto, os.urandom(1))
    before = upload_dirs(gw)
    res = final(gw, proto, [a, b, c])
    assert_error(res, 413, "file_too_large")
    assert upload_dirs(gw) == before and manifests(gw) == []
    assert final(gw, proto, [a, b]).status == 201  # exactly max_file
    assert len(manifests(gw)) == 1


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_concatenation_of_another_subjects_partial_is_404(make_gateway, make_capture, tmp_path, proto):
    gw, alice, bob = jwt_gateway(make_gateway, make_capture, tmp_path)
    mine, theirs = partial(gw, proto, b"bob's", bob), partial(gw, proto, b"alice's", alice)
    assert_error(final(gw, proto, [mine, theirs], bob), 404, "not_found")
    assert manifests(gw) == []
    res = final(gw, proto, [theirs], alice)
    assert res.status == 201, res
    ms = manifests(gw)
    assert len(ms) == 1 and ms[0]["auth"]["subject"] == "alice", ms
    assert tus(gw, proto, "HEAD", mine, bob).status == 200  # bob's own partial is untouched


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_concatenation_app_refusal_removes_final_and_partials(make_gateway, make_capture, tmp_path, proto):
    gw = tus_gateway(make_gateway, make_capture, tmp_path, status=422, body='{"detail":"virus found"}')
    locs = [partial(gw, proto, os.urandom(1000)), partial(gw, proto, os.urandom(2000))]
    res = final(gw, proto, locs)
    assert res.status == 422 and res.json() == {"detail": "virus found"}, res
    assert len(manifests(gw)) == 1 and manifests(gw)[0]["files"][0]["size"] == 3000
    wait_until(lambda: gw.store_entries() == [] and upload_dirs(gw) == set(), 10, "the final and partial uploads to go")
