"""Request targets that could be routed as one path and served by the app as another are refused at the edge with 400
bad_request, over HTTP/1.1, h2c and h2 alike: dot segments (raw or percent-encoded), encoded '/', '.' or '\', a raw
backslash, %00, a fragment, and paths that only resemble a route (another letter case, a trailing or repeated slash).
Raw bytes on HTTP/1.1 and raw :path values with the h2 library: curl and h2 clients may normalise paths themselves.

The gateway runs in front of the example app (Starlette serves /files/{rest:path}; an unsigned manifest with no files
is accepted there), with bearer auth on /upload, /files/* and the pass-through /api/*: every attack below would reach
the app without a token if the gateway routed on one path and forwarded another.

Also the paths that are served: absolute-form targets (RFC 9112 3.2.2) are served as the path they name and go
through that route's policy (h2o 2.2.5 alone passed them to the app as the path "/http://host/..."), other target
forms get 400, and paths h2o normalises are served under the route they normalise to, streamed by either front.
"""

from __future__ import annotations

import json

import pytest

from checks import assert_clean, assert_error, assert_nothing_reached_app, find_manifest
from harness import (ERROR_PROTOS, H2Conn, HTTP1Reader, MiB, connect, curl, h2_request, http1_head, http1_request,
                     read_until_closed, sha256_bytes)
from setups import H2_TLS, exchange, readable_within


PRIVATE_TOKEN = "bad-heads-token-0123456789"


