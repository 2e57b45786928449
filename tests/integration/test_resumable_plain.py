"""The IETF "Resumable Uploads for HTTP" draft -05 on ORDINARY upload routes (no `resumable:` block), with the raw
client (harness/ietf_resumable.py) over HTTP/1.1, h2c and h2: a POST carrying Upload-Draft-Interop-Version becomes a
resumable upload under resumable_path (/.uploadgate/uploads/<id>), stored raw as it arrives, and when complete it is
parsed by the route's pipeline as if it had come in one request: the app gets the manifest a one-request POST of the
same body produces. Also: a restart between appends, a malformed body found at completion, max_body crossed by
appends, auth and ownership on the upload URL, DELETE, requests without the draft's headers, and the reserved prefix
never reaching the app.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time

import jwt as pyjwt
import pytest

from checks import assert_error
from harness import ERROR_PROTOS, curl, multipart_body, multipart_content_type, sha256_bytes, to_yaml, wait_until
from harness.ietf_resumable import IetfClient, IetfH2Client
from test_resumable import route_gateway

PREFIX = "/.uploadgate/uploads/"
ROUTE = "/form"
APP_ANSWER = '{"stored":true,"by":"app"}'
SECRET = secrets.token_urlsafe(36).encode()
BOUNDARY = "plainBoundary0123456789"
FORM = ("Content-Type", multipart_content_type(BOUNDARY))


def client(gw, proto, headers=()):
    if proto == "h1":
        return IetfClient(gw, headers=headers)
    return IetfH2Client(gw, tls=proto == "h2", headers=headers)


def plain_gateway(make_gateway, make_capture, tmp_path, *, name="gw", route=None, store=None, status=201, extra=None):
    """An ordinary multipart upload route (ROUTE, max_body 4 MiB) in front of a capture backend answering `status`."""
    r = {"path": ROUTE, "forward_to": "/uploaded",
         "limits": {"max_body": "4MiB", "max_file": "3MiB", "max_files": 4, "max_fields": 4}}
    r.update(route or {})
    return route_gateway(make_gateway, make_capture, r, name=name, status=status, body=APP_ANSWER, store=store,
                         extra=extra)


def manifests(gw):
    return [json.loads(r["body"]) for r in gw.backend.log() if r["path"].split("?")[0] == "/uploaded"]


def app_requests(gw):
    return gw.backend.log()


def form_body(size=1_500_000):
    """A multipart body with a field and two files, and where its boundaries and part heads lie."""
    f1, f2 = os.urandom(size), os.urandom(size // 3 + 11)
    body = multipart_body([
        {"name": "title", "data": b"holiday pictures"},
        {"name": "a", "filename": "a.bin", "content_type": "application/octet-stream", "data": f1},
        {"name": "b", "filename": "b.jpg", "content_type": "image/jpeg", "data": f2},
    ], boundary=BOUNDARY)
    return body, (f1, f2)


def comparable(m):
    """What a manifest says of the upload, without what differs between two uploads of the same body (ids, paths,
    times)."""
    files = [{k: f.get(k) for k in ("field", "filename", "content_type", "size", "sha256")} for f in m["files"]]
    return {"method": m.get("method"), "path": m.get("path"), "files": files, "fields": m.get("fields")}


def one_request(gw, proto, body, target=ROUTE):
    f = gw.workdir / f"body-{secrets.token_hex(4)}"
    f.write_bytes(body)
    return curl(gw, proto, target, "-X", "POST", "-H", f"{FORM[0]}: {FORM[1]}", "--data-binary", f"@{f}")


def the_location(res):
    interim = [i for i in res.interim if i.status == 104]
    assert len(interim) == 1, res
    loc = interim[0].headers["location"][-1]
    assert loc.startswith(PREFIX) and len(loc) == len(PREFIX) + 32, res
    return loc


def state_dir(gw, loc):
    return gw.store_dir / ".resumable" / loc[len(PREFIX):]


def upload_dirs(gw):
    return sorted(p.name for p in gw.store_dir.iterdir() if not p.name.startswith("."))


def no_resumable_state(gw):
    d = gw.store_dir / ".resumable"
    return not d.exists() or os.listdir(d) == []


def assert_gone(res):
    """A HEAD of an upload that is not (or no longer) there, or not the caller's: 404, no body (RFC 9110 9.3.2)."""
    assert res.status == 404 and res.body == b"" and res.header("upload-offset") is None, res


def assert_relayed(res, length):
    assert res.status == 201 and res.body == APP_ANSWER.encode(), res
    assert res.header("upload-complete") == "?1" and res.header("upload-offset") == str(length), res


