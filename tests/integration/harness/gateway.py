"""One uploadgate process with its own configuration, storage dir and backend."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from .backends import ExampleApp
from .config import default_routes, to_yaml
from .process import Proc, tail
from .transports import PROTOS
from .util import binary_path, free_ports, tcp_accepts, wait_until


def _url_host(listen_host: str) -> str:
    """The host as it is written in an address or URL: IPv6 in brackets."""
    return f"[{listen_host}]" if ":" in listen_host else listen_host


class _PortTaken(Exception):
    """uploadgate refused to start: one of its public ports was taken after free_ports() chose it."""


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
        host = _url_host(listen_host)
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
        """Until uploadgate accepts connections on every listener. Its ports were free when free_ports() chose them,
        but until uploadgate binds them any connection the machine opens may take one as its ephemeral port: then
        uploadgate refuses to start ("address is in use") and is started again on new ports, as ExampleApp is (the
        test reads gw.port / gw.url() after start, so nothing has been told the old ones)."""
        for _ in range(3):
            try:
                return self._start_once(timeout)
            except _PortTaken:
                self.proc.stop()
                self._move_to_new_ports()
        return self._start_once(timeout)

    def _start_once(self, timeout: float) -> "Gateway":
        self.config_path.write_text(to_yaml(self.config))
        binary = binary_path()
        if not binary.exists():
            raise AssertionError(f"uploadgate binary not found at {binary} (build it: cmake -S . -B build && "
                                 f"cmake --build build, or set UG_BINARY)")
        self.proc = Proc([str(binary), "-c", str(self.config_path)], self.workdir / "uploadgate.log")
        taken = [f"listen {a}: the address is in use by another process" for a in (self.authority, self.tls_authority)]

        def ready():
            if not self.proc.alive():
                output = self.proc.output()
                if any(t in output for t in taken):
                    raise _PortTaken()
                raise AssertionError(f"uploadgate exited with {self.proc.returncode} during start-up:\n"
                                     f"{tail(output)}\nconfig:\n{self.config_path.read_text()}")
            return all(tcp_accepts(self.listen_host, p) for p in self.ports)

        wait_until(ready, timeout, "uploadgate to accept connections on all listeners")
        return self

    def _move_to_new_ports(self) -> None:
        """New free ports for the two public listeners, in the configuration too (only the addresses that are still
        the ones __init__ chose: a test that configured its own keeps them)."""
        old = {self.authority: 0, self.tls_authority: 1}
        self.port, self.tls_port = free_ports(2, self.listen_host)
        host = _url_host(self.listen_host)
        self.authority = f"{host}:{self.port}"
        self.tls_authority = f"{host}:{self.tls_port}"
        new = [self.authority, self.tls_authority]
        for entry in self.config.get("listen") or []:
            if entry.get("address") in old:
                entry["address"] = new[old[entry["address"]]]

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
