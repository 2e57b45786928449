"""CORS (config `cors:`, global and per route): preflights answered by uploadgate, CORS headers on every
actual response (the app's relayed answer, proxied pass-through, uploadgate's own errors), the app's own
Access-Control-* headers dropped, and the unsafe credentials + "*" config refused by --check.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from checks import Sent, assert_error, expect_upload, header_map
from harness import (ERROR_PROTOS, KiB, binary_path, cors_headers, curl, curl_form_args, header_values, make_file,
                     to_yaml)


ALLOWED = ["https://app.example.com", "https://*.example.org", "http://127.0.0.1:9000"]


METHODS = ["GET", "POST", "PUT"]


HEADERS = ["Authorization", "Content-Type", "X-Request-Id"]


PREFLIGHT_VARY = {"origin", "access-control-request-method", "access-control-request-headers"}


def global_cors(cfg):
    cfg["cors"] = {"allow_origins": ALLOWED, "allow_methods": METHODS, "allow_headers": HEADERS,
                   "expose_headers": ["X-Request-Id"], "allow_credentials": True, "max_age": "10m"}


def preflight(gw, proto, path, origin, method="POST", req_headers=None):
    args = ["-X", "OPTIONS", "-H", f"Origin: {origin}", "-H", f"Access-Control-Request-Method: {method}"]
    if req_headers is not None:
        args += ["-H", f"Access-Control-Request-Headers: {req_headers}"]
    return curl(gw, proto, path, *args)


def vary_set(res):
    return {v.lower() for v in header_values(res, "vary")}


def assert_preflight_ok(res, origin):
    assert res.status == 204, res
    assert res.body == b"", res
    assert res.headers.get("access-control-allow-origin") == [origin], res
    assert res.headers.get("access-control-allow-credentials") == ["true"], res
    assert res.headers.get("access-control-allow-methods") == ["GET, POST, PUT"], res
    assert res.headers.get("access-control-allow-headers") == ["Authorization, Content-Type, X-Request-Id"], res
    assert res.headers.get("access-control-max-age") == ["600"], res
    assert "origin" in vary_set(res), res


def assert_actual_cors(res, origin):
    """An actual response to an allowed origin: ACAO is that origin (once), credentials and expose headers, Vary: Origin."""
    assert res.headers.get("access-control-allow-origin") == [origin], res
    assert res.headers.get("access-control-allow-credentials") == ["true"], res
    assert res.headers.get("access-control-expose-headers") == ["X-Request-Id"], res
    assert "origin" in vary_set(res), res
    # Preflight-only headers never appear on actual responses.
    for name in ("access-control-allow-methods", "access-control-allow-headers", "access-control-max-age"):
        assert name not in res.headers, res


def assert_no_cors_grant(res):
    """A response to a disallowed or absent Origin: nothing that lets a browser read it."""
    assert "access-control-allow-origin" not in res.headers, res
    assert "access-control-allow-credentials" not in res.headers, res


ALLOWED_FORMS = ["https://a.example.org", "https://a.b.example.org", "http://127.0.0.1:9000",
                 "HTTPS://APP.EXAMPLE.COM", "https://app.example.com:443"]


REFUSED = [
    ("origin", "https://evil.example.com", "POST", None),
    ("origin-bare-wildcard-suffix", "https://example.org", "POST", None),
    ("origin-suffix-without-dot", "https://evilexample.org", "POST", None),
    ("origin-wrong-scheme", "http://app.example.com", "POST", None),
    ("origin-wrong-port", "http://127.0.0.1:9001", "POST", None),
    ("origin-null", "null", "POST", None),
    ("origin-with-path", "https://app.example.com/", "POST", None),
    ("method", "https://app.example.com", "DELETE", None),
    ("method-lowercase", "https://app.example.com", "post", None),
    ("header", "https://app.example.com", "POST", "authorization, x-custom"),
]


APP_CORS_HEADERS = [("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Methods", "DELETE"),
                    ("Access-Control-Expose-Headers", "X-Secret"), ("Access-Control-Allow-Credentials", "true"),
                    ("Access-Control-Max-Age", "86400"), ("X-Secret", "s3cr3t"), ("Content-Type", "application/json")]


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_preflight_allowed(make_gateway, proto):
    """On an upload route, a pass-through path and an unknown path alike; never reaches the app."""
    gw = make_gateway(configure=global_cors)
    for path in ["/upload", "/api/items", "/no/such/path"]:
        res = preflight(gw, proto, path, "https://app.example.com", "PUT", "authorization, content-type")
        assert_preflight_ok(res, "https://app.example.com")
        assert PREFLIGHT_VARY <= vary_set(res), res
    # Requested header names are matched case-insensitively; safelisted ones left out need no listing.
    assert_preflight_ok(preflight(gw, proto, "/upload", "https://app.example.com", "POST", "X-REQUEST-ID"),
                        "https://app.example.com")
    assert_preflight_ok(preflight(gw, proto, "/upload", "https://app.example.com", "GET"), "https://app.example.com")
    assert gw.app_log() == [], gw.app_log()


def test_preflight_allowed_origin_forms(make_gateway):
    """One-label wildcard, nested subdomain, explicit port; scheme/host case-insensitive, default port equal.
    The answer echoes the request's Origin exactly."""
    gw = make_gateway(configure=global_cors)
    for origin in ALLOWED_FORMS:
        res = preflight(gw, "h1", "/upload", origin, "POST", "authorization")
        assert_preflight_ok(res, origin)
    assert gw.app_log() == []


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_preflight_refused(make_gateway, proto):
    gw = make_gateway(configure=global_cors)
    for what, origin, method, req_headers in REFUSED:
        res = preflight(gw, proto, "/upload", origin, method, req_headers)
        assert res.status == 403, f"{what}: {res!r}"
        assert_error(res, 403, "forbidden")
        assert cors_headers(res) == {}, f"{what}: a refused preflight carries CORS headers: {res!r}"
    assert gw.app_log() == [], gw.app_log()
    assert gw.store_entries() == []