# ---- the flow ----


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_appends_split_anywhere_give_the_one_request_manifest(make_gateway, make_capture, tmp_path, proto):
    gw = plain_gateway(make_gateway, make_capture, tmp_path)
    c = client(gw, proto)
    body, (f1, f2) = form_body()
    target = ROUTE + "?album=7&x=%20y"
    # split inside the first boundary line, inside the second part's head, and inside the last boundary
    cut1 = 5
    cut2 = body.index(b'filename="b.jpg"') + 4
    cut3 = len(body) - 6
    res = c.create(target, body[:cut1], complete=False, headers=[FORM])
    loc = the_location(res)
    assert res.status == 201 and res.header("location") == loc and res.header("upload-offset") == str(cut1), res
    assert res.header("upload-complete") == "?0", res
    assert res.header("upload-limit") == "max-size=4194304, max-append-size=4194304, expires=86400", res
    head = c.offset(loc)
    assert head.status == 204 and head.header("upload-offset") == str(cut1), head
    assert head.header("upload-complete") == "?0" and head.header("upload-length") is None, head
    r2 = c.append(loc, cut1, body[cut1:cut2], complete=False)
    assert r2.status == 204 and r2.header("upload-offset") == str(cut2), r2
    r3 = c.append(loc, cut2, body[cut2:cut3], complete=False)
    assert r3.status == 204 and r3.header("upload-offset") == str(cut3), r3
    assert manifests(gw) == []
    assert_relayed(c.append(loc, cut3, body[cut3:], complete=True), len(body))

    assert one_request(gw, "h1", body, target).status == 201
    ms = manifests(gw)
    assert len(ms) == 2, ms
    assert comparable(ms[0]) == comparable(ms[1]), ms
    assert [f["sha256"] for f in ms[0]["files"]] == [sha256_bytes(f1), sha256_bytes(f2)], ms
    assert ms[0]["method"] == "POST" and ms[0]["path"] == target, ms[0]
    # the files are where a one-request upload's are; the raw copy is gone once the app accepted
    assert (gw.store_dir / ms[0]["id"] / "0").read_bytes() == f1
    assert not (state_dir(gw, loc) / "data").exists()
    head = c.offset(loc)
    assert head.status == 204 and head.header("upload-complete") == "?1", head
    again = c.append(loc, len(body), b"x", complete=True)
    assert again.status == 400 and again.header("content-type") == "application/problem+json", again
    assert len(manifests(gw)) == 2


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_complete_in_one_request(make_gateway, make_capture, tmp_path, proto):
    gw = plain_gateway(make_gateway, make_capture, tmp_path)
    c = client(gw, proto)
    body, (f1, _) = form_body(300_000)
    res = c.create(ROUTE, body, complete=True, headers=[FORM])
    loc = the_location(res)
    assert_relayed(res, len(body))
    ms = manifests(gw)
    assert len(ms) == 1 and ms[0]["files"][0]["sha256"] == sha256_bytes(f1), ms
    assert ms[0]["fields"] is not None and "holiday pictures" in json.dumps(ms[0]["fields"]), ms
    assert c.offset(loc).header("upload-complete") == "?1"


def test_put_and_a_raw_body(make_gateway, make_capture, tmp_path):
    gw = plain_gateway(make_gateway, make_capture, tmp_path)
    c = IetfClient(gw)
    data = os.urandom(200_000)
    res = c.request("PUT", ROUTE, [("Upload-Complete", "?0"), ("Content-Type", "application/octet-stream")],
                    data[:70_000])
    loc = the_location(res)
    assert res.status == 201, res
    assert_relayed(c.append(loc, 70_000, data[70_000:], complete=True), len(data))
    ms = manifests(gw)
    assert len(ms) == 1 and ms[0]["method"] == "PUT", ms
    f = ms[0]["files"][0]
    assert f["sha256"] == sha256_bytes(data) and f["size"] == len(data) and f["content_type"] == "application/octet-stream", f
    # a creation typed as an append (application/partial-upload) says nothing of the content: no content_type
    res = c.create(ROUTE, data[:10], complete=False, headers=[("Content-Type", "application/partial-upload")])
    assert_relayed(c.append(the_location(res), 10, data[10:], complete=True), len(data))
    f = manifests(gw)[1]["files"][0]
    assert f["sha256"] == sha256_bytes(data) and f["content_type"] is None, f


