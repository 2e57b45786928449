"""Request targets that could be routed as one path and served by the app as another are refused at the edge with 400
bad_request, over HTTP/1.1, h2c and h2 alike: dot segments (raw or percent-encoded), encoded '/', '.' or '\\', a raw
backslash, %00, a fragment, and paths that only resemble a route (another letter case, a trailing or repeated slash).
Raw bytes on HTTP/1.1 and raw :path values with the h2 library: curl and h2 clients may normalise paths themselves.

The gateway runs in front of the example app (Starlette serves /files/{rest:path}; an unsigned manifest with no files
is accepted there), with bearer auth on /upload, /files/* and the pass-through /api/*: every attack below would reach
the app without a token if the gateway routed on one path and forwarded another.
"""

from __future__ import annotations

import json

import pytest

from checks import assert_error, assert_nothing_reached_app, find_manifest
from harness import ERROR_PROTOS, h2_request, http1_request

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


# -- dot segments and encoded separators ------------------------------------------------------------------------

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


# -- fragments and lookalike routes ------------------------------------------------------------------------------

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
@pytest.mark.parametrize("path,in_message", LOOKALIKES.values(), ids=list(LOOKALIKES))
def test_a_forged_manifest_to_a_lookalike_of_a_route_gets_400(gw, proto, path, in_message):
    """uvicorn's httptools parser served /upload#x as /upload; lenient backends (Express) serve /UPLOAD and /upload/
    as /upload: each would take the forged manifest without the route's auth."""
    assert_refused(gw, forged_manifest(gw, proto, path), in_message)


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_a_lookalike_of_a_pass_through_route_gets_400(gw, proto):
    assert_refused(gw, send(gw, proto, "GET", "/API/items"), "resembles the route /api/* ")
    assert_refused(gw, send(gw, proto, "GET", "/api"), "resembles the route /api/* ")


# -- what still routes -------------------------------------------------------------------------------------------

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


# -- OPTIONS * ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_options_asterisk_gets_400(gw, proto):
    """HTTP/2 passed it to the app as OPTIONS /; HTTP/1.1 already answered 400."""
    res = send(gw, proto, "OPTIONS", "*")
    err = assert_error(res, 400, "bad_request")
    assert "must be a path" in err["message"], err
    assert_nothing_reached_app(gw)