def with_private_pass_through(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(PRIVATE_TOKEN + "\n")

    def configure(cfg):
        cfg["routes"].insert(0, {"path": "/api/*", "pass_through": True, "auth": {"tokens_file": str(tokens)}})
    return configure


TOKEN = "paths-test-token-3f9c2a7d41"


FORGED = json.dumps({"version": 1, "id": "01J0000000000000000000000A", "files": [], "fields": {}}).encode()


def with_auth(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKEN + "\n")

    def configure(cfg):
        for r in cfg["routes"]:
            if r["path"] in ("/upload", "/files/*"):
                r["auth"] = {"tokens_file": str(tokens)}
        cfg["routes"].append({"path": "/api/*", "pass_through": True, "auth": {"tokens_file": str(tokens)}})
    return configure


@pytest.fixture
def gw(make_gateway, tmp_path):
    return make_gateway(configure=with_auth(tmp_path))


def send(gw, proto, method, path, headers=(), body=b""):
    """One request with `path` sent exactly as given: raw HTTP/1.1 bytes, or a raw :path on h2c / h2."""
    if proto == "h1":
        return http1_request(gw, method, path, headers, body)
    return h2_request(gw, method, path, [*headers, ("content-length", str(len(body)))] if body else headers, body,
                      tls=proto == "h2", timeout=30)


def forged_manifest(gw, proto, path):
    return send(gw, proto, "POST", path, [("Content-Type", "application/json")], FORGED)


def assert_refused(gw, res, in_message):
    err = assert_error(res, 400, "bad_request")
    assert in_message in err["message"], err
    assert_nothing_reached_app(gw)
    gw.wait_store_empty(5)


DOTS = {
    "encoded-dotdot": ("/files/%2e%2e/upload", "percent-encoded"),
    "encoded-dotdot-mixed-case": ("/files/%2E%2e/upload", "percent-encoded"),
    "dotdot": ("/files/../upload", "'..' segments"),
    "dot": ("/files/./x", "'..' segments"),
    "dotdot-encoded-slash": ("/files/..%2Fupload", "percent-encoded"),
    "dotdot-encoded-slash-lower": ("/files/..%2fx", "percent-encoded"),
    "encoded-backslash": ("/files/a%5c..%5cx", "percent-encoded"),
    "backslash": ("/files/a\\..\\x", "backslash"),
    "nul": ("/files/x%00", "NUL"),
}


LOOKALIKES = {
    "fragment": ("/upload#x", "fragment"),
    "fragment-after-query": ("/upload?a=1#x", "fragment"),
    "upper-case": ("/UPLOAD", "resembles the route /upload "),
    "trailing-slash": ("/upload/", "resembles the route /upload "),
    "repeated-slash": ("//upload", "resembles the route /upload "),
    "prefix-route-case": ("/Files/x", "resembles the route /files/* "),
    "prefix-route-without-slash": ("/files", "resembles the route /files/* "),
    "encoded-upper-case": ("/%55pload", "resembles the route /upload "),  # h2o routes it as /Upload
}


@pytest.mark.parametrize("proto", ERROR_PROTOS)
@pytest.mark.parametrize("path,in_message", DOTS.values(), ids=list(DOTS))
def test_a_forged_manifest_through_a_dot_segment_gets_400(gw, proto, path, in_message):
    """Routed on h2o's normalised path these matched no route (or another one) and went to the app with their raw
    target, past /files/*'s auth: Starlette served /files/{rest:path} and accepted the forged manifest."""
    assert_refused(gw, forged_manifest(gw, proto, path), in_message)


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_a_dot_segment_into_a_pass_through_route_gets_400(gw, proto):
    res = send(gw, proto, "GET", "/health/../api/items")
    assert_refused(gw, res, "'..' segments")
    res = send(gw, proto, "GET", "/api/%2e%2e/api/items")
    assert_refused(gw, res, "percent-encoded")


@pytest.mark.parametrize("proto", ERROR_PROTOS)
@pytest.mark.parametrize("path,in_message", LOOKALIKES.values(), ids=list(LOOKALIKES))
def test_a_forged_manifest_to_a_lookalike_of_a_route_gets_400(gw, proto, path, in_message):
    """uvicorn's httptools parser served /upload#x as /upload; lenient backends (Express) serve /UPLOAD and /upload/
    as /upload: each would take the forged manifest without the route's auth."""
    assert_refused(gw, forged_manifest(gw, proto, path), in_message)


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_a_lookalike_of_a_pass_through_route_gets_400(gw, proto):
    assert_refused(gw, send(gw, proto, "GET", "/API/items"), "resembles the route /api/* ")
    assert_refused(gw, send(gw, proto, "GET", "/api"), "resembles the route /api/* ")


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_an_encoded_unreserved_character_still_routes_under_its_route(gw, proto):
    """/files/%61bc is /files/abc to h2o and to the app: the route's policy applies (401 without a token), and with
    one the upload is served and the manifest carries the path as sent."""
    res = send(gw, proto, "PUT", "/files/%61bc", [("Content-Type", "application/octet-stream")], b"hello")
    assert_error(res, 401, "unauthorized")
    assert_nothing_reached_app(gw)
    res = send(gw, proto, "PUT", "/files/%61bc?x=/../%2e", [("Content-Type", "application/octet-stream"),
                                                           ("Authorization", f"Bearer {TOKEN}")], b"hello")
    assert res.status == 201, res
    entry, m = find_manifest(gw, res.json()["id"])
    assert m["route"] == "/files/*" and m["path"] == "/files/%61bc?x=/../%2e", m
    assert entry["path"] == "/files/%61bc?x=/../%2e", entry


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_a_pass_through_request_with_an_encoded_unreserved_character_is_forwarded_as_sent(gw, proto):
    res = send(gw, proto, "GET", "/api/%69tems", [("Authorization", f"Bearer {TOKEN}")])
    assert res.status == 200, res
    assert [e["path"] for e in gw.app_log()] == ["/api/%69tems"]


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_options_asterisk_gets_400(gw, proto):
    """HTTP/2 passed it to the app as OPTIONS /; HTTP/1.1 already answered 400."""
    res = send(gw, proto, "OPTIONS", "*")
    err = assert_error(res, 400, "bad_request")
    assert "must be a path" in err["message"], err
    assert_nothing_reached_app(gw)


def test_absolute_form_upload_is_served_as_its_path(gateway):
    data = b"absolute-form body"
    raw = (f"PUT http://{gateway.authority}/upload?abs=1 HTTP/1.1\r\nHost: {gateway.authority}\r\n"
           f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode()
    res, _ = exchange(gateway, raw + data)
    assert res.status == 201, res
    _, m = find_manifest(gateway, res.json()["id"])
    assert m["route"] == "/upload" and m["path"] == "/upload?abs=1", m
    assert [e["path"] for e in gateway.app_log()] == ["/upload?abs=1"]
    gateway.wait_store_empty(5)


def test_absolute_form_passes_through_as_its_path(gateway):
    with connect(gateway) as s:
        s.sendall(b"GET HTTP://Other.Example/api/items?p=2 HTTP/1.1\r\nHost: ignored\r\n\r\n"
                  + f"GET /api/bytes/2 HTTP/1.1\r\nHost: {gateway.authority}\r\n\r\n".encode())
        reader = HTTP1Reader(s)
        r1, r2 = reader.read_response(method="GET"), reader.read_response(method="GET")
    assert r1.status == 200 and r1.body.startswith(b'{"items"'), r1
    assert r2.status == 200 and r2.body == b"\x00\x01", r2
    assert [e["path"] for e in gateway.app_log()] == ["/api/items?p=2", "/api/bytes/2"]


def test_absolute_form_does_not_get_past_a_routes_policy(make_gateway, tmp_path):
    gw = make_gateway(configure=with_private_pass_through(tmp_path))
    res, _ = exchange(gw, f"GET http://{gw.authority}/api/items HTTP/1.1\r\nHost: {gw.authority}\r\n"
                          "Connection: close\r\n\r\n".encode())
    assert_error(res, 401, "unauthorized")
    assert_nothing_reached_app(gw)


@pytest.mark.parametrize("line", ["CONNECT app.example:443 HTTP/1.1", "OPTIONS * HTTP/1.1", "GET ftp://x/a HTTP/1.1",
                                  "GET http://user@x/api/items HTTP/1.1"])
def test_other_request_targets_get_400(gateway, line):
    res, _ = exchange(gateway, f"{line}\r\nHost: {gateway.authority}\r\n\r\n".encode())
    assert_error(res, 400, "bad_request")
    assert_nothing_reached_app(gateway)


@pytest.mark.parametrize("proto", ["h1", "h2c", "h2"])
@pytest.mark.parametrize("path", ["/%75pload", "/%75p%6c%6Fad"])
def test_paths_h2o_normalises_are_served_under_the_route_they_normalise_to(gateway, path, proto):
    """h2o routes these as /upload (h2o_url_normalize_path), so the fronts do too; the manifest keeps the path sent.
    (Dot segments are refused: see the tests above.)"""
    res = curl(gateway, proto, path, "--path-as-is", "-X", "PUT", "--data-binary", "hello",
               "-H", "Content-Type: application/octet-stream")
    assert res.status == 201, res
    _, m = find_manifest(gateway, res.json()["id"])
    assert m["route"] == "/upload" and m["files"][0]["sha256"] == sha256_bytes(b"hello")
    assert m["path"] == path, m
    assert len(res.headers.get("date", [])) == 1 and res.headers.get("server", [""])[0].startswith("uploadgate/"), res


@pytest.mark.parametrize("path", ["/%6cimited", "/l%69mited"])
def test_a_path_h2o_normalises_is_streamed_by_the_front(gateway, path):
    """The front, not h2o's buffered path, serves them: a declared body over /limited's max_body (4 MiB) gets its 413
    at the head, Expect: 100-continue unanswered. h2o's path (before) sent 100 Continue and waited for the whole body,
    which it would have buffered and then processed in one go on the event loop."""
    with connect(gateway) as s:
        s.sendall(http1_head("PUT", path, gateway.authority,
                             [("Content-Type", "application/octet-stream"), ("Content-Length", str(5 * MiB)),
                              ("Expect", "100-continue")]))
        assert readable_within(s, 5), "no answer to the head"
        raw = read_until_closed(s, 10)
    assert b"100 Continue" not in raw, raw[:300]
    assert raw.startswith(b"HTTP/1.1 413 "), raw[:300]
    assert json.loads(raw.partition(b"\r\n\r\n")[2])["error"]["code"] == "body_too_large", raw[:400]
    assert_nothing_reached_app(gateway)
    assert_clean(gateway)


@H2_TLS
def test_a_path_h2o_normalises_is_streamed_by_the_http2_front(gateway, tls):
    """/%6cimited is /limited (max_body 4 MiB) for h2o, so for the front too: a declared 5 MiB gets 413 at HEADERS,
    before any DATA (h2o's buffered path would have waited for the whole body)."""
    c = H2Conn(gateway, tls=tls, timeout=20)
    try:
        sid = c.start("PUT", "/%6cimited", [("content-type", "application/octet-stream"), ("content-length", str(5 * MiB))])
        res = c.wait_response(sid, timeout=5)
        assert res.sent == 0, res
    finally:
        c.close()
    assert_error(res, 413, "body_too_large", limit="max_body")
    assert_nothing_reached_app(gateway)
    assert_clean(gateway)
