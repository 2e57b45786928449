"""When the app cannot be reached, does not answer in time, or answers with an error: uploadgate's JSON 502
bad_gateway / 504 gateway_timeout for manifests and pass-through requests alike, the uploaded files removed, and a
502 the app itself sends relayed untouched.
"""

from __future__ import annotations

import socket
import time

import pytest

from checks import assert_error
from harness import ERROR_PROTOS, KiB, curl, curl_form_args, free_port, make_file


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


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_pass_through_to_an_app_that_is_down_gets_json_502(make_gateway, proto):
    gw = make_gateway(app=False, backend_url=f"http://127.0.0.1:{free_port()}")
    for method in ("GET", "POST"):
        res = curl(gw, proto, "/api/items", "-X", method, *(["--data-binary", "{}"] if method == "POST" else []))
        assert_error(res, 502, "bad_gateway")
        assert b"Gateway Error" not in res.body, res
    res = curl(gw, proto, "/api/items", "-I")  # HEAD: the JSON error's fields, no body (curl -I writes the head there)
    assert res.status == 502 and res.header("content-type") == "application/json" and b'"error"' not in res.body, res


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_pass_through_to_an_app_that_does_not_answer_gets_json_504(make_gateway, proto):
    """The backend accepts the connection but never answers: after backend.timeout (1 s) uploadgate's 504."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        gw = make_gateway(app=False, backend_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
                          configure=lambda cfg: cfg["backend"].__setitem__("timeout", "1s"))
        t0 = time.monotonic()
        res = curl(gw, proto, "/api/items", timeout=20)
        assert_error(res, 504, "gateway_timeout")
        assert 0.9 <= time.monotonic() - t0 <= 6, time.monotonic() - t0
    finally:
        silent.close()


@pytest.mark.parametrize("proto", ERROR_PROTOS)
def test_a_502_the_app_sends_is_relayed_untouched(gateway, proto):
    res = curl(gateway, proto, "/api/status/502")
    assert res.status == 502 and res.json() == {"status": 502} and res.header("x-example-app") == "status", res
