"""The IETF "Resumable Uploads for HTTP" draft -05 (Upload-Draft-Interop-Version: 6) on a resumable route, with the
raw client (harness/ietf_resumable.py) over HTTP/1.1, h2c and h2: creation with Upload-Complete ?0 and ?1 and the
104 before the body, offset retrieval, append, completion relaying the app's answer, 409 problem details, an append
to a completed upload, cancellation, a creation stopped mid-body then resumed, the interop version, Upload-Complete's
syntax, Upload-Limit, the route's protocols, ownership by token subject and CORS exposure.
"""

from __future__ import annotations

import hashlib
import os
import secrets

import pytest

from checks import assert_error
from harness import ERROR_PROTOS, wait_until
from harness.ietf_resumable import PARTIAL_UPLOAD, IetfClient, IetfH2Client
from test_resumable import (MAX_CHUNK, MAX_FILE, SECRET, TUS, assert_one_manifest, manifests, resumable_dir, token, tus,
                            tus_gateway)

APP_ANSWER = '{"stored":true,"by":"app"}'
LIMIT = f"max-size={MAX_FILE}, max-append-size={MAX_CHUNK}, expires=3600"
MISMATCH = "https://iana.org/assignments/http-problem-types#mismatching-upload-offset"
COMPLETED = "https://iana.org/assignments/http-problem-types#completed-upload"


def client(gw, proto, headers=(), interop="6"):
    """The raw client for a transport: h1 (plain HTTP/1.1), h2c (prior knowledge) or h2 (TLS + ALPN)."""
    if proto == "h1":
        return IetfClient(gw, headers=headers, interop=interop)
    return IetfH2Client(gw, tls=proto == "h2", headers=headers, interop=interop)


def ietf_gateway(make_gateway, make_capture, tmp_path, **kw):
    """A resumable route in front of a capture backend that answers 201 with APP_ANSWER (unless told otherwise)."""
    kw.setdefault("status", 201)
    kw.setdefault("body", APP_ANSWER)
    return tus_gateway(make_gateway, make_capture, tmp_path, **kw)


def the_104(res) -> str:
    """The one 104 (Upload Resumption Supported) before the final answer: its Location, checked for shape."""
    interim = [i for i in res.interim if i.status == 104]
    assert len(interim) == 1, res
    h = interim[0].headers
    assert h.get("upload-draft-interop-version") == ["6"], res
    loc = h["location"][-1]
    assert loc.startswith(TUS) and len(loc) == len(TUS) + 32, res
    return loc


def assert_progress(res, status, offset):
    assert res.status == status, res
    assert res.header("upload-offset") == str(offset), res
    assert res.header("upload-complete") == "?0", res
    assert res.header("upload-draft-interop-version") == "6", res


def assert_relayed(res, length=None):
    """The completing request's answer is the app's own (its status and body), with where the upload stands."""
    assert res.status == 201 and res.body == APP_ANSWER.encode(), res
    assert res.header("content-type") == "application/json", res
    assert res.header("upload-complete") == "?1", res
    if length is not None:
        assert res.header("upload-offset") == str(length), res


def no_uploads(gw) -> bool:
    d = gw.store_dir / ".resumable"
    return not d.exists() or os.listdir(d) == []


