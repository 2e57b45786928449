"""The real tus clients as the tests drive them (tests/resumable/): tus-js-client and Uppy from npm, Debian's tuspy.

Each driver prints one JSON line with what it did (upload URL, bytes, the last response, the requests it sent); these
functions run one and return (exit code, that JSON). `require_resumable_clients()` skips or fails a test on a machine
without them (UG_SKIP_RESUMABLE=1 skips).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import List, Optional, Tuple

from .util import PYTHON, REPO, MiB

RESUMABLE_DIR = REPO / "tests" / "resumable"
CHROMIUM = os.environ.get("UG_CHROMIUM", "/usr/bin/chromium")
EXIT_STOPPED = 3


def missing_resumable_clients() -> str:
    """What is missing to run the clients (empty: nothing)."""
    if not shutil.which("node"):
        return "node not found (apt-get install nodejs)"
    for pkg in ("@tus/server", "@tus/file-store", "tus-js-client", "@uppy/core", "esbuild", "playwright-core"):
        if not (RESUMABLE_DIR / "node_modules" / pkg).is_dir():
            return f"{pkg} not installed (npm ci --prefix tests/resumable)"
    try:
        subprocess.run([PYTHON, "-c", "import tusclient"], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        return "tuspy not installed (apt-get install python3-tuspy)"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    return ""


def run_driver(argv, timeout: float, cwd: Path = RESUMABLE_DIR, env=None) -> Tuple[int, dict]:
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=str(cwd), env=env)
    lines = [x for x in cp.stdout.splitlines() if x.startswith("{")]
    assert lines, f"no JSON from {argv[1]} (rc={cp.returncode}):\n{cp.stdout[-2000:]}\n{cp.stderr[-3000:]}"
    out = json.loads(lines[-1])
    print(Path(argv[1]).name, "->", json.dumps(out)[:4000])
    return cp.returncode, out


def tus_js(endpoint: str, path: Path, *args: str, timeout: float = 60) -> Tuple[int, dict]:
    return run_driver(["node", str(RESUMABLE_DIR / "tus_upload.mjs"), "--endpoint", endpoint, "--file", str(path), *args],
                timeout)


def tuspy(endpoint: str, path: Path, *args: str, timeout: float = 60) -> Tuple[int, dict]:
    return run_driver([PYTHON, str(RESUMABLE_DIR / "tuspy_upload.py"), "--endpoint", endpoint, "--file", str(path), *args],
                timeout)


def decode_metadata(header: str) -> dict:
    out = {}
    for pair in header.split(","):
        k, _, v = pair.strip().partition(" ")
        out[k] = base64.b64decode(v).decode() if v else ""
    return out


def patches(out: dict) -> List[dict]:
    return [r for r in out["requests"] if r["method"] == "PATCH"]


def uppy(tmp_path, endpoint: str, f, page_port: int, token: Optional[str], timeout: float = 90) -> dict:
    profile = tmp_path / f"chromium-profile-{secrets.token_hex(4)}"
    profile.mkdir()
    args = {"endpoint": endpoint, "filePath": str(f.path), "token": token, "chunkSize": MiB, "pagePort": page_port,
            "meta": {"caption": "from Uppy"}, "executablePath": CHROMIUM, "userDataDir": str(profile),
            "timeoutMs": int(timeout * 1000 / 2)}
    env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1", HOME=str(tmp_path))
    rc, out = run_driver(["node", str(RESUMABLE_DIR / "uppy_upload.mjs"), json.dumps(args)], timeout, env=env)
    assert rc == 0 and "fatal" not in out, f"the Uppy driver failed: {out.get('fatal')}"
    assert out["pageStatus"] == 200 and out["pageOrigin"] == f"http://127.0.0.1:{page_port}", out
    return out