def test_refused_preflight_carries_vary(make_gateway):
    """The answer to a preflight depends on Origin/ACRM/ACRH whether it is granted or not: caches must be told
    (Fetch 3.2.5; src/policy/cors.h says a refused preflight keeps Vary)."""
    gw = make_gateway(configure=global_cors)
    res = preflight(gw, "h1", "/upload", "https://evil.example.com", "POST")
    assert res.status == 403, res
    assert "origin" in vary_set(res), f"refused preflight without Vary: Origin: {res!r}"


def test_options_without_preflight_headers_is_not_a_preflight(make_gateway):
    """OPTIONS with Origin but no Access-Control-Request-Method is an ordinary request: proxied to the app
    (which has no OPTIONS handler) and answered with the actual-response CORS headers."""
    gw = make_gateway(configure=global_cors)
    res = curl(gw, "h1", "/api/items", "-X", "OPTIONS", "-H", "Origin: https://app.example.com")
    assert res.status == 405, res  # FastAPI's answer, relayed
    assert_actual_cors(res, "https://app.example.com")
    assert [e["method"] for e in gw.app_log()] == ["OPTIONS"], gw.app_log()


def test_no_cors_block_options_goes_to_app(gateway):
    """Without `cors:` uploadgate adds nothing and OPTIONS (even a preflight) is the app's business."""
    res = preflight(gateway, "h1", "/api/items", "https://app.example.com", "POST")
    assert res.status == 405, res
    assert cors_headers(res) == {}, res
    assert [e["method"] for e in gateway.app_log()] == ["OPTIONS"], gateway.app_log()
    res = curl(gateway, "h1", "/api/items", "-H", "Origin: https://app.example.com")
    assert res.status == 200 and cors_headers(res) == {}, res


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_upload_response_gets_cors_headers(make_gateway, tmp_path, proto):
    gw = make_gateway(configure=global_cors)
    f = make_file(tmp_path / "data", "a.bin", 300 * KiB)
    res = curl(gw, proto, "/upload", "-H", "Origin: https://app.example.com",
               *curl_form_args([("file", f, "a.bin", "application/octet-stream")]))
    expect_upload(gw, res, proto=proto, sent=[Sent("file", "a.bin", "application/octet-stream", f)])
    assert_actual_cors(res, "https://app.example.com")
    # The Origin header itself still reaches the app with the manifest.
    (entry,) = gw.app_requests("/upload")
    assert header_map(entry["headers"]).get("origin") == ["https://app.example.com"]


def test_passthrough_response_gets_cors_headers(make_gateway):
    gw = make_gateway(configure=global_cors)
    for proto in ["h1", "h2c", "h2"]:
        res = curl(gw, proto, "/api/items", "-H", "Origin: https://x.example.org")
        assert res.status == 200 and res.header("x-example-app") == "items", res
        assert_actual_cors(res, "https://x.example.org")
        assert res.header("cache-control") == "no-store"  # the app's other headers untouched
        res = curl(gw, proto, "/api/status/418", "-H", "Origin: https://x.example.org")
        assert res.status == 418, res
        assert_actual_cors(res, "https://x.example.org")


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_uploadgate_errors_get_cors_headers(make_gateway, tmp_path, proto):
    """405 and 413 made by uploadgate itself are readable by an allowed origin (else a browser app sees only
    'TypeError: Failed to fetch' instead of the JSON error)."""
    gw = make_gateway(configure=global_cors)
    res = curl(gw, proto, "/upload", "-H", "Origin: https://app.example.com")
    assert_error(res, 405, "method_not_allowed")
    assert_actual_cors(res, "https://app.example.com")
    big = make_file(tmp_path / "data", "big.bin", 1024 * KiB + 1)
    res = curl(gw, proto, "/limited", "-H", "Origin: https://app.example.com",
               *curl_form_args([("file", big, "big.bin", None)]))
    assert_error(res, 413, "file_too_large")
    assert_actual_cors(res, "https://app.example.com")
    gw.wait_store_empty()
    assert gw.app_log() == []


