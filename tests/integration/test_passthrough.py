"""Requests that match no upload route are reverse-proxied to the app unchanged.
"""

from __future__ import annotations

import json

import pytest

from checks import header_map
from harness import ALL_PROTOS, KiB, PROTOS, curl, make_file, sha256_bytes
from setups import ITEMS_BODY


@pytest.mark.parametrize("proto", ALL_PROTOS)
def test_get_json_endpoint(gateway, proto):
    res = curl(gateway, proto, "/api/items?page=1")
    assert res.status == 200, res
    # h2c Upgrade happens for a GET: curl must end up on HTTP/2 there too.
    expected_version = PROTOS[proto].expect_version or "2"
    assert res.http_version == expected_version, res
    assert res.body == ITEMS_BODY
    assert res.header("x-example-app") == "items"
    assert res.header("cache-control") == "no-store"
    assert res.header("content-type") == "application/json"
    log = gateway.app_log()
    assert len(log) == 1 and log[0]["method"] == "GET" and log[0]["path"] == "/api/items?page=1", log


@pytest.mark.parametrize("proto", ALL_PROTOS)
def test_post_json_endpoint(gateway, proto):
    payload = {"name": "widget", "tags": ["a", "b"], "n": 42, "text": "ünïcode ✓"}
    raw = json.dumps(payload).encode()
    res = curl(gateway, proto, "/api/echo?q=1", "--data-binary", raw.decode(), "-H", "Content-Type: application/json",
               "-H", "X-Test: pass-through")
    assert res.status == 200, res
    body = res.json()
    assert body["json"] == payload
    assert body["method"] == "POST" and body["path"] == "/api/echo" and body["query"] == "q=1"
    assert body["headers"]["x-test"] == "pass-through"
    assert body["headers"]["content-type"] == "application/json"
    assert res.header("x-echo-test") == "pass-through"
    assert res.header("x-example-app") == "echo"
    log = gateway.app_log()
    assert len(log) == 1, log
    assert log[0]["body_sha256"] == sha256_bytes(raw) and log[0]["body_length"] == len(raw)
    assert gateway.store_entries() == []


@pytest.mark.parametrize("proto", ["h1", "h2c", "h2"])
def test_app_error_status_is_relayed(gateway, proto):
    res = curl(gateway, proto, "/api/status/418")
    assert res.status == 418, res
    assert res.json() == {"status": 418}
    assert res.header("x-example-app") == "status"
    res = curl(gateway, proto, "/no/such/path")
    assert res.status == 404 and res.json() == {"detail": "Not Found"}, res


@pytest.mark.parametrize("proto", ["h1", "h2c"])
@pytest.mark.parametrize("path", ["/upload/extra", "/uploadx", "/filesx"])
def test_paths_near_routes_are_passed_through(gateway, tmp_path, proto, path):
    """Exact route /upload does not match /upload/extra or /uploadx; prefix /files/* does not match /filesx, nor do
    they resemble a route (/Upload and /files do, and are refused: test_paths.py). Their bodies go to the app as they
    are and nothing is stored."""
    f = make_file(tmp_path / "data", "body.bin", 512 * KiB)
    res = curl(gateway, proto, path, "-X", "PUT", "--data-binary", f"@{f.path}",
               "-H", "Content-Type: application/octet-stream")
    # FastAPI has no such route: its answer is relayed.
    assert res.status in (307, 404, 405), res
    if res.status != 307:
        assert "detail" in res.json()
    log = gateway.app_log()
    assert len(log) == 1, log
    assert log[0]["method"] == "PUT" and log[0]["path"] == path
    assert log[0]["body_length"] == f.size and log[0]["body_sha256"] == f.sha256
    h = header_map(log[0]["headers"])
    assert h.get("content-type") == ["application/octet-stream"]
    assert gateway.store_entries() == []


def test_health(gateway):
    res = curl(gateway, "h1", "/health")
    assert res.status == 200 and res.json() == {"status": "ok"}, res
