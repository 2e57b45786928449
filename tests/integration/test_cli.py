"""Command line and start-up: --check, --version, --help, a configuration that does not load, and an address another
process already holds.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from harness import REPO, binary_path, curl, default_routes, free_port, to_yaml
from setups import run_to_exit


def run(*args, timeout=20):
    binary = binary_path()
    if not binary.exists():
        pytest.fail(f"uploadgate binary not found at {binary}", pytrace=False)
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout)


def project_version() -> str:
    m = re.search(r"project\(uploadgate\s+VERSION\s+([0-9.]+)", (REPO / "CMakeLists.txt").read_text())
    return m.group(1)


def valid_config(tmp_path, tls_cert) -> dict:
    store = tmp_path / "store"
    store.mkdir(exist_ok=True)
    return {
        "listen": [{"address": f"127.0.0.1:{free_port()}"},
                   {"address": f"127.0.0.1:{free_port()}",
                    "tls": {"certificate": str(tls_cert[0]), "key": str(tls_cert[1])}}],
        "threads": 2,
        "backend": {"url": "http://127.0.0.1:9", "timeout": "60s"},
        "storage": {"dir": str(store), "app_dir": "/uploads", "min_free": "1MiB"},
        "timeouts": {"header": "10s", "body_idle": "30s", "keepalive": "60s", "request": "1h"},
        "routes": default_routes(),
    }


# (name, yaml with {store}, expected line, expected column or None)
INVALID = [
    ("bad-size",
     "listen:\n"
     "  - address: 127.0.0.1:18080\n"
     "backend:\n"
     "  url: http://127.0.0.1:9\n"
     "storage:\n"
     "  dir: {store}\n"
     "routes:\n"
     "  - path: /upload\n"
     "    limits:\n"
     "      max_file: 12XB\n",
     10, 17),
    ("listen-without-port",
     "listen:\n"
     "  - address: 127.0.0.1\n"
     "backend:\n"
     "  url: http://127.0.0.1:9\n"
     "storage:\n"
     "  dir: {store}\n",
     2, 14),
    ("https-backend",
     "backend:\n"
     "  url: https://127.0.0.1:9\n"
     "storage:\n"
     "  dir: {store}\n",
     2, 8),
    ("bad-duration",
     "backend:\n"
     "  url: http://127.0.0.1:9\n"
     "storage:\n"
     "  dir: {store}\n"
     "timeouts:\n"
     "  header: soon\n",
     6, 11),
    ("bad-method",
     "backend:\n"
     "  url: http://127.0.0.1:9\n"
     "storage:\n"
     "  dir: {store}\n"
     "routes:\n"
     "  - path: /upload\n"
     "    methods: [POST, FETCH]\n",
     7, 21),
    ("head-on-upload-route",
     "backend:\n"
     "  url: http://127.0.0.1:9\n"
     "storage:\n"
     "  dir: {store}\n"
     "routes:\n"
     "  - path: /api/*\n"
     "    methods: [GET, HEAD]\n"
     "    pass_through: true\n"
     "  - path: /upload\n"
     "    methods: [POST, HEAD]\n",
     10, 21),
    ("yaml-syntax",
     "backend:\n"
     "  url: http://127.0.0.1:9\n"
     "storage:\n"
     "  dir: {store}\n"
     "routes: [a, b\n",
     None, None),
]


def test_version():
    cp = run("--version")
    assert cp.returncode == 0, cp
    assert re.search(rf"\buploadgate\b.*\b{re.escape(project_version())}\b", cp.stdout), \
        f"--version printed {cp.stdout!r} (stderr {cp.stderr!r})"


def test_help():
    cp = run("--help")
    assert cp.returncode == 0, cp
    text = cp.stdout + cp.stderr
    for opt in ("-c", "--check", "--version"):
        assert opt in text, f"--help does not mention {opt}: {text!r}"


def test_check_valid_config(tmp_path, tls_cert):
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(to_yaml(valid_config(tmp_path, tls_cert)))
    cp = run("--check", "-c", str(cfg))
    assert cp.returncode == 0, f"--check rejected a valid config: {cp.stderr}\n{cfg.read_text()}"


def test_check_minimal_config(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    cfg = tmp_path / "min.yaml"
    cfg.write_text(f"backend:\n  url: unix:/run/app.sock\nstorage:\n  dir: {store}\n")
    cp = run("--check", "-c", str(cfg))
    assert cp.returncode == 0, cp.stderr


@pytest.mark.parametrize("name,text,line,col", INVALID, ids=[c[0] for c in INVALID])
def test_check_invalid_config(tmp_path, name, text, line, col):
    store = tmp_path / "store"
    store.mkdir()
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(text.format(store=store))
    cp = run("--check", "-c", str(cfg))
    assert cp.returncode == 2, f"exit status {cp.returncode}, stderr {cp.stderr!r}"
    m = re.search(rf"^{re.escape(str(cfg))}:(\d+):(\d+): (\S.*)$", cp.stderr, re.M)
    assert m, f"no 'file:line:col: message' on stderr: {cp.stderr!r}"
    if line is not None:
        assert int(m.group(1)) == line, f"line {m.group(1)}, expected {line}: {m.group(0)!r}"
    if col is not None:
        assert int(m.group(2)) == col, f"column {m.group(2)}, expected {col}: {m.group(0)!r}"


def test_check_missing_file(tmp_path):
    cfg = tmp_path / "nope.yaml"
    cp = run("--check", "-c", str(cfg))
    assert cp.returncode != 0
    assert str(cfg) in cp.stderr, cp.stderr


def test_run_with_invalid_config_exits(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("backend:\n  url: ftp://x\n")
    cp = run("-c", str(cfg))
    assert cp.returncode != 0
    assert re.search(rf"^{re.escape(str(cfg))}:\d+:\d+: ", cp.stderr, re.M), cp.stderr


def test_a_second_instance_on_a_port_in_use_refuses_to_start(make_gateway, tmp_path):
    first = make_gateway()
    second = json.loads(json.dumps(first.config))
    second["storage"]["dir"] = str(tmp_path / "second-store")
    (tmp_path / "second-store").mkdir()
    status, lines = run_to_exit(second, tmp_path / "second")
    assert status not in (0, None), (status, lines)
    msg = f"listen {first.authority}: the address is in use by another process; not starting"
    assert any(e.get("level") == "error" and e.get("event") == "startup" and e["msg"] == msg for e in lines), lines
    # The first one still serves every connection.

    for _ in range(8):
        assert curl(first, "h1", "/api/items").status == 200