# ---- the flow ----


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_incomplete_creation_append_and_completion(make_gateway, make_capture, tmp_path, proto):
    gw = ietf_gateway(make_gateway, make_capture, tmp_path)
    c = client(gw, proto)
    data = os.urandom(3 * 1024 * 1024 + 77)
    res = c.create(TUS, data[:1_000_000], complete=False)
    loc = the_104(res)
    assert_progress(res, 201, 1_000_000)
    assert res.header("location") == loc, res
    assert res.header("upload-limit") == LIMIT, res

    head = c.offset(loc)
    assert head.status == 204 and head.body == b"", head
    assert head.header("upload-offset") == "1000000" and head.header("upload-complete") == "?0", head
    assert head.header("upload-length") is None, head  # not known yet
    assert head.header("cache-control") == "no-store" and head.header("upload-limit") == LIMIT, head

    assert_progress(c.append(loc, 1_000_000, data[1_000_000:2_500_000], complete=False), 204, 2_500_000)
    assert manifests(gw) == []
    done = c.append(loc, 2_500_000, data[2_500_000:], complete=True)
    assert_relayed(done, len(data))
    m = assert_one_manifest(gw, data)
    assert m["method"] == "POST" and m["path"] == TUS, m

    head = c.offset(loc)
    assert head.status == 204 and head.header("upload-complete") == "?1", head
    assert head.header("upload-offset") == str(len(data)) and head.header("upload-length") == str(len(data)), head
    # the draft: a completed upload is not modified, and the app hears of it once
    again = c.append(loc, len(data), b"more", complete=True)
    assert again.status == 400 and again.header("content-type") == "application/problem+json", again
    assert again.json()["type"] == COMPLETED, again
    assert len(manifests(gw)) == 1


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_complete_creation_relays_the_apps_answer(make_gateway, make_capture, tmp_path, proto):
    gw = ietf_gateway(make_gateway, make_capture, tmp_path)
    c = client(gw, proto)
    data = os.urandom(700_000)
    meta = "filename cmVwb3J0LnBkZg==,filetype YXBwbGljYXRpb24vcGRm"
    res = c.create(TUS, data, complete=True, length=len(data), headers=[("Upload-Metadata", meta)])
    loc = the_104(res)
    assert_relayed(res, len(data))
    m = assert_one_manifest(gw, data)
    assert m["files"][0]["filename"] == "report.pdf" and m["files"][0]["content_type"] == "application/pdf", m
    head = c.offset(loc)
    assert head.header("upload-complete") == "?1" and head.header("upload-offset") == str(len(data)), head
    # without Upload-Length: the body's length is the upload's
    whole = os.urandom(5000)
    assert_relayed(c.create(TUS, whole, complete=True))
    assert len(manifests(gw)) == 2 and manifests(gw)[1]["files"][0]["sha256"] == hashlib.sha256(whole).hexdigest()


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_empty_incomplete_creation_then_appends(make_gateway, make_capture, tmp_path, proto):
    gw = ietf_gateway(make_gateway, make_capture, tmp_path)
    c = client(gw, proto)
    data = os.urandom(10_000)
    res = c.create(TUS, b"", complete=False, length=len(data))
    assert_progress(res, 201, 0)
    assert res.interim == [], res  # no body to resume: the final answer says it all
    loc = res.header("location")
    head = c.offset(loc)
    assert head.header("upload-length") == str(len(data)) and head.header("upload-offset") == "0", head
    assert_progress(c.append(loc, 0, data[:4000], complete=False), 204, 4000)
    # the known length reached completes the upload, even under Upload-Complete: ?0 (as tus-js-client sends it)
    assert_relayed(c.append(loc, 4000, data[4000:], complete=False), len(data))
    assert_one_manifest(gw, data)


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_app_refusal_is_relayed_and_removes_the_upload(make_gateway, make_capture, tmp_path, proto):
    gw = ietf_gateway(make_gateway, make_capture, tmp_path, status=422, body='{"detail":"virus found"}')
    c = client(gw, proto)
    res = c.create(TUS, b"x" * 1000, complete=True)
    assert res.status == 422 and res.json() == {"detail": "virus found"}, res
    assert res.header("upload-complete") is None, res  # the upload is gone with the refusal
    loc = the_104(res)
    wait_until(lambda: gw.store_entries() == [] and no_uploads(gw), 10, "the refused upload's files to go")
    assert c.offset(loc).status == 404