def test_disallowed_or_absent_origin_gets_no_grant(make_gateway, tmp_path):
    gw = make_gateway(configure=global_cors)
    f = make_file(tmp_path / "data", "a.bin", 10 * KiB)
    for origin in ["https://evil.example.com", "null", None]:
        extra = ["-H", f"Origin: {origin}"] if origin else []
        res = curl(gw, "h1", "/api/items", *extra)
        assert res.status == 200, res
        assert_no_cors_grant(res)
        assert "origin" in vary_set(res), res
        res = curl(gw, "h2c", "/upload", *extra, *curl_form_args([("file", f, "a.bin", "application/x-test")]))
        expect_upload(gw, res, proto="h2c", sent=[Sent("file", "a.bin", "application/x-test", f)])
        assert_no_cors_grant(res)
        res = curl(gw, "h1", "/upload", *extra)
        assert_error(res, 405, "method_not_allowed")
        assert_no_cors_grant(res)


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_app_cors_headers_are_replaced(make_gateway, make_capture, proto):
    """An app that sets its own (too generous) Access-Control-* headers behind a CORS-configured uploadgate:
    only uploadgate's decision reaches the client."""
    backend = make_capture("backend", status=200, headers=APP_CORS_HEADERS, body='{"ok":true}')
    gw = make_gateway(app=False, backend_url=backend.backend_url, configure=global_cors)
    res = curl(gw, proto, "/api/anything", "-H", "Origin: https://app.example.com")
    assert res.status == 200 and res.body == b'{"ok":true}', res
    assert res.header("x-secret") == "s3cr3t", res
    assert_actual_cors(res, "https://app.example.com")
    assert cors_headers(res) == {"access-control-allow-origin": ["https://app.example.com"],
                                 "access-control-allow-credentials": ["true"],
                                 "access-control-expose-headers": ["X-Request-Id"]}, res
    res = curl(gw, proto, "/api/anything", "-H", "Origin: https://evil.example.com")
    assert res.status == 200, res
    assert cors_headers(res) == {}, f"the app's Access-Control-* headers leaked to a disallowed origin: {res!r}"
    assert len(backend.log()) == 2


def test_wildcard_origin_without_credentials(make_gateway):
    def conf(cfg):
        cfg["cors"] = {"allow_origins": ["*"], "allow_methods": ["POST"], "allow_headers": ["Content-Type"]}

    gw = make_gateway(configure=conf)
    res = preflight(gw, "h1", "/upload", "https://anyone.test", "POST", "content-type")
    assert res.status == 204, res
    assert res.headers.get("access-control-allow-origin") == ["*"], res
    assert "access-control-allow-credentials" not in res.headers, res
    assert res.headers.get("access-control-allow-methods") == ["POST"], res
    assert "access-control-max-age" not in res.headers, res
    res = curl(gw, "h1", "/api/items", "-H", "Origin: https://anyone.test")
    assert res.status == 200, res
    assert res.headers.get("access-control-allow-origin") == ["*"], res
    assert "access-control-allow-credentials" not in res.headers, res
    # "null" (opaque origins) never matches, not even "*".
    res = preflight(gw, "h1", "/upload", "null", "POST")
    assert_error(res, 403, "forbidden")
    assert gw.app_log() == [e for e in gw.app_log() if e["method"] == "GET"]