def test_restart_between_appends(make_gateway, make_capture, tmp_path):
    gw1 = plain_gateway(make_gateway, make_capture, tmp_path, name="first")
    body, (f1, f2) = form_body()
    cut = body.index(b"b.jpg") + 2
    loc = the_location(IetfClient(gw1).create(ROUTE, body[:cut], complete=False, headers=[FORM]))
    gw1.stop()
    gw2 = plain_gateway(make_gateway, make_capture, tmp_path, name="second", store=gw1.store_dir)
    c = IetfH2Client(gw2)
    head = c.offset(loc)
    assert head.status == 204 and head.header("upload-offset") == str(cut), head
    assert_relayed(c.append(loc, cut, body[cut:], complete=True), len(body))
    ms = manifests(gw2)
    assert len(ms) == 1 and [f["sha256"] for f in ms[0]["files"]] == [sha256_bytes(f1), sha256_bytes(f2)], ms


# ---- refusals ----


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_malformed_body_found_at_completion_leaves_nothing(make_gateway, make_capture, tmp_path, proto):
    gw = plain_gateway(make_gateway, make_capture, tmp_path)
    c = client(gw, proto)
    body, _ = form_body(100_000)
    broken = body[:-len(BOUNDARY) - 6] + b"garbage"  # the closing boundary never comes
    loc = the_location(c.create(ROUTE, broken[:50_000], complete=False, headers=[FORM]))
    res = c.append(loc, 50_000, broken[50_000:], complete=True)
    assert_error(res, 400, "malformed_multipart")
    # what a one-request upload of the same body gets
    assert_error(one_request(gw, proto, broken), 400, "malformed_multipart")
    assert manifests(gw) == [] and app_requests(gw) == []
    assert upload_dirs(gw) == [] and no_resumable_state(gw)
    assert_gone(c.offset(loc))


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_max_body_crossed_by_appends_removes_the_upload(make_gateway, make_capture, tmp_path, proto):
    gw = plain_gateway(make_gateway, make_capture, tmp_path)
    c = client(gw, proto)
    data = os.urandom(5 * 1024 * 1024)
    raw = ("Content-Type", "application/octet-stream")
    loc = the_location(c.create(ROUTE, data[:3_000_000], complete=False, headers=[raw]))
    res = c.append(loc, 3_000_000, data[3_000_000:], complete=False)
    assert_error(res, 413, "body_too_large", "max_body")
    assert no_resumable_state(gw) and upload_dirs(gw) == [] and app_requests(gw) == []
    assert_gone(c.offset(loc))
    # a declared Upload-Length over max_body is refused before anything is stored
    assert_error(c.create(ROUTE, b"", complete=False, length=len(data), headers=[raw]), 413, "body_too_large")
    assert no_resumable_state(gw)


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_auth_and_ownership_on_the_upload_url(make_gateway, make_capture, tmp_path, proto):
    secret = tmp_path / "jwt.secret"
    secret.write_bytes(SECRET)
    gw = plain_gateway(make_gateway, make_capture, tmp_path,
                       route={"auth": {"jwt": {"algorithms": ["HS256"], "secret_file": str(secret)}}})

    def bearer(sub):
        return [("Authorization", "Bearer " + pyjwt.encode({"sub": sub, "exp": int(time.time()) + 300}, SECRET, algorithm="HS256"))]
    alice, bob = client(gw, proto, bearer("alice")), client(gw, proto, bearer("bob"))
    anonymous = client(gw, proto)
    data = os.urandom(100_000)
    raw = ("Content-Type", "application/octet-stream")
    assert_error(anonymous.create(ROUTE, data[:10], complete=False, headers=[raw]), 401, "unauthorized")
    loc = the_location(alice.create(ROUTE, data[:40_000], complete=False, headers=[raw]))
    res = anonymous.offset(loc)
    assert res.status == 401 and res.header("upload-offset") is None, res
    assert_error(anonymous.append(loc, 40_000, data[40_000:]), 401, "unauthorized")
    assert_gone(bob.offset(loc))
    assert_error(bob.append(loc, 40_000, data[40_000:]), 404, "not_found")
    assert_error(bob.cancel(loc), 404, "not_found")
    assert alice.offset(loc).header("upload-offset") == "40000"
    assert_relayed(alice.append(loc, 40_000, data[40_000:]), len(data))
    ms = manifests(gw)
    assert len(ms) == 1 and ms[0]["files"][0]["sha256"] == sha256_bytes(data), ms
    assert ms[0]["auth"]["subject"] == "alice", ms


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_delete(make_gateway, make_capture, tmp_path, proto):
    gw = plain_gateway(make_gateway, make_capture, tmp_path)
    c = client(gw, proto)
    loc = the_location(c.create(ROUTE, os.urandom(20_000), complete=False, headers=[FORM]))
    assert state_dir(gw, loc).exists()
    res = c.cancel(loc)
    assert res.status == 204, res
    assert no_resumable_state(gw) and app_requests(gw) == []
    assert_gone(c.offset(loc))
    assert_error(c.append(loc, 20_000, b"x"), 404, "not_found")


