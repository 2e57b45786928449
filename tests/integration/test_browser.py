"""A real browser: headless Debian chromium, driven by playwright-core (tests/browser/browser_upload.mjs), loads a
page from a second loopback origin and uploads a file to uploadgate with fetch() + FormData + a bearer token.
The CORS preflight and the upload succeed from an allowed origin; from any other origin the browser blocks the
request (fetch rejects with TypeError) and the app receives nothing.

Needs: apt `chromium` and `nodejs`, and `npm ci --prefix tests/browser` (playwright-core, no browser download).
Set UG_SKIP_BROWSER=1 to skip these tests on a machine without them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from checks import find_manifest, header_map, require_tools
from harness import KiB, REPO, make_file, sha256_file


BROWSER_DIR = REPO / "tests" / "browser"


PAGE_DIR = BROWSER_DIR / "page"


CHROMIUM = os.environ.get("UG_CHROMIUM", "/usr/bin/chromium")


def _missing() -> str:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    if not shutil.which("node"):
        return "node not found (apt-get install nodejs)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core not installed (npm ci --prefix tests/browser)"
    return ""


@pytest.fixture
def browser_ready():
    require_tools(_missing(), "UG_SKIP_BROWSER")


def run_browser(tmp_path, pages, timeout: float = 60.0) -> list:
    """Run tests/browser/browser_upload.mjs over `pages` ({pageUrl, filePath, steps}) in one fresh chromium
    profile; returns the per-page results."""
    profile = tmp_path / f"chromium-profile-{secrets.token_hex(4)}"
    profile.mkdir()
    args = {"executablePath": CHROMIUM, "userDataDir": str(profile), "pages": pages, "timeoutMs": int(timeout * 1000 / 2)}
    env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1", HOME=str(tmp_path))
    cp = subprocess.run(["node", str(BROWSER_DIR / "browser_upload.mjs"), json.dumps(args)], capture_output=True,
                        text=True, timeout=timeout, cwd=str(BROWSER_DIR), env=env)
    lines = [line for line in cp.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON from the browser driver (rc={cp.returncode}):\n{cp.stdout[-2000:]}\n{cp.stderr[-3000:]}"
    out = json.loads(lines[-1])
    print("browser:", json.dumps(out, indent=1)[:8000])
    assert cp.returncode == 0 and "fatal" not in out, f"browser driver failed: {out.get('fatal')}\n{cp.stderr[-3000:]}"
    assert len(out["pages"]) == len(pages), out
    for po in out["pages"]:
        assert po["pageStatus"] == 200, po
    return out["pages"]


def browser_cors(page_origin: str):
    def conf(cfg):
        cfg["cors"] = {"allow_origins": [page_origin, "https://app.example.com"], "allow_methods": ["GET", "POST"],
                       "allow_headers": ["Authorization"], "expose_headers": ["X-Example-App"],
                       "allow_credentials": True, "max_age": "10m"}
    return conf


def with_token(token: str, cfg_fn):
    def conf(cfg):
        cfg_fn(cfg)
        for r in cfg["routes"]:
            if r["path"] == "/upload":
                r["auth"] = {"tokens_file": str(token_file(cfg))}
    return conf


def token_file(cfg) -> Path:
    return Path(cfg["storage"]["dir"]).parent / "tokens"


def preflights(out, path: str):
    return [r for r in out["network"] if r["method"] == "OPTIONS" and r["url"].endswith(path)]


def check_allowed_page(gw, out, origin, gw_origin, f):
    assert out["pageOrigin"] == origin
    up, bad, items = out["results"]

    # The upload: preflight passed, 201 from the app readable by the page, the file intact.
    assert up["ok"], f"the browser blocked the upload: {up} network={out['network']} console={out['console']}"
    assert up["status"] == 201, up
    body = up["json"]
    assert body["fields"] == {"title": "from the browser"}, body
    (bf,) = body["files"]
    assert bf["filename"] == "photo.jpg" and bf["size"] == f.size and bf["sha256"] == f.sha256, bf
    assert sha256_file(bf["stored_as"]) == f.sha256
    assert up["headers"]["content-type"].startswith("application/json"), up

    entry, manifest = find_manifest(gw, body["id"])
    (mf,) = manifest["files"]
    assert mf["sha256"] == f.sha256 and mf["size"] == f.size and mf["filename"] == "photo.jpg", mf
    assert mf["field"] == "file", mf
    assert manifest["auth"]["method"] == "token", manifest
    assert header_map(entry["headers"]).get("origin") == [origin]

    # A wrong token: uploadgate's 401 is readable cross-origin (CORS headers on its own errors too) ...
    assert bad["ok"] and bad["status"] == 401, bad
    assert bad["json"]["error"]["code"] == "unauthorized", bad
    # ... but WWW-Authenticate is not in expose_headers: the page must not see it.
    assert bad["headers"]["www-authenticate"] is None, bad

    # A pass-through GET: the exposed header is visible, a safelisted one too.
    assert items["ok"] and items["status"] == 200, items
    assert items["json"] == {"items": [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}]}, items
    assert items["headers"] == {"x-example-app": "items", "cache-control": "no-store"}, items

    # The browser preflighted the upload (Authorization is not safelisted) and uploadgate answered it with 204;
    # the answer carried max-age 600, so the second upload reused it: exactly one preflight.
    pf = preflights(out, "/upload")
    assert [(r["status"], r.get("responseType")) for r in pf] == [(204, "Preflight")], out["network"]
    posts = [r for r in out["network"] if r["method"] == "POST" and r["url"] == f"{gw_origin}/upload"]
    assert [r["status"] for r in posts] == [201, 401], out["network"]


def check_blocked_page(ok_page, out, origin):
    assert out["pageOrigin"] == origin
    up, items = out["results"]
    assert not up["ok"] and up["error"].startswith("TypeError"), f"the browser let the upload through: {up}"
    # The simple GET reaches the app, but the page cannot read the answer.
    assert not items["ok"] and items["error"].startswith("TypeError"), items
    # The preflight was refused (403, no Access-Control-Allow-Origin), so the POST was never sent.
    pf = preflights(out, "/upload")
    assert [(r["status"], r.get("responseType")) for r in pf] == [(403, "Preflight")], out["network"]
    (post,) = [r for r in out["network"] if r["method"] == "POST"]
    assert post["status"] is None and (post.get("corsError") or "").startswith("Preflight"), post


def test_browser_cross_origin_upload(make_gateway, make_static_site, browser_ready, tmp_path):
    """One browser, two pages: the same page from an allowed origin (uploads) and from another one (blocked)."""
    allowed = make_static_site(PAGE_DIR)
    other = make_static_site(PAGE_DIR)  # same page, another port: another origin, not in allow_origins
    token = secrets.token_urlsafe(24)
    gw = make_gateway(configure=with_token(token, browser_cors(allowed.origin)), start=False)
    token_file(gw.config).write_text(token + "\n")
    gw.start()
    f = make_file(tmp_path / "data", "photo.jpg", 700 * KiB)
    secret = make_file(tmp_path / "data", "secret.pdf", 300 * KiB)
    gw_origin = f"http://{gw.authority}"

    ok_page, blocked_page = run_browser(tmp_path, [
        {"pageUrl": f"{allowed.origin}/upload.html", "filePath": str(f.path), "steps": [
            {"op": "upload", "gatewayUrl": gw_origin, "token": token, "expose": ["content-type", "x-example-app"]},
            {"op": "upload", "gatewayUrl": gw_origin, "token": "wrong-" + token, "expose": ["www-authenticate"]},
            {"op": "get", "url": f"{gw_origin}/api/items", "token": None, "expose": ["x-example-app", "cache-control"]},
        ]},
        {"pageUrl": f"{other.origin}/upload.html", "filePath": str(secret.path), "steps": [
            {"op": "upload", "gatewayUrl": gw_origin, "token": token},
            {"op": "get", "url": f"{gw_origin}/api/items", "token": None, "expose": []},
        ]},
    ])
    problems = []
    for check, args in [(check_allowed_page, (gw, ok_page, allowed.origin, gw_origin, f)),
                        (check_blocked_page, (ok_page, blocked_page, other.origin))]:
        try:
            check(*args)
        except AssertionError as e:
            problems.append(f"{check.__name__}: {e}")
    assert not problems, "\n".join(problems)
    # What reached the app: the allowed upload and the two GETs (a simple GET is sent even when the page may not
    # read the answer); never a preflight, never the blocked upload.
    assert [(e["method"], e["path"]) for e in gw.app_log()] == \
        [("POST", "/upload"), ("GET", "/api/items"), ("GET", "/api/items")], gw.app_log()
    assert header_map(gw.app_log()[2]["headers"]).get("origin") == [other.origin]
    gw.wait_store_empty()
