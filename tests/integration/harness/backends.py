"""What uploadgate forwards to: the example FastAPI app (alone or pooled), a capture backend that records requests
byte-exactly, and a static site (the origin of a browser page)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from .process import Proc, tail
from .util import APP_DIR, PYTHON, free_port, tcp_accepts, unix_accepts, wait_until


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


# A minimal HTTP/1.1 backend run as `python3 -c CAPTURE_SERVER <port> <log> <response.json>`: it logs every
# request exactly as it arrived (headers in order, body bytes base64) and answers with one configured response.
CAPTURE_SERVER = r'''
import base64, json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, log_path, resp_path, port_path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
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
srv = ThreadingHTTPServer(("127.0.0.1", port), H)
# Port 0: the kernel picks a free one, told to the harness through this file (written whole, then renamed), so no
# other process can take the port between its choice and the bind.
with open(port_path + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_path + ".tmp", port_path)
srv.serve_forever()
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
        self.port = None
        self.log_path = self.workdir / "capture.jsonl"
        self.port_path = self.workdir / "capture-port"
        resp = self.workdir / "capture-response.json"
        resp.write_text(json.dumps({"status": status, "headers": [list(h) for h in headers], "body": body}))
        self.proc = Proc([PYTHON, "-c", CAPTURE_SERVER, "0", str(self.log_path), str(resp), str(self.port_path)],
                         self.workdir / "capture-output.log")

    def start(self, timeout: float = 10.0):
        """Returns self once the server has bound its port (its own choice: see the script) and accepts there."""
        def ready():
            if not self.proc.alive():
                raise AssertionError(f"{self.what} exited:\n{tail(self.proc.output())}")
            if self.port is None and self.port_path.exists():
                self.port = int(self.port_path.read_text())
            return self.port is not None and tcp_accepts("127.0.0.1", self.port)

        wait_until(ready, timeout, f"the {self.what} to accept connections")
        return self

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
