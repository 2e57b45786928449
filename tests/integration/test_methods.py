"""Methods: a method a route does not list gets 405 method_not_allowed JSON (from uploadgate's front and from h2o's
pipeline alike) and reaches neither the app nor the disk; TRACE is refused with 405 on every route.
"""

from __future__ import annotations

import pytest

from checks import assert_clean, assert_error, assert_nothing_reached_app
from harness import ERROR_PROTOS, HTTP1Reader, connect, curl, http1_head
from setups import PASS_PATH, UPLOAD_PATH, capture_gateway, send_with_curl


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


def test_method_not_allowed_comes_from_h2os_pipeline(gateway):
    with connect(gateway) as s:
        s.sendall(http1_head("GET", "/upload", gateway.authority) + http1_head("GET", "/api/items", gateway.authority))
        reader = HTTP1Reader(s)
        r1, r2 = reader.read_response(method="GET"), reader.read_response(method="GET")
    assert_error(r1, 405, "method_not_allowed")
    assert r2.status == 200, r2
    assert_nothing_reached_app(gateway, exclude_paths=["/api/items"])


@pytest.mark.parametrize("proto", ERROR_PROTOS)
@pytest.mark.parametrize("path", [UPLOAD_PATH, PASS_PATH, "/"])
@pytest.mark.parametrize("method", ["TRACE", "trace"])
def test_trace_is_refused(make_gateway, make_capture, tmp_path, proto, path, method):
    gw, backend = capture_gateway(make_gateway, make_capture, tmp_path)
    res = send_with_curl(gw, proto, path, [("Cookie", "session=secret")], body=b"", method=method)
    assert_error(res, 405, "method_not_allowed")
    assert "secret" not in res.body.decode("latin-1"), res
    if path == UPLOAD_PATH:
        assert res.header("allow") == "POST, PUT", res
    ok = send_with_curl(gw, proto, PASS_PATH, [], body=b"", method="GET")  # the same gateway still forwards the rest
    assert ok.status == 201, ok
    assert [r["method"] for r in backend.log()] == ["GET"], backend.log()
