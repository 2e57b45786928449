"""Manifest signature (`backend.signing_key_file`): every manifest request carries
X-Uploadgate-Signature: t=<unix>,v1=<hex HMAC-SHA256 over "<t>.<exact body bytes>">, keyed by the file's bytes
less a trailing newline. Checked twice: recomputed here over the exact bytes a capturing backend received, and
end to end by the example app, which verifies signatures when UPLOADGATE_SIGNING_KEY_FILE is set.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time

import pytest

from checks import Sent, expect_upload, header_map
from harness import ExampleApp, KiB, curl, curl_form_args, make_file


SIG_RE = re.compile(r"^t=(\d+),v1=([0-9a-f]{64})$")


FORGED_SIG = "t=1700000000,v1=" + "ab" * 32


def write_key(path, ending: str = "\n") -> bytes:
    key = secrets.token_hex(32).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key + ending.encode())
    return key


def signing(key_file):
    def conf(cfg):
        cfg["backend"]["signing_key_file"] = str(key_file)
    return conf


def check_signature(headers, body: bytes, key: bytes, t_before: float, t_after: float) -> int:
    """The one X-Uploadgate-Signature of a request is fresh and right for `body` under `key`; returns t."""
    sigs = headers.get("x-uploadgate-signature")
    assert sigs and len(sigs) == 1, f"X-Uploadgate-Signature at the backend: {sigs}"
    m = SIG_RE.match(sigs[0])
    assert m, f"malformed signature header {sigs[0]!r}"
    t, v1 = int(m.group(1)), m.group(2)
    assert int(t_before) - 1 <= t <= t_after + 1, f"signature time {t} outside [{t_before:.0f}, {t_after:.0f}]"
    expected = hmac.new(key, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert v1 == expected, f"v1={v1} but HMAC-SHA256(key, '{t}.' + body) = {expected} (body {body[:200]!r}...)"
    return t


def _verifying_app(_apps, tmp_path, name, storage_dir, key_file) -> ExampleApp:
    app = ExampleApp(tmp_path / name, storage_dir=storage_dir, app_dir="/uploads",
                     extra_env={"UPLOADGATE_SIGNING_KEY_FILE": str(key_file)})
    _apps.append(app)
    return app.launch()


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_signature_over_exact_manifest_bytes(make_gateway, make_capture, tmp_path, proto):
    backend = make_capture("backend", status=201, headers=[("Content-Type", "application/json")],
                           body='{"accepted":true}')
    files = [make_file(tmp_path / "data", f"f{i}.bin", (i + 1) * 50 * KiB) for i in range(2)]
    for n, ending in enumerate(["\n", "\r\n", ""]):
        key_file = tmp_path / f"keys{n}" / "manifest.key"
        key = write_key(key_file, ending)
        gw = make_gateway(f"gw{n}", app=False, backend_url=backend.backend_url, configure=signing(key_file))
        seen = len(backend.log())
        t0 = time.time()
        res = curl(gw, proto, "/upload", "-H", f"X-Uploadgate-Signature: {FORGED_SIG}",
                   *curl_form_args([("file", f, f.path.name, "application/octet-stream") for f in files],
                                   [("title", "signed ünïcode")]))
        t1 = time.time()
        assert res.status == 201 and res.json() == {"accepted": True}, res
        (req,) = backend.log()[seen:]
        assert req["method"] == "POST" and req["path"] == "/upload", req
        h = header_map(req["headers"])
        assert h.get("content-type") == ["application/json"], h
        manifest = json.loads(req["body"])
        assert [f["sha256"] for f in manifest["files"]] == [f.sha256 for f in files], manifest
        assert manifest["fields"] == [{"name": "title", "value": "signed ünïcode"}], manifest
        check_signature(h, req["body"], key, t0, t1)
        if ending:
            raw = key + ending.encode()
            wrong = hmac.new(raw, SIG_RE.match(h["x-uploadgate-signature"][0]).group(1).encode() + b"." + req["body"],
                             hashlib.sha256).hexdigest()
            assert not h["x-uploadgate-signature"][0].endswith(wrong), "signed with the key file's trailing newline"
        # Pass-through requests never carry the client's forged header.
        seen = len(backend.log())
        res = curl(gw, proto, "/api/whatever", "-H", f"X-Uploadgate-Signature: {FORGED_SIG}",
                   "-H", "X-Uploadgate-Other: 1")
        assert res.status == 201, res
        (req,) = backend.log()[seen:]
        h = header_map(req["headers"])
        assert FORGED_SIG not in h.get("x-uploadgate-signature", []), h
        assert "x-uploadgate-other" not in h, h


def test_each_manifest_is_signed_anew(make_gateway, make_capture, tmp_path):
    backend = make_capture("backend", status=201, body="{}")
    key_file = tmp_path / "keys" / "manifest.key"
    key = write_key(key_file)
    gw = make_gateway(app=False, backend_url=backend.backend_url, configure=signing(key_file))
    f = make_file(tmp_path / "data", "a.bin", 10 * KiB)
    sigs = []
    for proto in ["h1", "h2c", "h1", "h2"]:  # keep-alive reuse of the backend connection included
        t0 = time.time()
        res = curl(gw, proto, "/upload", *curl_form_args([("file", f, "a.bin", None)]))
        assert res.status == 201, res
        req = backend.log()[-1]
        h = header_map(req["headers"])
        check_signature(h, req["body"], key, t0, time.time())
        sigs.append(h["x-uploadgate-signature"][0])
    assert len(set(sigs)) == len(sigs), sigs  # different bodies (ids), different signatures


def test_example_app_verifies_signatures(make_gateway, _apps, tmp_path):
    key_file = tmp_path / "keys" / "manifest.key"
    write_key(key_file)
    other_key = tmp_path / "keys" / "other.key"
    write_key(other_key)
    app = _verifying_app(_apps, tmp_path, "app", tmp_path / "gw-ok" / "store", key_file).wait_ready()

    def behind_app(name, configure=None):
        gw = make_gateway(name, app=False, backend_url=app.backend_url, configure=configure, start=False)
        gw.app = app
        return gw.start()

    f = make_file(tmp_path / "data", "doc.bin", 200 * KiB)
    form = curl_form_args([("file", f, "doc.bin", "application/octet-stream")])

    # Same key: accepted; a forged client signature is replaced by uploadgate's own.
    gw = behind_app("gw-ok", signing(key_file))
    for proto in ["h1", "h2"]:
        res = curl(gw, proto, "/upload", "-H", f"X-Uploadgate-Signature: {FORGED_SIG}", *form)
        expect_upload(gw, res, proto=proto, sent=[Sent("file", "doc.bin", "application/octet-stream", f)])
    for e in app.requests("/upload"):
        sig = header_map(e["headers"]).get("x-uploadgate-signature")
        assert sig and len(sig) == 1 and sig[0] != FORGED_SIG and SIG_RE.match(sig[0]), sig

    # uploadgate signs with another key than the app expects: the app's 401 is relayed, the files are removed.
    gw_bad = behind_app("gw-wrong-key", signing(other_key))
    n = len(app.log())
    res = curl(gw_bad, "h1", "/upload", *form)
    assert res.status == 401, res
    assert res.json() == {"detail": "bad X-Uploadgate-Signature"}, res
    gw_bad.wait_store_empty()
    assert [e["path"] for e in app.log()[n:]] == ["/upload"]

    # uploadgate without a signing key, client sends a signature: it never reaches the app.
    gw_none = behind_app("gw-unsigned")
    n = len(app.log())
    res = curl(gw_none, "h2c", "/upload", "-H", f"X-Uploadgate-Signature: {FORGED_SIG}", *form)
    assert res.status == 401, res
    assert res.json() == {"detail": "missing or malformed X-Uploadgate-Signature"}, res
    gw_none.wait_store_empty()
    (entry,) = app.log()[n:]
    assert "x-uploadgate-signature" not in header_map(entry["headers"]), entry["headers"]


def test_signing_key_file_checked_at_start(tmp_path, tls_cert):
    """A relative path is refused by --check; a missing key file makes start-up fail, not every request."""
    import subprocess

    from harness import binary_path, default_routes, free_port, to_yaml

    store = tmp_path / "store"
    store.mkdir()
    cfg = {"listen": [{"address": f"127.0.0.1:{free_port()}"}],
           "backend": {"url": "http://127.0.0.1:9", "signing_key_file": "manifest.key"},
           "storage": {"dir": str(store)}, "routes": default_routes()}
    path = tmp_path / "c.yaml"
    path.write_text(to_yaml(cfg))
    cp = subprocess.run([str(binary_path()), "--check", "-c", str(path)], capture_output=True, text=True, timeout=20)
    assert cp.returncode == 2 and re.search(rf"^{re.escape(str(path))}:\d+:\d+: .*signing_key_file", cp.stderr, re.M), cp
    cfg["backend"]["signing_key_file"] = str(tmp_path / "missing.key")
    path.write_text(to_yaml(cfg))
    try:
        cp = subprocess.run([str(binary_path()), "-c", str(path)], capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("uploadgate started (ran 5 s) with a signing_key_file that does not exist")
    assert cp.returncode != 0 and "missing.key" in cp.stderr, cp
