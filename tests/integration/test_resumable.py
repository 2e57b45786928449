"""Resumable uploads (tus 1.0.0) on a route with a `resumable:` block: creation (with upload, deferred length),
HEAD/PATCH/DELETE of an upload, every refusal's status and JSON error, checksums, durable offsets after a cut
PATCH, state shared by processes on one storage dir (and across a restart), one manifest per completed upload,
the app's refusal, ownership by token subject, CORS exposure, and expiry by the janitor.
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


def tus_gateway(make_gateway, make_capture, tmp_path, *, name="gw", status=204, body="", resumable=None, auth=None,
                store=None, extra=None):
    """A gateway with a resumable route in front of a capture backend answering `status`."""
    backend = make_capture(f"{name}-backend", status=status, headers=[("Content-Type", "application/json")], body=body)

    def conf(cfg):
        cfg["routes"].append(tus_route(resumable, auth))
        if store is not None:
            cfg["storage"]["dir"] = str(store)
        if extra:
            extra(cfg)
    gw = make_gateway(name, app=False, backend_url=backend.backend_url, configure=conf)
    gw.backend = backend
    return gw


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
                        "expiration"}, res
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
    stored = gw.local_path(m["id"], 0)
    assert stored.read_bytes() == data

    # the last chunk again (its answer was lost): the same answer, no second manifest
    again = patch(gw, proto, loc, len(data), b"")
    assert again.status == 204 and again.header("upload-offset") == str(len(data)), again
    assert len(manifests(gw)) == 1
    head = tus(gw, proto, "HEAD", loc)
    assert head.status == 200 and head.header("upload-offset") == str(len(data)), head
