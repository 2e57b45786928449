"""Helpers for the uploadgate integration tests.

Everything here runs real processes on loopback: the uploadgate binary, the
example FastAPI app (deploy/example-app/app.py, under uvicorn) and clients
(curl subprocesses, raw sockets, the `h2` library).  Nothing sleeps to
synchronise: readiness and cleanup are awaited by polling with a deadline.

Main objects (see conftest.py for the fixtures that build them):
  ExampleApp  - the app; .log() returns the requests it received
  Gateway     - uploadgate with a per-test config; .url(proto, path),
                .store_dir, .app_log(), .store_entries(), .config (a dict)
  curl()      - one curl transfer -> Response(status, headers, body, http_version)
  h2_request()- an HTTP/2 request with full control over DATA frames / aborts
  http1_raw() - raw HTTP/1.1 over a socket
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "deploy" / "example-app"
PYTHON = "/usr/bin/python3"
CURL = "curl"

KiB = 1024
MiB = 1024 * 1024

UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{32}$")
RECEIVED_AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def binary_path() -> Path:
    return Path(os.environ.get("UG_BINARY") or REPO / "build" / "uploadgate")


# --------------------------------------------------------------------------
# Small utilities
# --------------------------------------------------------------------------


def free_ports(n: int, host: str = "127.0.0.1") -> List[int]:
    """n distinct ports free now: the sockets are held until all are chosen (two free_port() calls in a row can
    return the same port, which once gave a gateway two listeners on one address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks = [socket.socket(family, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02):
    """Poll `predicate` until it returns a truthy value; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def tcp_accepts(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect((host, port))
            return True
    except OSError:
        return False


def unix_accepts(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect(path)
            return True
    except OSError:
        return False


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(MiB)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


@dataclass
class LocalFile:
    """A file of random bytes the test sends."""

    path: Path
    size: int
    sha256: str

    def read(self) -> bytes:
        return self.path.read_bytes()


def make_file(directory: Path, name: str, size: int) -> LocalFile:
    """Write `size` fresh random bytes to directory/name."""
    directory.mkdir(parents=True, exist_ok=True)
    p = directory / name
    h = hashlib.sha256()
    with open(p, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MiB))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return LocalFile(p, size, h.hexdigest())


# --------------------------------------------------------------------------
# YAML (a tiny block-style emitter: enough for uploadgate's config)
# --------------------------------------------------------------------------

_PLAIN_RE = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./:@+-]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _yaml_scalar(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    if _PLAIN_RE.match(s) and s.lower() not in _YAML_WORDS and not s.endswith(":"):
        return s
    if re.match(r"^[0-9]+[A-Za-z]+$", s):  # sizes and durations: 64KiB, 10s
        return s
    if re.match(r"^\d+\.\d+\.\d+\.\d+:\d+$", s):  # 127.0.0.1:8080, as in the documentation
        return s
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(obj, indent: int = 0) -> str:
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                out.append(f"{pad}{k}:\n{to_yaml(v, indent + 2)}")
            elif isinstance(v, list) and v and not all(not isinstance(i, (dict, list)) for i in v):
                out.append(f"{pad}{k}:\n{to_yaml(v, indent + 2)}")
            elif isinstance(v, list):
                out.append(f"{pad}{k}: [{', '.join(_yaml_scalar(i) for i in v)}]\n")
            elif isinstance(v, dict):
                out.append(f"{pad}{k}: {{}}\n")
            else:
                out.append(f"{pad}{k}: {_yaml_scalar(v)}\n")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)):
                block = to_yaml(item, indent + 2)
                out.append(pad + "- " + block[indent + 2:])
            else:
                out.append(f"{pad}- {_yaml_scalar(item)}\n")
    else:
        out.append(pad + _yaml_scalar(obj) + "\n")
    return "".join(out)


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------


class Proc:
    """A child process in its own session (process group), output to a file."""

    def __init__(self, argv: Sequence[str], log_path: Path, env: Optional[Dict[str, str]] = None, cwd=None):
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env=env, cwd=cwd, start_new_session=True,
        )
        self.pid = self.popen.pid
        self.stopped_by_us = False

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll()

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig) -> None:
        if self.alive():
            os.killpg(self.pid, sig)  # our own session: the group id is our pid

    def terminate(self) -> None:
        """SIGTERM without waiting (stop() then waits): lets several processes shut down at once."""
        if self.alive():
            self.stopped_by_us = True
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        if self.alive():
            self.stopped_by_us = True
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(timeout)
            except ProcessLookupError:
                pass
        self._log.close()
        return self.popen.returncode


def tail(text: str, n: int = 60) -> str:
    return "\n".join(text.splitlines()[-n:])


class ExampleApp:
    """deploy/example-app/app.py under uvicorn, on a TCP port or a unix socket.

    Its request log, received files and (default) storage mapping live in
    `workdir`; `workdir` need not exist before the first request arrives,
    which lets AppPool start apps ahead of time (see there)."""

    def __init__(self, workdir: Path, *, storage_dir: Optional[Path] = None, app_dir: Optional[str] = None,
                 slow_seconds: Optional[float] = None, uds: bool = False, extra_env: Optional[dict] = None,
                 run_dir: Optional[Path] = None):
        self.workdir = Path(workdir)
        self.run_dir = Path(run_dir) if run_dir else self.workdir  # cwd and uvicorn output
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "app-requests.jsonl"
        self.dest = self.workdir / "received"
        self.storage_dir = storage_dir
        self.app_dir = app_dir
        self.slow_seconds = slow_seconds
        self.uds_path = str(self.run_dir / "app.sock") if uds else None
        self.port = None if uds else free_port()
        self.extra_env = extra_env or {}
        self.proc: Optional[Proc] = None
        self.output_path = self.run_dir / f"app-output-{id(self)}.log"

    @property
    def backend_url(self) -> str:
        return f"unix:{self.uds_path}" if self.uds_path else f"http://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    def launch(self) -> "ExampleApp":
        env = dict(os.environ)
        for k in ("UPLOADGATE_APP_DIR", "UPLOADGATE_STORAGE_DIR", "SLOW_SECONDS", "SLOW_STATUS"):
            env.pop(k, None)
        env["EXAMPLE_APP_LOG"] = str(self.log_path)
        env["EXAMPLE_APP_DEST"] = str(self.dest)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        if self.storage_dir is not None:
            env["UPLOADGATE_STORAGE_DIR"] = str(self.storage_dir)
            if self.app_dir:
                env["UPLOADGATE_APP_DIR"] = self.app_dir
        if self.slow_seconds is not None:
            env["SLOW_SECONDS"] = str(self.slow_seconds)
        env.update(self.extra_env)
        argv = [PYTHON, "-m", "uvicorn", "app:app", "--app-dir", str(APP_DIR), "--workers", "1"]
        argv += ["--uds", self.uds_path] if self.uds_path else ["--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = Proc(argv, self.output_path, env=env, cwd=self.run_dir)
        return self

    def wait_ready(self, timeout: float = 20.0) -> "ExampleApp":
        """Until the app accepts connections. The port was free when free_port() chose it, but until uvicorn binds it
        any connection the machine opens may take it as its ephemeral port: then the app is started again on a new
        port (nothing has been told the old one yet: callers configure uploadgate only after this)."""
        relaunches = 0

        def ready():
            nonlocal relaunches
            if not self.proc.alive():
                output = self.proc.output()
                if not self.uds_path and "address already in use" in output and relaunches < 3:
                    relaunches += 1
                    self.port = free_port()
                    self.launch()
                    return False
                raise AssertionError(f"example app exited with {self.proc.returncode}:\n{tail(output)}")
            return unix_accepts(self.uds_path) if self.uds_path else tcp_accepts("127.0.0.1", self.port)

        wait_until(ready, timeout, "the example app to accept connections")
        return self

    def start(self, timeout: float = 20.0) -> "ExampleApp":
        return self.launch().wait_ready(timeout)

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()

    def log(self) -> List[dict]:
        """Every request the app received, in order (one dict per request)."""
        try:
            text = self.log_path.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def requests(self, path: Optional[str] = None, method: Optional[str] = None) -> List[dict]:
        """Requests whose path (without query) equals `path` / whose method equals `method`."""
        out = []
        for e in self.log():
            if path is not None and e["path"].split("?", 1)[0] != path:
                continue
            if method is not None and e["method"] != method:
                continue
            out.append(e)
        return out


class AppPool:
    """Example apps started one test ahead (uvicorn + FastAPI take ~1 s to start).

    A pooled app is launched with every path under <root>/slotN, a name that
    does not exist yet; take() points that name (a symlink) at the test's own
    directory, so the app's request log, received files and storage mapping
    all land in the test's tmp_path. Only apps with the default settings
    (app_dir /uploads, storage <workdir>/store, SLOW_SECONDS default) are pooled.
    """

    APP_DIR = "/uploads"

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.spare: Optional[Tuple[Path, ExampleApp]] = None

    def _spawn(self) -> Tuple[Path, ExampleApp]:
        self.n += 1
        slot = self.root / f"slot{self.n}"
        app = ExampleApp(slot, storage_dir=slot / "store", app_dir=self.APP_DIR, run_dir=self.root / f"run{self.n}")
        return slot, app.launch()

    def take(self, workdir: Path) -> ExampleApp:
        """An app whose workdir is `workdir` (created) with storage at workdir/store."""
        slot, app = self.spare or self._spawn()
        self.spare = self._spawn()
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        os.symlink(workdir, slot)
        app.workdir = workdir
        app.log_path = workdir / "app-requests.jsonl"
        app.dest = workdir / "received"
        app.storage_dir = workdir / "store"
        return app.wait_ready()

    def close(self) -> None:
        if self.spare:
            self.spare[1].stop()
            self.spare = None


# --------------------------------------------------------------------------
# Client protocols
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Proto:
    name: str
    tls: bool
    curl_args: Tuple[str, ...]
    # What curl must report in %{http_version}; None: either (h2c Upgrade is
    # only done for requests without a body).
    expect_version: Optional[str]

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


PROTOS: Dict[str, Proto] = {
    "h1": Proto("h1", False, ("--http1.1",), "1.1"),
    "h2c": Proto("h2c", False, ("--http2-prior-knowledge",), "2"),
    "h2c-upgrade": Proto("h2c-upgrade", False, ("--http2",), None),
    "h2": Proto("h2", True, ("--http2",), "2"),
    "h1-tls": Proto("h1-tls", True, ("--http1.1",), "1.1"),
}

# The set most upload tests run over; h2c-upgrade is added where it matters.
UPLOAD_PROTOS = ["h1", "h2c", "h2", "h1-tls"]
ALL_PROTOS = ["h1", "h2c", "h2c-upgrade", "h2", "h1-tls"]
ERROR_PROTOS = ["h1", "h2c", "h2"]


def manifest_protocol(http_version: str) -> str:
    return {"1.1": "HTTP/1.1", "2": "HTTP/2"}[http_version]


# --------------------------------------------------------------------------
# Gateway
# --------------------------------------------------------------------------


def default_routes() -> List[dict]:
    return [
        {"path": "/upload", "methods": ["POST", "PUT"], "forward_to": "/upload", "keep_on_error": False,
         "limits": {"max_body": "200MiB", "max_file": "100MiB", "max_files": 8, "max_fields": 16,
                    "max_field_size": "1KiB"}},
        {"path": "/upload-reject", "methods": ["POST", "PUT"], "forward_to": "/upload-reject"},
        {"path": "/keep", "methods": ["POST", "PUT"], "forward_to": "/upload-reject", "keep_on_error": True},
        {"path": "/slow", "methods": ["POST", "PUT"], "forward_to": "/slow"},
        # Small limits for the 413 tests.
        {"path": "/limited", "methods": ["POST", "PUT"], "forward_to": "/upload",
         "limits": {"max_body": "4MiB", "max_file": "1MiB", "max_files": 3, "max_fields": 4,
                    "max_field_size": "1KiB"}},
        # A prefix route without forward_to: the app gets the request's own path.
        {"path": "/files/*", "methods": ["POST", "PUT"]},
    ]


class Gateway:
    """One uploadgate process with its own config, storage dir and (usually) app."""

    def __init__(self, workdir: Path, *, cert: Tuple[Path, Path], app: Optional[ExampleApp],
                 backend_url: Optional[str] = None, app_dir: Optional[str] = "/uploads",
                 configure: Optional[Callable[[dict], None]] = None, listen_host: str = "127.0.0.1"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.store_dir = self.workdir / "store"
        self.store_dir.mkdir()
        self.cert, self.key = cert
        self.app = app
        self.app_dir = app_dir
        self.listen_host = listen_host
        self.port, self.tls_port = free_ports(2, listen_host)
        self.config_path = self.workdir / "uploadgate.yaml"
        self.proc: Optional[Proc] = None
        host = f"[{listen_host}]" if ":" in listen_host else listen_host
        self.authority = f"{host}:{self.port}"
        self.tls_authority = f"{host}:{self.tls_port}"
        storage = {"dir": str(self.store_dir), "min_free": "1MiB"}
        if app_dir:
            storage["app_dir"] = app_dir
        self.config: dict = {
            "listen": [
                {"address": f"{host}:{self.port}"},
                {"address": f"{host}:{self.tls_port}", "tls": {"certificate": str(self.cert), "key": str(self.key)}},
            ],
            "threads": 2,
            "backend": {"url": backend_url or app.backend_url, "timeout": "60s"},
            "storage": storage,
            "timeouts": {"header": "10s", "body_idle": "30s", "keepalive": "60s", "request": "1h"},
            "routes": default_routes(),
        }
        if configure:
            configure(self.config)

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout: float = 15.0) -> "Gateway":
        self.config_path.write_text(to_yaml(self.config))
        binary = binary_path()
        if not binary.exists():
            raise AssertionError(f"uploadgate binary not found at {binary} (build it: cmake -S . -B build && "
                                 f"cmake --build build, or set UG_BINARY)")
        self.proc = Proc([str(binary), "-c", str(self.config_path)], self.workdir / "uploadgate.log")

        def ready():
            if not self.proc.alive():
                raise AssertionError(f"uploadgate exited with {self.proc.returncode} during start-up:\n"
                                     f"{tail(self.proc.output())}\nconfig:\n{self.config_path.read_text()}")
            return all(tcp_accepts(self.listen_host, p) for p in self.ports)

        wait_until(ready, timeout, "uploadgate to accept connections on all listeners")
        return self

    @property
    def ports(self) -> List[int]:
        """Every port uploadgate listens on: the public ones, and the admin port when configured."""
        admin = self.config.get("admin", {}).get("address")
        return [self.port, self.tls_port] + ([int(admin.rsplit(":", 1)[1])] if admin else [])

    def stop(self) -> Optional[int]:
        return self.proc.stop() if self.proc else None

    def log(self) -> str:
        return self.proc.output() if self.proc else ""

    def crash_report(self) -> Optional[str]:
        """Why this gateway is unhealthy (exited on its own, sanitizer report), or None."""
        if not self.proc:
            return None
        if not self.proc.alive() and not self.proc.stopped_by_us:
            return f"uploadgate exited on its own with status {self.proc.returncode}"
        return self._sanitizer_report()

    def shutdown_report(self, status: Optional[int]) -> Optional[str]:
        """After stop(): why the shutdown itself went wrong, or None. SIGTERM must end uploadgate with status 0; the
        harness's SIGKILL fallback (a shutdown longer than stop()'s wait) is not counted as a failure here."""
        if not self.proc:
            return None
        if status is not None and status < 0 and status != -signal.SIGKILL:
            return f"uploadgate died of signal {-status} while shutting down"
        if status not in (None, 0, -signal.SIGKILL):
            return f"uploadgate ended with status {status} after SIGTERM (expected 0)"
        return self._sanitizer_report()

    def _sanitizer_report(self) -> Optional[str]:
        text = self.log()
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
            if marker in text:
                return f"sanitizer report in the uploadgate log ({marker})"
        return None

    # -- addressing --------------------------------------------------------

    def url(self, proto, path: str = "/") -> str:
        p = PROTOS[proto] if isinstance(proto, str) else proto
        auth = self.tls_authority if p.tls else self.authority
        return f"{p.scheme}://{auth}{path}"

    def host_header(self, proto) -> str:
        """What a client sends as Host / :authority (and uploadgate as X-Forwarded-Host)."""
        p = PROTOS[proto] if isinstance(proto, str) else proto
        return self.tls_authority if p.tls else self.authority

    def port_for(self, proto) -> int:
        p = PROTOS[proto] if isinstance(proto, str) else proto
        return self.tls_port if p.tls else self.port

    def manifest_path(self, upload_id: str, n: int) -> str:
        return f"{self.app_dir or self.store_dir}/{upload_id}/{n}"

    def local_path(self, upload_id: str, n: int) -> Path:
        return self.store_dir / upload_id / str(n)

    # -- what reached the app / what is on disk ---------------------------

    def app_log(self) -> List[dict]:
        return self.app.log() if self.app else []

    def app_requests(self, path=None, method=None) -> List[dict]:
        return self.app.requests(path, method) if self.app else []

    def store_entries(self) -> List[str]:
        """Paths (relative to storage.dir) of everything that is not uploadgate-internal.

        Names starting with '.' (e.g. the `.spool` dir) are internal and skipped
        with their contents; everything else - upload dirs, stored files,
        `.part` files inside upload dirs - is listed.
        """
        out = []
        for root, dirs, files in os.walk(self.store_dir):
            rel_root = Path(root).relative_to(self.store_dir)
            if rel_root == Path("."):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                files = [f for f in files if not f.startswith(".")]
            for d in dirs:
                out.append(str(rel_root / d) + "/")
            for f in files:
                out.append(str(rel_root / f))
        return sorted(out)

    def internal_files(self) -> List[str]:
        """Regular files inside uploadgate's own dot-directories (e.g. body spool files of h2o)."""
        out = []
        for d in self.store_dir.iterdir():
            if d.name.startswith(".") and d.is_dir():
                out += [str(p.relative_to(self.store_dir)) for p in d.rglob("*") if p.is_file()]
        return sorted(out)

    def wait_store_empty(self, timeout: float = 10.0) -> None:
        try:
            wait_until(lambda: not self.store_entries(), timeout, "storage.dir to be empty")
        except AssertionError:
            raise AssertionError(f"storage.dir still holds {self.store_entries()} after {timeout}s") from None


# --------------------------------------------------------------------------
# curl
# --------------------------------------------------------------------------


class _ResponseReading:
    """header() and json() for a response that has `headers` (lower-case name -> values) and `body`: the curl and
    HTTP/1.1 Response and the HTTP/2 H2Result read alike."""

    def header(self, name: str) -> Optional[str]:
        """The last value of header `name`, None when absent."""
        v = self.headers.get(name.lower())
        return v[-1] if v else None

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise AssertionError(f"response body is not JSON: {self!r}") from None


@dataclass
class Response(_ResponseReading):
    status: int
    headers: Dict[str, List[str]]
    body: bytes
    http_version: str = ""
    rc: int = 0
    stderr: str = ""
    info: dict = field(default_factory=dict)

    def __repr__(self):
        return (f"Response(status={self.status}, http_version={self.http_version!r}, rc={self.rc}, "
                f"headers={self.headers}, body={self.body[:300]!r}, stderr={self.stderr[-800:]!r})")


def parse_header_blocks(raw: bytes) -> Tuple[str, Dict[str, List[str]], List[str]]:
    """Parse curl -D output; returns (final status line, final headers, all status lines)."""
    text = raw.decode("latin-1")
    blocks = [b for b in re.split(r"\r?\n\r?\n", text) if b.strip()]
    status_lines = []
    headers: Dict[str, List[str]] = {}
    status_line = ""
    for b in blocks:
        lines = b.splitlines()
        if not lines or not lines[0].startswith("HTTP/"):
            continue
        status_line = lines[0]
        status_lines.append(status_line)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers.setdefault(k.strip().lower(), []).append(v.strip())
    return status_line, headers, status_lines


def curl(gw: Gateway, proto, path: str, *args: str, timeout: float = 180.0, check: bool = False) -> Response:
    """One curl transfer to `path` on `gw` over `proto`; extra curl args go in *args."""
    p = PROTOS[proto] if isinstance(proto, str) else proto
    tmp = gw.workdir / "curl"
    tmp.mkdir(exist_ok=True)
    tag = f"{time.monotonic_ns()}"
    body_path, head_path = tmp / f"{tag}.body", tmp / f"{tag}.head"
    argv = [CURL, "-sS", *p.curl_args, "-o", str(body_path), "-D", str(head_path), "-w", "%{json}",
            "--max-time", str(int(timeout))]
    if p.tls:
        argv += ["--cacert", str(gw.cert)]
    argv += list(args) + [gw.url(p, path)]
    return run_curl(argv, body_path, head_path, timeout, check)


def run_curl(argv, body_path: Path, head_path: Path, timeout: float, check: bool = False) -> Response:
    cp = subprocess.run(argv, capture_output=True, timeout=timeout + 15)
    info = {}
    try:
        info = json.loads(cp.stdout.decode() or "{}")
    except ValueError:
        pass
    head = head_path.read_bytes() if head_path.exists() else b""
    _, headers, _ = parse_header_blocks(head)
    res = Response(
        status=int(info.get("http_code") or info.get("response_code") or 0),
        headers=headers,
        body=body_path.read_bytes() if body_path.exists() else b"",
        http_version=str(info.get("http_version", "")),
        rc=cp.returncode,
        stderr=cp.stderr.decode(errors="replace"),
        info=info,
    )
    res.info["raw_head"] = head.decode("latin-1")
    if check:
        assert cp.returncode == 0, f"curl failed: {res!r}"
    return res


def curl_form_args(files: Sequence[Tuple[str, LocalFile, Optional[str], Optional[str]]] = (),
                   fields: Sequence[Tuple[str, str]] = ()) -> List[str]:
    """-F arguments: fields first, then files (field, LocalFile, filename, content type)."""
    args = []
    for name, value in fields:
        args += ["--form-string", f"{name}={value}"]
    for name, lf, filename, ctype in files:
        spec = f"{name}=@{lf.path}"
        if filename is not None:
            spec += f";filename={filename}"
        if ctype is not None:
            spec += f";type={ctype}"
        args += ["-F", spec]
    return args


# --------------------------------------------------------------------------
# multipart bodies built by hand (raw sockets, h2, malformed cases)
# --------------------------------------------------------------------------


def multipart_body(parts: Sequence[dict], boundary: str = "ugtestboundary7MA4YWxkTrZu0gW", close: bool = True) -> bytes:
    """parts: dicts with name, data (bytes), optional filename and content_type."""
    out = []
    for p in parts:
        disp = f'form-data; name="{p["name"]}"'
        if p.get("filename") is not None:
            disp += f'; filename="{p["filename"]}"'
        head = f"--{boundary}\r\nContent-Disposition: {disp}\r\n"
        if p.get("content_type"):
            head += f"Content-Type: {p['content_type']}\r\n"
        out.append(head.encode() + b"\r\n" + p["data"] + b"\r\n")
    if close:
        out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def multipart_content_type(boundary: str = "ugtestboundary7MA4YWxkTrZu0gW") -> str:
    return f"multipart/form-data; boundary={boundary}"


# --------------------------------------------------------------------------
# Raw HTTP/1.1
# --------------------------------------------------------------------------


def connect(gw: Gateway, tls: bool = False, alpn: Sequence[str] = ("http/1.1",), timeout: float = 30.0):
    s = socket.create_connection((gw.listen_host, gw.tls_port if tls else gw.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        ctx = ssl.create_default_context(cafile=str(gw.cert))
        ctx.set_alpn_protocols(list(alpn))
        s = ctx.wrap_socket(s, server_hostname="localhost")
    return s


class HTTP1Reader:
    """Reads HTTP/1.1 responses from a socket (Content-Length, chunked or until close)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def read_head(self) -> Tuple[int, Dict[str, List[str]]]:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"connection closed before a response head (got {self.buf[:200]!r})")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers: Dict[str, List[str]] = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        return status, headers

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError("connection closed in a response body")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError("connection closed in a chunked body")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_response(self, head_only_status: Sequence[int] = (), method: str = "POST") -> Response:
        """The next response; 1xx responses are skipped unless in head_only_status."""
        while True:
            status, headers = self.read_head()
            if 100 <= status < 200 and status not in head_only_status:
                continue
            break
        if 100 <= status < 200 or status in (204, 304) or method == "HEAD":
            return Response(status, headers, b"")
        te = ",".join(headers.get("transfer-encoding", [])).lower()
        if "chunked" in te:
            body = b""
            while True:
                size = int(self.read_line().split(b";")[0], 16)
                if size == 0:
                    while self.read_line():
                        pass
                    break
                body += self.read_exact(size)
                self.read_exact(2)
        elif "content-length" in headers:
            body = self.read_exact(int(headers["content-length"][-1]))
        else:
            while self._fill():
                pass
            body, self.buf = self.buf, b""
        return Response(status, headers, body, http_version="1.1")



def read_until_closed(sock, timeout: float) -> bytes:
    """Everything the server sends until it closes (EOF or reset); AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    got = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the server did not close the connection within {timeout}s (got {got[:200]!r})")
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return got
        if not data:
            return got
        got += data

def http1_head(method: str, path: str, host: str, headers: Sequence[Tuple[str, str]] = ()) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def http1_request(gw: Gateway, method: str, path: str, headers: Sequence[Tuple[str, str]] = (), body: bytes = b"",
                  tls: bool = False) -> Response:
    """One request on a fresh connection (Content-Length set from body)."""
    with connect(gw, tls=tls) as s:
        hdrs = list(headers)
        if body or method in ("POST", "PUT", "PATCH"):
            hdrs.append(("Content-Length", str(len(body))))
        hdrs.append(("Connection", "close"))
        s.sendall(http1_head(method, path, gw.tls_authority if tls else gw.authority, hdrs) + body)
        return HTTP1Reader(s).read_response(method=method)


def chunked(data: bytes, chunk: int = 64 * KiB) -> bytes:
    out = []
    for i in range(0, len(data), chunk):
        piece = data[i:i + chunk]
        out.append(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def abort_socket(sock, rst: bool) -> None:
    """Close a socket; with rst=True the kernel sends a TCP RST (SO_LINGER 0)."""
    if rst:
        import struct
        raw = sock
        if isinstance(sock, ssl.SSLSocket):
            raw = socket.socket(fileno=os.dup(sock.fileno()))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if raw is not sock:
            raw.close()
    sock.close()


# --------------------------------------------------------------------------
# HTTP/2 with the h2 library (cleartext prior knowledge or TLS + ALPN h2)
# --------------------------------------------------------------------------


@dataclass
class H2Result(_ResponseReading):
    status: Optional[int] = None
    headers: Dict[str, List[str]] = field(default_factory=dict)
    body: bytes = b""
    ended: bool = False               # END_STREAM received after the response
    reset_code: Optional[int] = None  # RST_STREAM from the server
    goaway: Optional[int] = None      # GOAWAY error code
    sent: int = 0                     # DATA bytes we sent
    all_sent: bool = False            # the whole body was sent (with END_STREAM)
    closed: bool = False              # the connection was closed under us
    interim: List[int] = field(default_factory=list)  # statuses of 1xx responses, in order

    def __repr__(self):
        return (f"H2Result(status={self.status}, ended={self.ended}, reset_code={self.reset_code}, goaway={self.goaway}, "
                f"sent={self.sent}, all_sent={self.all_sent}, closed={self.closed}, headers={self.headers}, "
                f"body={self.body[:300]!r})")


class H2Conn:
    """A minimal blocking HTTP/2 client connection for tests."""

    def __init__(self, gw: Gateway, tls: bool = False, timeout: float = 30.0, settings: Optional[Dict[int, int]] = None):
        """`settings`: the client's initial SETTINGS (h2.settings.SettingCodes -> value) instead of h2's defaults."""
        import h2.config
        import h2.connection
        import h2.settings

        self.timeout = timeout
        s = socket.create_connection((gw.listen_host, gw.tls_port if tls else gw.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.create_default_context(cafile=str(gw.cert))
            ctx.set_alpn_protocols(["h2"])
            s = ctx.wrap_socket(s, server_hostname="localhost")
            assert s.selected_alpn_protocol() == "h2", f"ALPN chose {s.selected_alpn_protocol()!r}"
        self.sock = s
        self.authority = gw.tls_authority if tls else gw.authority
        self.scheme = "https" if tls else "http"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        if settings:
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings)
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(16 * MiB)
        self.results: Dict[int, H2Result] = {}
        self.closed = False
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except Exception:
            pass
        self.sock.close()

    def pump(self, wait: float) -> None:
        """Read and process what the server sent, waiting up to `wait` s for something."""
        import h2.events

        if self.closed:
            return
        if not (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            r, _, _ = select.select([self.sock], [], [], wait)
            if not r:
                return
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            for r in self.results.values():
                r.closed = True
            return
        for ev in self.conn.receive_data(data):
            sid = getattr(ev, "stream_id", None)
            res = self.results.get(sid) if sid else None
            if isinstance(ev, h2.events.ResponseReceived) and res is not None:
                hdrs: Dict[str, List[str]] = {}
                for k, v in ev.headers:
                    hdrs.setdefault(k, []).append(v)
                if 100 <= int(hdrs[":status"][0]) < 200:
                    continue
                res.headers = hdrs
                res.status = int(hdrs[":status"][0])
            elif isinstance(ev, h2.events.InformationalResponseReceived):
                if res is not None:
                    res.interim.append(int(dict(ev.headers)[":status"]))
            elif isinstance(ev, h2.events.DataReceived):
                if res is not None:
                    res.body += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded) and res is not None:
                res.ended = True
            elif isinstance(ev, h2.events.StreamReset) and res is not None:
                res.reset_code = int(ev.error_code)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                for r in self.results.values():
                    r.goaway = int(ev.error_code)
        try:
            self.flush()
        except OSError:
            self.closed = True

    def start(self, method: str, path: str, headers: Sequence[Tuple[str, str]] = (), end_stream: bool = False) -> int:
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", self.scheme), (":authority", self.authority), (":path", path)]
        hdrs += [(k.lower(), v) for k, v in headers]
        self.conn.send_headers(sid, hdrs, end_stream=end_stream)
        self.results[sid] = H2Result(all_sent=end_stream)
        self.flush()
        return sid

    def send(self, sid: int, data: bytes, end_stream: bool = False, stop_on_response: bool = True) -> bool:
        """Send DATA respecting flow control. False if we stopped (response/reset/close) before the end."""
        import h2.exceptions

        res = self.results[sid]
        view = memoryview(data)
        deadline = time.monotonic() + self.timeout
        while True:
            self.pump(0)
            if self.closed or res.reset_code is not None or res.ended or (stop_on_response and res.status):
                return False
            if not view and not end_stream:
                return True
            try:
                window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            except h2.exceptions.StreamClosedError:
                return False
            if view and window <= 0:
                if time.monotonic() > deadline:
                    raise AssertionError(f"h2: no flow-control window for {self.timeout}s after {res.sent} bytes")
                self.pump(0.2)
                continue
            n = min(window, len(view))
            last = n == len(view)
            try:
                self.conn.send_data(sid, bytes(view[:n]), end_stream=end_stream and last)
                self.flush()
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                return False
            except OSError:
                self.closed = True
                return False
            res.sent += n
            view = view[n:]
            if last:
                if end_stream:
                    res.all_sent = True
                return True

    def get(self, path: str) -> H2Result:
        """A GET on this connection, until its response is complete."""
        return self.wait_response(self.start("GET", path, end_stream=True))

    def reset(self, sid: int, code: int = 8) -> None:  # 8 = CANCEL
        self.conn.reset_stream(sid, error_code=code)
        self.flush()

    def wait_response(self, sid: int, timeout: Optional[float] = None) -> H2Result:
        """Until the stream ended or was reset or the connection closed."""
        res = self.results[sid]
        deadline = time.monotonic() + (timeout or self.timeout)
        while not (res.ended or res.reset_code is not None or self.closed):
            if time.monotonic() > deadline:
                raise AssertionError(f"h2: no complete response in time: {res!r}")
            self.pump(0.2)
        return res


def h2_request(gw: Gateway, method: str, path: str, headers: Sequence[Tuple[str, str]] = (), body: bytes = b"",
               tls: bool = False, chunk: int = 256 * KiB, stop_on_response: bool = True,
               timeout: float = 60.0) -> H2Result:
    """One HTTP/2 request on a fresh connection; the body goes out in `chunk`-sized pieces."""
    c = H2Conn(gw, tls=tls, timeout=timeout)
    try:
        sid = c.start(method, path, headers, end_stream=not body)
        for i in range(0, len(body), chunk):
            last = i + chunk >= len(body)
            if not c.send(sid, body[i:i + chunk], end_stream=last, stop_on_response=stop_on_response):
                break
        return c.wait_response(sid, timeout)
    finally:
        c.close()


# --------------------------------------------------------------------------
# Edge-policy helpers (CORS, auth, signature, browser tests)
# --------------------------------------------------------------------------

# A minimal HTTP/1.1 backend run as `python3 -c CAPTURE_SERVER <port> <log> <response.json>`: it logs every
# request exactly as it arrived (headers in order, body bytes base64) and answers with one configured response.
CAPTURE_SERVER = r'''
import base64, json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, log_path, resp_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
RESP = json.load(open(resp_path))

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""
    def _any(self):
        body = self._body()
        entry = {"method": self.command, "path": self.path, "headers": [[k, v] for k, v in self.headers.items()],
                 "body_b64": base64.b64encode(body).decode()}
        line = (json.dumps(entry) + "\n").encode()
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        out = RESP.get("body", "").encode()
        self.send_response(RESP.get("status", 200))
        for k, v in RESP.get("headers", []):
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _any

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
'''


class _LoopbackServer:
    """A helper server of ours (CaptureBackend, StaticSite): `self.proc` listening on 127.0.0.1:`self.port`;
    `what` names it in errors."""

    what = "helper server"

    def start(self, timeout: float = 10.0):
        """Returns self once it accepts connections; its output in the error if it exits first."""
        def ready():
            if not self.proc.alive():
                raise AssertionError(f"{self.what} exited:\n{tail(self.proc.output())}")
            return tcp_accepts("127.0.0.1", self.port)

        wait_until(ready, timeout, f"the {self.what} to accept connections")
        return self

    def stop(self) -> None:
        self.proc.stop()


class CaptureBackend(_LoopbackServer):
    """A stand-in backend that records requests byte-exactly and always gives the same answer.

    Used where the example app cannot show something: the exact manifest bytes (to recompute
    the signature) or an app that sets its own Access-Control-* headers."""

    what = "capture backend"

    def __init__(self, workdir: Path, status: int = 200, headers: Sequence[Tuple[str, str]] = (),
                 body: str = '{"ok":true}'):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = self.workdir / "capture.jsonl"
        resp = self.workdir / "capture-response.json"
        resp.write_text(json.dumps({"status": status, "headers": [list(h) for h in headers], "body": body}))
        self.proc = Proc([PYTHON, "-c", CAPTURE_SERVER, str(self.port), str(self.log_path), str(resp)],
                         self.workdir / "capture-output.log")

    @property
    def backend_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> List[dict]:
        """Requests received: method, path, headers ([name, value] in order), body (bytes)."""
        import base64
        try:
            text = self.log_path.read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            if line.strip():
                e = json.loads(line)
                e["body"] = base64.b64decode(e.pop("body_b64"))
                out.append(e)
        return out


class StaticSite(_LoopbackServer):
    """`python3 -m http.server` serving `directory` on 127.0.0.1:<port> (the origin of a browser page)."""

    what = "static page server"

    def __init__(self, directory: Path, log_dir: Path, port: Optional[int] = None):
        self.directory = Path(directory)
        self.port = port or free_port()
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        self.proc = Proc([PYTHON, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(self.directory),
                          str(self.port)], Path(log_dir) / f"static-{self.port}.log")

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def header_values(res, name: str) -> List[str]:
    """All values of a response header (curl Response or H2Result), comma-lists split and stripped."""
    out: List[str] = []
    for v in res.headers.get(name.lower(), []):
        out += [p.strip() for p in v.split(",") if p.strip()]
    return out


def cors_headers(res) -> Dict[str, List[str]]:
    """The access-control-* headers of a response."""
    return {k: v for k, v in res.headers.items() if k.startswith("access-control-")}