# ---- what stays as it was ----


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_without_the_drafts_headers_nothing_changes(make_gateway, make_capture, tmp_path, proto):
    gw = plain_gateway(make_gateway, make_capture, tmp_path)
    body, (f1, _) = form_body(50_000)
    res = one_request(gw, proto, body)
    assert res.status == 201 and res.body == APP_ANSWER.encode(), res
    assert res.header("location") is None and res.header("upload-offset") is None, res
    assert res.header("upload-complete") is None, res
    assert len(manifests(gw)) == 1 and no_resumable_state(gw)


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_a_route_can_turn_it_off(make_gateway, make_capture, tmp_path, proto):
    gw = plain_gateway(make_gateway, make_capture, tmp_path, route={"resumable_requests": False})
    c = client(gw, proto)
    body, (f1, _) = form_body(50_000)
    res = c.create(ROUTE, body, complete=True, headers=[FORM])
    assert res.interim == [] and res.status == 201 and res.header("location") is None, res
    assert res.header("upload-complete") is None, res
    ms = manifests(gw)
    assert len(ms) == 1 and ms[0]["files"][0]["sha256"] == sha256_bytes(f1), ms
    assert no_resumable_state(gw)
    # an incomplete body announced as such is refused there: its start would reach the app as a whole file
    raw = os.urandom(5000)
    res = c.create(ROUTE, raw, complete=False, headers=[("Content-Type", "application/octet-stream")])
    assert res.status == 400 and res.header("location") is None, res
    assert json.loads(res.body)["error"]["message"].startswith("this route does not take resumable uploads"), res
    assert len(manifests(gw)) == 1 and no_resumable_state(gw)


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_the_prefix_never_reaches_the_app(make_gateway, make_capture, tmp_path, proto):
    # a catch-all route, so that anything uploadgate let through would reach the app
    gw = plain_gateway(make_gateway, make_capture, tmp_path,
                       extra=lambda cfg: cfg["routes"].append({"path": "/*", "pass_through": True}))
    c = client(gw, proto)
    loc = the_location(c.create(ROUTE, os.urandom(1000), complete=False,
                                headers=[("Content-Type", "application/octet-stream")]))
    unknown = PREFIX + secrets.token_hex(16)
    for method, path in [("GET", unknown), ("POST", unknown), ("HEAD", unknown), ("PATCH", unknown),
                         ("DELETE", PREFIX), ("GET", PREFIX + "x/y"), ("POST", PREFIX), ("GET", PREFIX + "?q=1")]:
        res = c.request(method, path, [("Content-Type", "application/partial-upload"), ("Upload-Offset", "0"),
                                       ("Upload-Complete", "?1")], b"abc" if method in ("POST", "PATCH") else b"")
        if method == "HEAD":
            assert_gone(res)
        else:
            assert_error(res, 404, "not_found")
    res = c.request("GET", loc)
    assert_error(res, 405, "method_not_allowed")
    assert res.header("allow") == "HEAD, PATCH, DELETE", res
    assert curl(gw, proto, unknown).status == 404
    assert app_requests(gw) == []
    # the catch-all still serves everything else
    assert curl(gw, proto, "/elsewhere").status == 201 and len(app_requests(gw)) == 1


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_the_upload_url_answers_under_the_routes_cors_policy(make_gateway, make_capture, tmp_path, proto):
    page, other = "https://app.example.net", "https://evil.example.net"
    # the global policy names another origin: the upload's URL must follow its route's own
    gw = plain_gateway(make_gateway, make_capture, tmp_path,
                       route={"cors": {"allow_origins": [page], "allow_methods": ["POST", "PATCH", "HEAD", "DELETE"],
                                       "allow_headers": ["Upload-Draft-Interop-Version", "Upload-Complete",
                                                         "Upload-Offset", "Content-Type"]}},
                       extra=lambda cfg: cfg.update(cors={"allow_origins": [other], "allow_methods": ["PATCH"]}))
    c = client(gw, proto, [("Origin", page)])
    res = c.create(ROUTE, b"abc", complete=False, headers=[("Content-Type", "application/octet-stream")])
    loc = the_location(res)
    assert res.status == 201 and res.header("access-control-allow-origin") == page, res
    head = c.offset(loc)
    assert head.status == 204 and head.header("access-control-allow-origin") == page, head
    exposed = {v.strip().lower() for v in head.header("access-control-expose-headers").split(",")}
    assert {"location", "upload-offset", "upload-complete", "upload-limit",
            "upload-draft-interop-version"} <= exposed, head
    pre = [("Access-Control-Request-Method", "PATCH"), ("Access-Control-Request-Headers", "upload-offset")]
    ok = client(gw, proto, [("Origin", page)]).request("OPTIONS", loc, pre)
    assert ok.status == 204 and ok.header("access-control-allow-origin") == page, ok
    assert "PATCH" in ok.header("access-control-allow-methods"), ok
    assert_error(client(gw, proto, [("Origin", other)]).request("OPTIONS", loc, pre), 403, "forbidden")
    assert client(gw, proto, [("Origin", other)]).offset(loc).header("access-control-allow-origin") is None
    assert app_requests(gw) == []


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_a_body_read_back_over_many_turns_of_the_loop(make_gateway, make_capture, tmp_path, proto):
    """A body larger than what one turn of the event loop reads back (4 MiB): parsed across turns, every byte."""
    gw = plain_gateway(make_gateway, make_capture, tmp_path,
                       route={"limits": {"max_body": "32MiB", "max_file": "32MiB", "max_files": 4}})
    c = client(gw, proto)
    body, (f1, f2) = form_body(9 * 1024 * 1024 + 5)
    cut = 4 * 1024 * 1024 + 3
    loc = the_location(c.create(ROUTE, body[:cut], complete=False, headers=[FORM]))
    assert_relayed(c.append(loc, cut, body[cut:], complete=True), len(body))
    ms = manifests(gw)
    assert len(ms) == 1 and [f["sha256"] for f in ms[0]["files"]] == [sha256_bytes(f1), sha256_bytes(f2)], ms
    assert [f["size"] for f in ms[0]["files"]] == [len(f1), len(f2)], ms


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_the_next_request_finds_the_upload_unlocked(make_gateway, make_capture, tmp_path, proto):
    """A client that appends as soon as it has read the creation's answer never finds the upload locked (423): the
    lock goes with the answer, not when the transport has finished with the request."""
    gw = plain_gateway(make_gateway, make_capture, tmp_path)
    c = client(gw, proto)
    raw = ("Content-Type", "application/octet-stream")
    for i in range(50):
        loc = c.create(ROUTE, b"x" * 100_000, complete=False, headers=[raw]).header("location")
        res = c.append(loc, 100_000, b"y" * 1000, complete=False)
        assert res.status == 204 and res.header("upload-offset") == "101000", (i, res)
        res = c.cancel(loc)
        assert res.status == 204, (i, res)