# ---- refusals ----


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_offset_mismatch_is_409_problem_details(make_gateway, make_capture, tmp_path, proto):
    gw = ietf_gateway(make_gateway, make_capture, tmp_path)
    c = client(gw, proto)
    loc = c.create(TUS, b"0123456789", complete=False).header("location")
    res = c.append(loc, 4, b"abcdef", complete=False)
    assert res.status == 409, res
    assert res.header("content-type") == "application/problem+json", res
    p = res.json()
    assert p["type"] == MISMATCH and p["expected-offset"] == 10 and p["provided-offset"] == 4, p
    assert (resumable_dir(gw.store_dir, loc) / "data").stat().st_size == 10
    assert c.offset(loc).header("upload-offset") == "10"
    assert manifests(gw) == []


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_append_refusals(make_gateway, make_capture, tmp_path, proto):
    gw = ietf_gateway(make_gateway, make_capture, tmp_path)
    c = client(gw, proto)
    loc = c.create(TUS, b"", complete=False, length=10).header("location")
    wrong_type = c.request("PATCH", loc, [("Content-Type", "application/offset+octet-stream"), ("Upload-Offset", "0"),
                                          ("Upload-Complete", "?0")], b"abc")
    err = assert_error(wrong_type, 415, "unsupported_media_type")
    assert PARTIAL_UPLOAD in err["message"], err
    no_offset = c.request("PATCH", loc, [("Content-Type", PARTIAL_UPLOAD), ("Upload-Complete", "?0")], b"abc")
    assert_error(no_offset, 400, "bad_request")
    short = c.append(loc, 0, b"abc", complete=True)
    err = assert_error(short, 400, "bad_request")
    assert "Upload-Length" in err["message"], err
    assert c.offset(loc).header("upload-offset") == "3"  # kept: the rest may follow
    assert_error(c.append(TUS + secrets.token_hex(16), 0, b"abc"), 404, "not_found")
    res = c.request("PATCH", TUS, [("Content-Type", PARTIAL_UPLOAD), ("Upload-Offset", "0"), ("Upload-Complete", "?0")])
    assert_error(res, 405, "method_not_allowed")
    # refused before its body is read, this append holds the upload's lock until its connection is gone: last
    assert_error(c.append(loc, 3, b"x" * 8, complete=True), 413, "chunk_too_large")
    assert c.offset(loc).header("upload-offset") == "3"
    assert manifests(gw) == []


@pytest.mark.parametrize("proto", ERROR_PROTOS)
@pytest.mark.parametrize("value", [None, "?2", "true", "1", "?1;x=1", "?0, ?1"])
def test_upload_complete_must_be_a_strict_boolean(make_gateway, make_capture, tmp_path, proto, value):
    gw = ietf_gateway(make_gateway, make_capture, tmp_path)
    c = client(gw, proto)
    headers = [] if value is None else [("Upload-Complete", value)]
    res = c.request("POST", TUS, headers, b"abc")
    err = assert_error(res, 400, "bad_request")
    assert "Upload-Complete" in err["message"], err
    assert res.interim == [] and no_uploads(gw), res
    assert manifests(gw) == []


@pytest.mark.parametrize("proto", ERROR_PROTOS)
@pytest.mark.parametrize("interop", ["5", "7", "", "6.0"])
def test_other_interop_versions_are_refused(make_gateway, make_capture, tmp_path, proto, interop):
    gw = ietf_gateway(make_gateway, make_capture, tmp_path)
    res = client(gw, proto, interop=interop).create(TUS, b"abc", complete=True)
    err = assert_error(res, 400, "interop_version_unsupported")
    assert "Upload-Draft-Interop-Version must be 6" in err["message"], err
    assert res.interim == [] and no_uploads(gw) and manifests(gw) == [], res


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_cancellation_removes_the_files(make_gateway, make_capture, tmp_path, proto):
    gw = ietf_gateway(make_gateway, make_capture, tmp_path)
    c = client(gw, proto)
    loc = c.create(TUS, b"y" * 4000, complete=False).header("location")
    assert resumable_dir(gw.store_dir, loc).exists()
    res = c.cancel(loc)
    assert res.status == 204 and res.header("upload-draft-interop-version") == "6", res
    assert not resumable_dir(gw.store_dir, loc).exists()
    assert c.offset(loc).status == 404
    assert_error(c.append(loc, 4000, b"z"), 404, "not_found")
    assert manifests(gw) == [] and gw.store_entries() == []


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_stopped_creation_resumes_from_the_104s_location(make_gateway, make_capture, tmp_path, proto):
    gw = ietf_gateway(make_gateway, make_capture, tmp_path)
    c = client(gw, proto)
    data = os.urandom(1_500_000)
    res = c.create(TUS, data, complete=True, length=len(data), stop_after=600_000)
    assert res.stopped and res.status is None, res
    loc = the_104(res)
    # the bytes that arrived count once the request is over (the server saw the reset)
    wait_until(lambda: c.offset(loc).header("upload-offset") not in (None, "0"), 10, "the received bytes to count")
    head = c.offset(loc)
    offset = int(head.header("upload-offset"))
    assert 0 < offset <= 600_000 and head.header("upload-complete") == "?0", head
    assert head.header("upload-length") == str(len(data)), head
    assert manifests(gw) == []
    assert_relayed(c.append(loc, offset, data[offset:], complete=True), len(data))
    assert_one_manifest(gw, data)