def test_route_cors_overrides_global(make_gateway):
    def conf(cfg):
        global_cors(cfg)
        route = next(r for r in cfg["routes"] if r["path"] == "/upload")
        route["cors"] = {"allow_origins": ["https://uploader.example.net"], "allow_methods": ["POST"],
                         "allow_headers": ["Authorization"]}

    gw = make_gateway(configure=conf)
    # The route's policy on /upload ...
    res = preflight(gw, "h1", "/upload", "https://uploader.example.net", "POST", "authorization")
    assert res.status == 204, res
    assert res.headers.get("access-control-allow-origin") == ["https://uploader.example.net"], res
    assert res.headers.get("access-control-allow-methods") == ["POST"], res
    assert res.headers.get("access-control-allow-headers") == ["Authorization"], res
    assert "access-control-allow-credentials" not in res.headers, res
    assert "access-control-max-age" not in res.headers, res
    assert_error(preflight(gw, "h1", "/upload", "https://app.example.com", "POST"), 403, "forbidden")
    assert_error(preflight(gw, "h1", "/upload", "https://uploader.example.net", "PUT"), 403, "forbidden")
    res = curl(gw, "h1", "/upload", "-H", "Origin: https://uploader.example.net")
    assert_error(res, 405, "method_not_allowed")
    assert res.headers.get("access-control-allow-origin") == ["https://uploader.example.net"], res
    res = curl(gw, "h1", "/upload", "-H", "Origin: https://app.example.com")
    assert_no_cors_grant(res)
    # ... the global one elsewhere (another upload route, pass-through).
    assert_preflight_ok(preflight(gw, "h1", "/limited", "https://app.example.com", "PUT"), "https://app.example.com")
    assert_preflight_ok(preflight(gw, "h1", "/api/items", "https://app.example.com", "GET"), "https://app.example.com")
    assert_error(preflight(gw, "h1", "/api/items", "https://uploader.example.net", "GET"), 403, "forbidden")
    assert gw.app_log() == []


def test_preflight_needs_no_token_on_auth_route(make_gateway, tmp_path):
    """Browsers never send credentials on a preflight: an auth route answers it without a token, and its 401 for
    the actual request is readable by the allowed origin (with the challenge)."""
    tokens = tmp_path / "tokens"
    tokens.write_text("s3cr3t-token\n")

    def conf(cfg):
        global_cors(cfg)
        next(r for r in cfg["routes"] if r["path"] == "/upload")["auth"] = {"tokens_file": str(tokens)}

    gw = make_gateway(configure=conf)
    for proto in ["h1", "h2"]:
        assert_preflight_ok(preflight(gw, proto, "/upload", "https://app.example.com", "POST", "authorization"),
                            "https://app.example.com")
        res = curl(gw, proto, "/upload", "-X", "POST", "-H", "Origin: https://app.example.com",
                   "--data-binary", "x", "-H", "Content-Type: text/plain")
        assert_error(res, 401, "unauthorized")
        assert res.header("www-authenticate") == 'Bearer realm="uploadgate"', res
        assert_actual_cors(res, "https://app.example.com")
    assert gw.app_log() == []
    gw.wait_store_empty()


def test_check_refuses_credentials_with_wildcard(tmp_path, tls_cert):
    from harness import default_routes, free_port

    store = tmp_path / "store"
    store.mkdir()
    cfg = {
        "listen": [{"address": f"127.0.0.1:{free_port()}"}],
        "backend": {"url": "http://127.0.0.1:9"},
        "storage": {"dir": str(store)},
        "cors": {"allow_origins": ["*"], "allow_methods": ["POST"], "allow_credentials": True},
        "routes": default_routes(),
    }
    path = tmp_path / "unsafe.yaml"
    text = to_yaml(cfg)
    path.write_text(text)
    cp = subprocess.run([str(binary_path()), "--check", "-c", str(path)], capture_output=True, text=True, timeout=20)
    assert cp.returncode == 2, f"--check accepted credentials with '*': rc={cp.returncode} {cp.stderr!r}\n{text}"
    m = re.search(rf"^{re.escape(str(path))}:(\d+):(\d+): cors\b.*$", cp.stderr, re.M)
    assert m, f"no 'FILE:LINE:COL: cors...' message: {cp.stderr!r}"
    # The position points into the cors: block.
    lines = text.splitlines()
    cors_start = next(i for i, l in enumerate(lines, 1) if l.startswith("cors:"))
    cors_end = next((i for i, l in enumerate(lines, 1) if i > cors_start and not l.startswith(" ")), len(lines) + 1)
    assert cors_start <= int(m.group(1)) < cors_end, f"{m.group(0)!r} does not point into lines {cors_start}.." \
                                                     f"{cors_end - 1}:\n{text}"
    assert "credentials" in m.group(0) or "*" in m.group(0), m.group(0)

    # The same with a route's own cors block is refused too, naming the route.
    cfg["cors"]["allow_credentials"] = False
    cfg["routes"][0]["cors"] = {"allow_origins": ["https://a.example.com", "*"], "allow_credentials": True}
    path.write_text(to_yaml(cfg))
    cp = subprocess.run([str(binary_path()), "--check", "-c", str(path)], capture_output=True, text=True, timeout=20)
    assert cp.returncode == 2, cp
    assert re.search(rf"^{re.escape(str(path))}:\d+:\d+: .*cors", cp.stderr, re.M), cp.stderr