def test_no_room_at_completion_keeps_the_upload_for_another_try(make_gateway, make_capture, tmp_path):
    """The parsed copy needs room (storage.min_free): short of it the completion gets 507 and the complete upload is
    kept, so that the client completes it again once there is room. Creation asks for room first."""
    gw = plain_gateway(make_gateway, make_capture, tmp_path)
    c = IetfClient(gw)
    body, (f1, f2) = form_body(200_000)
    loc = the_location(c.create(ROUTE, body, complete=False, headers=[FORM]))

    def reload_with_min_free(value):
        gw.config["storage"]["min_free"] = value
        gw.config_path.write_text(to_yaml(gw.config))
        before = gw.log().count('"event":"reload"')
        gw.proc.signal(signal.SIGHUP)
        wait_until(lambda: gw.log().count('"event":"reload"') > before, 10, "the reload to be logged")

    reload_with_min_free("1000TiB")
    assert_error(c.create(ROUTE, b"abc", complete=False, headers=[FORM]), 507, "insufficient_storage")
    assert_error(c.append(loc, len(body), b"", complete=True), 507, "insufficient_storage")
    head = c.offset(loc)
    assert head.status == 204 and head.header("upload-offset") == str(len(body)), head
    assert head.header("upload-complete") == "?0" and upload_dirs(gw) == [] and manifests(gw) == [], head
    reload_with_min_free("0")
    assert_relayed(c.append(loc, len(body), b"", complete=True), len(body))
    ms = manifests(gw)
    assert len(ms) == 1 and [f["sha256"] for f in ms[0]["files"]] == [sha256_bytes(f1), sha256_bytes(f2)], ms