# ---- discovery, protocols, ownership, CORS ----


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_options_advertises_upload_limit(make_gateway, make_capture, tmp_path, proto):
    gw = ietf_gateway(make_gateway, make_capture, tmp_path)
    res = client(gw, proto).request("OPTIONS", TUS)
    assert res.status == 204 and res.header("upload-limit") == LIMIT, res
    assert res.header("upload-draft-interop-version") == "6" and res.header("tus-resumable") is None, res


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_a_route_refuses_the_protocol_it_does_not_list(make_gateway, make_capture, tmp_path, proto):
    tus_only = ietf_gateway(make_gateway, make_capture, tmp_path, name="tus-only",
                            resumable={"expires": "1h", "max_chunk": "2MiB", "protocols": ["tus"]})
    err = assert_error(client(tus_only, proto).create(TUS, b"abc", complete=True), 400, "resumable_protocol_disabled")
    assert "only tus" in err["message"], err
    assert no_uploads(tus_only)
    assert tus(tus_only, proto, "POST", TUS, [("Upload-Length", "3")]).status == 201

    ietf_only = ietf_gateway(make_gateway, make_capture, tmp_path, name="ietf-only",
                             resumable={"expires": "1h", "max_chunk": "2MiB", "protocols": ["ietf"]})
    err = assert_error(tus(ietf_only, proto, "POST", TUS, [("Upload-Length", "3")]), 400, "resumable_protocol_disabled")
    assert "only the IETF" in err["message"], err
    assert_error(tus(ietf_only, proto, "POST", TUS, [("Upload-Length", "3")], version=None), 400,
                 "interop_version_unsupported")
    assert no_uploads(ietf_only)
    assert_relayed(client(ietf_only, proto).create(TUS, b"abc", complete=True))


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_an_upload_belongs_to_its_subject(make_gateway, make_capture, tmp_path, proto):
    secret = tmp_path / "jwt.secret"
    secret.write_bytes(SECRET)
    gw = ietf_gateway(make_gateway, make_capture, tmp_path,
                      auth={"jwt": {"algorithms": ["HS256"], "secret_file": str(secret)}})
    alice = client(gw, proto, [("Authorization", f"Bearer {token('alice')}")])
    bob = client(gw, proto, [("Authorization", f"Bearer {token('bob')}")])
    res = client(gw, proto).create(TUS, b"abc", complete=False)
    assert_error(res, 401, "unauthorized")
    assert res.interim == [] and no_uploads(gw), res
    loc = alice.create(TUS, b"01234", complete=False).header("location")
    assert client(gw, proto).offset(loc).status == 401
    assert bob.offset(loc).status == 404
    assert_error(bob.append(loc, 5, b"56789"), 404, "not_found")
    assert_error(bob.cancel(loc), 404, "not_found")
    assert alice.append(loc, 5, b"56789", complete=True).status == 201
    ms = manifests(gw)
    assert len(ms) == 1 and ms[0]["auth"]["subject"] == "alice", ms


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_cors_exposes_the_draft_fields(make_gateway, make_capture, tmp_path, proto):
    origin = "https://app.example.net"

    def cors(cfg):
        cfg["cors"] = {"allow_origins": [origin], "allow_methods": ["POST", "PATCH", "HEAD", "DELETE"],
                       "allow_headers": ["Upload-Draft-Interop-Version", "Upload-Complete", "Upload-Offset",
                                         "Content-Type"]}
    gw = ietf_gateway(make_gateway, make_capture, tmp_path, extra=cors)
    res = client(gw, proto, [("Origin", origin)]).create(TUS, b"abc", complete=False)
    assert res.status == 201 and res.header("access-control-allow-origin") == origin, res
    exposed = {v.strip().lower() for v in res.header("access-control-expose-headers").split(",")}
    assert {"location", "upload-offset", "upload-complete", "upload-length", "upload-limit",
            "upload-draft-interop-version"} <= exposed, res
