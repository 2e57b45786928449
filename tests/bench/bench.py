"""The upload benchmark (driven by tests/bench/run.sh; see the top of that file).

Starts, side by side on 127.0.0.1, uploadgate (+ its manifest app), FastAPI direct,
aiohttp direct, nginx and the no-parse C sink; runs the workloads interleaved
(server A B C D E, A B C D E, ... per repetition); verifies every upload by sha256;
samples CPU, RSS and disk writes of each server's process tree; writes
results/results.md, results/runs.csv and results/chart.png; runs the callgrind
count of tests/bench/parse_hash_driver.c; prints PASS/FAIL per target.

Everything it starts is stopped by PID (and listed in WORK/pids for run.sh's trap).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

MiB = 1024 * 1024
PY = "/usr/bin/python3"
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BOUNDARY = "----ugbench7MA4YWxkTrZu0gW4f2a9c"
MP_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def env_int(name: str, default: int) -> int:
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


QUICK = os.environ.get("QUICK", "0") not in ("", "0")
REPS = env_int("N", 1 if QUICK else 5)
FILE_MIB = env_int("FILE_MIB", 20)
BIG_MIB = env_int("BIG_MIB", 256 if QUICK else 1024)
H2LOAD_N = env_int("H2LOAD_N", 128 if QUICK else 384)
H2LOAD_C = env_int("H2LOAD_C", 64)
CG_MIB = env_int("CG_MIB", 16 if QUICK else 64)
PROFILE = os.environ.get("PROFILE", "0") not in ("", "0")
SAMPLE_HASHES = 4  # stored files hashed after an h2load run (a sample; the count is checked for all)

WORK = Path(os.environ["BENCH_WORK"])  # temp dir on a real filesystem (run.sh: BENCH_FS)
# A subset for iterating on one thing (e.g. ONLY_SERVERS=uploadgate,sink ONLY_WORKLOADS=par4x20): names as in runs.csv.
# Its report goes to results/subset/ (not committed) unless BENCH_RESULTS says otherwise, so it never overwrites the
# full run's tables; the callgrind count is skipped.
ONLY_SERVERS = set(os.environ.get("ONLY_SERVERS", "").replace(",", " ").split())
ONLY_WORKLOADS = set(os.environ.get("ONLY_WORKLOADS", "").replace(",", " ").split())
SUBSET = bool(ONLY_SERVERS or ONLY_WORKLOADS)
RESULTS = Path(os.environ.get("BENCH_RESULTS") or (HERE / "results" / ("subset" if SUBSET else "quick" if QUICK else "")))
BIN = Path(os.environ.get("BENCH_BIN", WORK / "bin"))
UG_BINARY = Path(os.environ.get("UG_BINARY", REPO / "build" / "uploadgate"))

STARTED: list = []  # Popen objects, stopped in reverse order


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name: str, argv, env=None, cwd=None) -> subprocess.Popen:
    logf = open(WORK / "logs" / f"{name}.log", "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    logf.close()
    STARTED.append((name, p))
    with open(WORK / "pids", "a") as f:
        f.write(f"{p.pid}\n")
    return p


def stop_all() -> None:
    for name, p in reversed(STARTED):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    for name, p in reversed(STARTED):
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    STARTED.clear()


def http_get_ok(port: int, path: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            data = s.recv(64)
            return data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.0 200")
    except OSError:
        return False


def wait_ready(name: str, proc: subprocess.Popen, check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited during start-up (code {proc.returncode}); see {WORK}/logs/{name}.log")
        if check():
            return
        time.sleep(0.05)  # polling interval, bounded by the deadline
    raise SystemExit(f"{name} not ready after {timeout}s; see {WORK}/logs/{name}.log")


def proc_table():
    """pid -> ppid for every process."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                s = f.read()
            table[int(d)] = int(s[s.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError):
            pass
    return table


def tree(roots):
    """The roots (in order, the first one first) and all their descendants."""
    table = proc_table()
    out, todo = [], list(roots)
    while todo:
        pid = todo.pop(0)
        if pid in out:
            continue
        out.append(pid)
        todo.extend(c for c, pp in sorted(table.items()) if pp == pid)
    return out


CLK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


def kernel_threads_cpu() -> float:
    """CPU seconds of all kernel threads (kthreadd and its children): writeback, softirq threads, ..."""
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                st = f.read()
            fl = st[st.rindex(b")") + 2 :].split()
            if d == "2" or fl[1] == b"2":
                total += int(fl[11]) + int(fl[12])
        except (OSError, ValueError):
            pass
    return total / CLK


def machine_busy() -> float:
    """CPU seconds all CPUs spent in user, nice and system mode since boot (irq, softirq and steal left out)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2]) / CLK


def own_cpu(sampler_pid: int) -> float:
    """CPU seconds of the benchmark itself: this process, its reaped children (clients) and the sampler."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime + cpu_seconds([sampler_pid])


def cpu_seconds(pids) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                s = f.read()
            fields = s[s.rindex(b")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except (OSError, ValueError):
            pass
    return total / CLK


def io_bytes(pids):
    w = c = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/io") as f:
                for line in f:
                    k, v = line.split(":")
                    if k == "write_bytes":
                        w += int(v)
                    elif k == "cancelled_write_bytes":
                        c += int(v)
        except OSError:
            pass
    return w, c


class Sampler:
    def __init__(self):
        self.p = subprocess.Popen([PY, str(HERE / "sampler.py"), "0.01"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        STARTED.append(("sampler", self.p))
        with open(WORK / "pids", "a") as f:
            f.write(f"{self.p.pid}\n")

    def start(self, pids):
        self.p.stdin.write(("start " + " ".join(map(str, pids)) + "\n").encode())
        self.p.stdin.flush()

    def stop(self):
        self.p.stdin.write(b"stop\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())


# --------------------------------------------------------------------------
# data: deterministic payloads and multipart bodies
# --------------------------------------------------------------------------


def part_head(i: int, first: bool) -> bytes:
    return (
        ("" if first else "\r\n")
        + f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"f{i}.bin\"\r\n"
        + "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


def prng_stream(seed: int, size: int):
    """Deterministic bytes: AES-128-CTR of zeros under a fixed key (openssl), in 1 MiB chunks."""
    key = hashlib.sha256(f"ugbench-{seed}".encode()).hexdigest()[:32]
    gen = subprocess.Popen(
        f"head -c {size} /dev/zero | openssl enc -aes-128-ctr -nosalt -K {key} -iv 00000000000000000000000000000000",
        shell=True,
        stdout=subprocess.PIPE,
    )
    left = size
    while left > 0:
        chunk = gen.stdout.read(min(MiB, left))
        if not chunk:
            raise SystemExit("data generation failed")
        left -= len(chunk)
        yield chunk
    gen.stdout.close()
    gen.wait(timeout=60)


class Data:
    def __init__(self, d: Path):
        d.mkdir(parents=True, exist_ok=True)
        self.dir = d
        self.sha = {}  # name -> sha256 hex
        self.size = {}
        fs = FILE_MIB * MiB
        for i in range(4):
            self.payload(f"p{i}", 100 + i, fs)
        self.payload("p1m", 200, MiB)
        self.multipart("mp_p0", ["p0"])
        self.multipart("mp_p1", ["p1"])
        self.multipart("mp_p2", ["p2"])
        self.multipart("mp_p3", ["p3"])
        self.multipart("mp_4", ["p0", "p1", "p2", "p3"])
        self.multipart("mp_1m", ["p1m"])
        # the big file exists only inside its multipart body (no second GiB on disk)
        self.multipart_from_stream("mp_big", "pbig", 300, BIG_MIB * MiB)

    def path(self, name: str) -> Path:
        return self.dir / name

    def payload(self, name, seed, size):
        h = hashlib.sha256()
        with open(self.path(name), "wb") as f:
            for chunk in prng_stream(seed, size):
                h.update(chunk)
                f.write(chunk)
        self.sha[name], self.size[name] = h.hexdigest(), size

    def multipart(self, name, parts):
        h = hashlib.sha256()
        n = 0
        with open(self.path(name), "wb") as out:
            for i, p in enumerate(parts):
                for b in [part_head(i, i == 0)] + [self.path(p).read_bytes()]:
                    h.update(b)
                    out.write(b)
                    n += len(b)
            h.update(TAIL)
            out.write(TAIL)
            n += len(TAIL)
        self.sha[name], self.size[name] = h.hexdigest(), n

    def multipart_from_stream(self, name, pname, seed, size):
        h, hp = hashlib.sha256(), hashlib.sha256()
        n = 0
        with open(self.path(name), "wb") as out:
            head = part_head(0, True)
            h.update(head)
            out.write(head)
            for chunk in prng_stream(seed, size):
                h.update(chunk)
                hp.update(chunk)
                out.write(chunk)
            h.update(TAIL)
            out.write(TAIL)
            n = len(head) + size + len(TAIL)
        self.sha[name], self.size[name] = h.hexdigest(), n
        self.sha[pname], self.size[pname] = hp.hexdigest(), size


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


# --------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------


class Server:
    """One contestant process tree. kind: 'parse' (stores the file parts) or 'raw' (stores the body)."""

    name = ""
    kind = "parse"
    label = ""
    manifest_replies = False  # the reply carries the manifest's digests (checked against the sent data)
    digest_replies = False  # the reply is "<path> <sha256 of the body>" (checked against the sent data)

    def __init__(self, store: Path):
        self.store = store
        self.roots = []  # pids whose process trees are measured
        self.port = 0
        self.h2c_port = 0  # a separate h2c-only port (nginx); 0: h2c, if spoken, on the main port (uploadgate)

    def url(self, port=None):
        return f"http://127.0.0.1:{port or self.port}/upload"

    def stored_files(self):
        out = []
        for root, dirs, files in os.walk(self.out_dir()):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            out.extend(os.path.join(root, f) for f in files)
        return sorted(out)

    def out_dir(self) -> Path:
        return self.store

    def clean(self):
        d = self.out_dir()
        for e in os.listdir(d):
            if e.startswith("."):
                continue
            p = d / e
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()


class Uploadgate(Server):
    name, label = "uploadgate", "uploadgate"
    manifest_replies = True

    def launch(self):
        self.store.mkdir(parents=True, exist_ok=True)
        app_port, self.port = free_port(), free_port()
        app = start(
            "ug_app",
            [PY, "-m", "uvicorn", "ug_app:app", "--app-dir", str(HERE / "apps"), "--host", "127.0.0.1", "--port", str(app_port),
             "--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"],
        )
        wait_ready("ug_app", app, lambda: http_get_ok(app_port, "/health"))
        cfg = WORK / "uploadgate.yaml"
        # The project's default spill threshold unless UG_SPOOL_THRESHOLD says otherwise (e.g. 4MiB: the trade-off in docs/configuration.md).
        spool = f", spool_threshold: {os.environ['UG_SPOOL_THRESHOLD']}" if os.environ.get("UG_SPOOL_THRESHOLD") else ""
        cfg.write_text(
            f"""listen:
  - address: 127.0.0.1:{self.port}
threads: 2
backend: {{url: http://127.0.0.1:{app_port}, timeout: 60s}}
storage: {{dir: {self.store}, min_free: 1MiB{spool}}}
routes:
  - path: /upload
    methods: [POST, PUT]
    limits: {{max_body: 2GiB, max_file: 2GiB, max_files: 64, max_fields: 128, max_field_size: 64KiB}}
"""
        )
        ug = start("uploadgate", [str(UG_BINARY), "-c", str(cfg)])
        wait_ready("uploadgate", ug, lambda: http_get_ok(self.port, "/health"))
        self.roots = [ug.pid, app.pid]
        self.ug_pid, self.app_pid = ug.pid, app.pid


class FastAPIDirect(Server):
    name, label = "fastapi", "FastAPI direct"

    def launch(self):
        dest, tmp = self.store / "dest", self.store / ".tmp"
        dest.mkdir(parents=True, exist_ok=True)
        tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        env = dict(os.environ, BENCH_DEST=str(dest), TMPDIR=str(tmp))  # UploadFile spills to $TMPDIR: the same filesystem as the stores
        p = start(
            "fastapi",
            [PY, "-m", "uvicorn", "fastapi_direct:app", "--app-dir", str(HERE / "apps"), "--host", "127.0.0.1", "--port",
             str(self.port), "--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"],
            env=env,
        )
        wait_ready("fastapi", p, lambda: http_get_ok(self.port, "/health"))
        self.roots = [p.pid]

    def out_dir(self):
        return self.store / "dest"


class AiohttpDirect(Server):
    name, label = "aiohttp", "aiohttp direct"

    def launch(self):
        self.store.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        env = dict(os.environ, BENCH_DEST=str(self.store))
        p = start("aiohttp", [PY, str(HERE / "apps" / "aiohttp_direct.py"), str(self.port)], env=env)
        wait_ready("aiohttp", p, lambda: http_get_ok(self.port, "/health"))
        self.roots = [p.pid]


class Nginx(Server):
    name, label, kind = "nginx", "nginx (raw body)", "raw"

    def launch(self):
        body = self.store / "body"
        body.mkdir(parents=True, exist_ok=True)
        nd = WORK / "nginx"
        for sub in ("proxy", "fastcgi", "uwsgi", "scgi"):
            (nd / sub).mkdir(parents=True, exist_ok=True)
        self.port, self.h2c_port, ack = free_port(), free_port(), free_port()
        # the same body-storing server twice: HTTP/1.1, and h2c with prior knowledge (a cleartext `listen ... http2`
        # port speaks HTTP/2 only in nginx 1.22, so it needs its own port); both store into the same body dir
        store_body = f"""client_max_body_size 0;
        client_body_buffer_size 1m;
        client_body_in_file_only on;
        location = /upload {{
            proxy_pass http://ack/ack;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Body-File $request_body_file;
        }}
        location / {{ return 200 "ok\\n"; }}"""
        conf = nd / "nginx.conf"
        conf.write_text(
            f"""# uploadgate benchmark: nginx stores the raw request body in a file (client_body_in_file_only),
# parses nothing, and answers with the file's path (via a tiny proxied request to its own third server).
daemon off;
master_process on;
user root;
worker_processes 2;
pid {nd}/nginx.pid;
error_log {nd}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {body};
    proxy_temp_path {nd}/proxy;
    fastcgi_temp_path {nd}/fastcgi;
    uwsgi_temp_path {nd}/uwsgi;
    scgi_temp_path {nd}/scgi;
    keepalive_requests 100000;
    upstream ack {{ server 127.0.0.1:{ack}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{self.port};
        {store_body}
    }}
    server {{
        listen 127.0.0.1:{self.h2c_port} http2;
        {store_body}
    }}
    server {{
        listen 127.0.0.1:{ack};
        location /ack {{ default_type text/plain; return 200 "$http_x_body_file\\n"; }}
    }}
}}
"""
        )
        p = start("nginx", ["/usr/sbin/nginx", "-p", str(nd), "-c", str(conf), "-e", str(nd / "error.log")])
        wait_ready("nginx", p, lambda: http_get_ok(self.port, "/") and tcp_accepts(self.h2c_port))  # h2c port: no HTTP/1.1
        self.roots = [p.pid]

    def out_dir(self):
        return self.store / "body"


class Sink(Server):
    name, label, kind = "sink", "C sink (raw body)", "raw"
    binary = "sink"

    def launch(self):
        self.store.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        p = start(self.name, [str(BIN / self.binary), str(self.port), str(self.store)])
        wait_ready(self.name, p, lambda: tcp_accepts(self.port))
        self.roots = [p.pid]


class StreamPrototype(Sink):
    """sink.c built with -DUG_STREAM: each socket read fed to libugcore's ug_upload_feed (no spool, no app)."""

    name, label, kind = "stream", "streaming prototype (sink.c + libugcore)", "parse"
    binary = "ug_stream_prototype"
    manifest_replies = True


class SinkSha256(Sink):
    """sink.c built with -DUG_SINK_SHA256: the raw sink plus OpenSSL's SHA-256 of every body byte - a measured floor
    for any server that must report each upload's digest (uploadgate's manifest does)."""

    name, label, kind = "sink-sha256", "C sink + SHA-256 (raw body)", "raw"
    binary = "sink_sha256"
    digest_replies = True


def tcp_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# clients
# --------------------------------------------------------------------------


def curl_argv(url, body: Path, out: Path, h2=False):
    a = ["curl", "-sS", "-X", "POST", "-T", str(body), "-H", f"Content-Type: {MP_TYPE}", "-H", "Expect:",
         "-o", str(out), "-w", "%{http_code} %{num_connects}\\n", "--max-time", "900"]
    a += ["--http2-prior-knowledge"] if h2 else ["--http1.1"]
    return a + [url]


def run_procs(argvs, timeout=900):
    """Start all, wait all; returns (seconds, [(rc, stdout, stderr)])."""
    t0 = time.perf_counter()
    ps = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for a in argvs]
    outs = []
    for p in ps:
        try:
            o, e = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            o, e = p.communicate()
        outs.append((p.returncode, o.decode(errors="replace"), e.decode(errors="replace")))
    return time.perf_counter() - t0, outs


class Result:
    def __init__(self, seconds, uploads, ok=True, note="", replies=(), ups=None):
        self.seconds, self.uploads, self.ok, self.note, self.replies = seconds, uploads, ok, note, list(replies)
        self.ups = ups  # uploads/s as measured by the load generator (h2load)
        self.send_seconds = None  # requests client: the HTTP exchange alone


def do_curl_set(c: "Contestant", bodies) -> Result:
    """One curl process per body, all started at once (HTTP/1.1, or h2c with prior knowledge: one transfer per
    connection - Debian 12's curl 7.88.1 cannot reuse a prior-knowledge h2c connection, curl/curl#10634)."""
    tmp = WORK / "resp"
    tmp.mkdir(exist_ok=True)
    outs = [tmp / f"r{i}" for i in range(len(bodies))]
    for o in outs:
        o.unlink(missing_ok=True)
    secs, res = run_procs([curl_argv(c.url(), b, o, h2=c.proto == "h2c") for b, o in zip(bodies, outs)])
    lines = [l for rc, out, err in res for l in out.split("\n") if re.match(r"^\d{3} \d+$", l.strip())]
    codes = [l.split()[0] for l in lines]
    ok = all(rc == 0 for rc, _, _ in res) and len(codes) == len(bodies) and all(code == "200" for code in codes)
    note = ""
    replies = [o.read_text(errors="replace") if o.exists() else "" for o in outs]
    if not ok:
        note += f" curl: {res!r}"[:600]
    return Result(secs, len(bodies), ok, note, replies)


def do_requests(c: "Contestant", files) -> Result:
    argv = [PY, str(HERE / "clients" / "requests_upload.py"), c.url()] + [str(f) for f in files]
    _, res = run_procs([argv])
    rc, out, err = res[0]
    try:
        j = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return Result(0.0, len(files), False, f"requests client failed: {(out + err)[-300:]}")
    r = Result(j["seconds"], len(files), j["status"] == 200, "", [j["text"]])
    r.sent_sha256 = j["sent_sha256"]
    r.send_seconds = j["send_seconds"]
    return r


H2LOAD_RE = re.compile(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s")
H2LOAD_REQ = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed")
H2LOAD_2XX = re.compile(r"status codes: (\d+) 2xx")


def do_h2load(c: "Contestant", body: Path, ctype: str, h2: bool, clients=None, n=None, streams=1) -> Result:
    clients = clients or H2LOAD_C
    n = n or H2LOAD_N
    argv = ["h2load", "-c", str(clients), "-n", str(n), "-m", str(streams), "-d", str(body), "-H", f"content-type: {ctype}",
            "-T", "600", "-N", "600"]
    if not h2:
        argv.insert(1, "--h1")
    argv.append(c.url())
    secs, res = run_procs([argv])
    rc, out, err = res[0]
    m, r, s = H2LOAD_RE.search(out), H2LOAD_REQ.search(out), H2LOAD_2XX.search(out)
    if not (m and r and s):
        return Result(secs, 0, False, f"h2load output not understood: {out[-400:]}")
    t = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    succeeded, two = int(r.group(4)), int(s.group(1))
    ok = rc == 0 and succeeded == n and two == n
    return Result(t, succeeded, ok, "" if ok else f"h2load: {r.group(0)}; {s.group(0)}", ups=succeeded / t if t else 0)


# --------------------------------------------------------------------------
# workloads
# --------------------------------------------------------------------------


class Contestant:
    def __init__(self, server: Server, proto="HTTP/1.1"):
        self.server, self.proto = server, proto
        self.key = server.name + ("-h2c" if proto == "h2c" else "")
        self.label = server.label + (" h2c" if proto == "h2c" else "")

    def url(self):
        """Where this contestant's client connects: nginx serves h2c on a port of its own."""
        h2c_port = self.server.h2c_port if self.proto == "h2c" else 0
        return self.server.url(h2c_port or None)


class Workload:
    def __init__(self, key, title, contestants, run, expect, payload_bytes, uploads, metric="time"):
        self.key, self.title, self.contestants, self.run = key, title, contestants, run
        self.expect = expect  # (contestant, result) -> list of expected sha256 of stored files (multiset)
        self.payload_bytes, self.uploads, self.metric = payload_bytes, uploads, metric


def verify(c: Contestant, wl: Workload, r: Result, data: Data) -> str:
    """'' when every check passed, else why not."""
    srv = c.server
    if not r.ok:
        return r.note or "client reported failure"
    files = srv.stored_files()
    expected = wl.expect(c, r)
    if wl.metric == "ups":  # h2load: every upload stored, a sample hashed
        if len(files) != r.uploads:
            return f"{len(files)} stored files for {r.uploads} uploads"
        for f in files[:SAMPLE_HASHES]:
            if sha256_file(f) != expected[0]:
                return f"stored {f} does not hash to the sent data"
        return ""
    got = sorted(sha256_file(f) for f in files)
    if got != sorted(expected):
        return f"stored files {len(files)} do not hash to the sent data"
    if srv.digest_replies and r.replies:  # the digest it computed must be the sent body's
        digests = [rep.split()[-1] if rep.split() else "" for rep in r.replies]
        if sorted(digests) != sorted(expected):
            return f"replied sha256 differ from the sent data: {digests}"
    if srv.manifest_replies and r.replies:  # the manifest (as the app echoed it) must carry the same digests
        want_proto = "HTTP/2" if c.proto == "h2c" else "HTTP/1.1"
        digests = []
        for rep in r.replies:
            try:
                j = json.loads(rep)
            except ValueError:
                return f"reply is not JSON: {rep[:200]}"
            proto = j.get("protocol") or j.get("client", {}).get("protocol")
            if proto != want_proto:
                return f"manifest says protocol {proto}, expected {want_proto}"
            digests += [f["sha256"] for f in j["files"]]
        if sorted(digests) != sorted(d for d in expected):
            return "manifest sha256 differ from the sent data"
    return ""


def build_workloads(servers, data: Data):
    ug, fa, ai, ng, sk, st, sh = servers
    h1 = [Contestant(s) for s in servers]
    h1_client_bound = [c for c in h1 if c.server not in (st, sh)]  # req4x20: the client is the limit, the extras add nothing
    ug_h2c = Contestant(ug, "h2c")
    ng_h2c = Contestant(ng, "h2c")  # reference: the same h2c client against a server that streams HTTP/2 bodies
    parts = [data.path(f"mp_p{i}") for i in range(4)]
    p_sha = [data.sha[f"p{i}"] for i in range(4)]
    mp_sha = [data.sha[f"mp_p{i}"] for i in range(4)]
    fsz = FILE_MIB * MiB

    def exp_parts(c, r):
        return p_sha if c.server.kind == "parse" else mp_sha

    def exp_4in1(c, r):
        return p_sha if c.server.kind == "parse" else [data.sha["mp_4"]]

    def exp_requests(c, r):
        return p_sha if c.server.kind == "parse" else [r.sent_sha256]

    def exp_big(c, r):
        return [data.sha["pbig"]] if c.server.kind == "parse" else [data.sha["mp_big"]]

    def exp_1m(c, r):
        return [data.sha["p1m"]] if c.server.kind == "parse" else [data.sha["p1m"]]

    def run_par(c):
        return do_curl_set(c, parts)

    def run_mux(c):
        # the same 20 MiB part 4 times at once: HTTP/1.1 on 4 connections, h2c as 4 streams of one connection
        body = data.path("mp_p0")
        if c.proto == "h2c":
            return do_h2load(c, body, MP_TYPE, True, clients=1, n=4, streams=4)
        return do_h2load(c, body, MP_TYPE, False, clients=4, n=4, streams=1)

    def exp_mux(c, r):
        return [data.sha["p0"]] * 4 if c.server.kind == "parse" else [data.sha["mp_p0"]] * 4

    def run_h2load(c):
        if c.server.kind == "parse":
            return do_h2load(c, data.path("mp_1m"), MP_TYPE, c.proto == "h2c")
        return do_h2load(c, data.path("p1m"), "application/octet-stream", False)

    return [
        Workload("par4x20", f"4 × {FILE_MIB} MiB, 4 curl processes in parallel (HTTP/1.1; h2c: "
                 "--http2-prior-knowledge, one upload per connection)",
                 h1 + [ug_h2c, ng_h2c], run_par, exp_parts, 4 * fsz, 4),
        Workload("mux4x20", f"4 × {FILE_MIB} MiB at once with h2load: HTTP/1.1 on 4 connections (--h1 -c 4 -n 4); "
                 "h2c as 4 streams on one connection (-c 1 -m 4 -n 4)",
                 h1 + [ug_h2c, ng_h2c], run_mux, exp_mux, 4 * fsz, 4),
        Workload("ser4x20", f"4 × {FILE_MIB} MiB in one request, curl (HTTP/1.1)",
                 h1, lambda c: do_curl_set(c, [data.path("mp_4")]), exp_4in1, 4 * fsz, 4),
        Workload("req4x20", f"4 × {FILE_MIB} MiB in one request, Python requests client (HTTP/1.1)",
                 h1_client_bound, lambda c: do_requests(c, [data.path(f"p{i}") for i in range(4)]), exp_requests, 4 * fsz, 4),
        Workload("big", f"one {BIG_MIB} MiB file, curl (HTTP/1.1; h2c: --http2-prior-knowledge)",
                 h1 + [ug_h2c, ng_h2c], lambda c: do_curl_set(c, [data.path("mp_big")]), exp_big, BIG_MIB * MiB, 1),
        Workload("h2load64", f"h2load -c {H2LOAD_C} -n {H2LOAD_N}, 1 MiB uploads (--h1; h2c: without --h1)",
                 h1 + [ug_h2c], run_h2load, exp_1m, H2LOAD_N * MiB, H2LOAD_N, metric="ups"),
    ]


# --------------------------------------------------------------------------
# one run
# --------------------------------------------------------------------------


def one_run(wl: Workload, c: Contestant, rep: int, data: Data, sampler: Sampler) -> dict:
    srv = c.server
    pids = tree(srv.roots)
    sampler.start(pids)
    cpu0 = cpu_seconds(pids)
    ug_cpu0 = cpu_seconds([srv.ug_pid]) if isinstance(srv, Uploadgate) else 0.0
    w0, x0 = io_bytes(pids)
    k0, o0 = kernel_threads_cpu(), own_cpu(sampler.p.pid)
    b0, ch0, t0 = machine_busy(), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    r = wl.run(c)
    b1, ch1, wall = machine_busy(), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter() - t0
    k1, o1 = kernel_threads_cpu(), own_cpu(sampler.p.pid)
    w1, x1 = io_bytes(pids)
    cpu1 = cpu_seconds(pids)
    client_cpu = (ch1.ru_utime + ch1.ru_stime) - (ch0.ru_utime + ch0.ru_stime)
    ug_cpu1 = cpu_seconds([srv.ug_pid]) if isinstance(srv, Uploadgate) else 0.0
    mem = sampler.stop()
    why = verify(c, wl, r, data)
    srv.clean()
    os.sync()  # settle: nothing of this run is left dirty for the next one
    row = {
        "workload": wl.key,
        "contestant": c.key,
        "label": c.label,
        "protocol": c.proto,
        "rep": rep,
        "seconds": round(r.seconds, 4),
        "uploads": r.uploads,
        "payload_bytes": wl.payload_bytes,
        "MBps": round(wl.payload_bytes / r.seconds / 1e6, 1) if r.seconds else 0,
        "uploads_per_s": round(r.ups if r.ups is not None else (r.uploads / r.seconds if r.seconds else 0), 2),
        "cpu_s": round(cpu1 - cpu0, 2),
        "cpu_uploadgate_s": round(ug_cpu1 - ug_cpu0, 2) if isinstance(srv, Uploadgate) else "",
        "rss_peak_kib": mem.get("rss", 0),
        "anon_peak_kib": mem.get("anon", 0),
        "file_peak_kib": mem.get("file", 0),
        "main_rss_peak_kib": mem.get("first_rss", 0),
        "main_anon_peak_kib": mem.get("first_anon", 0),
        "main_file_peak_kib": mem.get("first_file", 0),
        "rss_samples": mem.get("samples", 0),
        "write_bytes": w1 - w0,
        "cancelled_write_bytes": x1 - x0,
        "client_cpu_s": round(client_cpu, 2),
        "machine_busy_s": round(b1 - b0, 2),
        "others_cpu_pct": round(max(0.0, (b1 - b0) - (cpu1 - cpu0) - (o1 - o0) - (k1 - k0)) / (wall * NCPU) * 100, 1),
        "send_seconds": round(r.send_seconds, 4) if r.send_seconds is not None else "",
        "verified": "yes" if not why else "NO",
        "note": why or r.note,
    }
    return row


# --------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def summarize(rows, workloads):
    """(workload, contestant) -> stats dict."""
    s = {}
    for wl in workloads:
        for c in wl.contestants:
            rs = [r for r in rows if r["workload"] == wl.key and r["contestant"] == c.key]
            good = [r for r in rs if r["verified"] == "yes"]
            if not rs:
                continue
            secs = [r["seconds"] for r in good]
            ups = [r["uploads_per_s"] for r in good]
            st = {
                "label": c.label,
                "n": len(rs),
                "ok": len(good),
                "med": med(secs),
                "min": min(secs) if secs else float("nan"),
                "max": max(secs) if secs else float("nan"),
                "ups": med(ups),
                "ups_min": min(ups) if ups else float("nan"),
                "ups_max": max(ups) if ups else float("nan"),
                "cpu": med([r["cpu_s"] for r in good]),
                "cpu_all": med([r["cpu_s"] + r["client_cpu_s"] for r in good]),  # server + client: the CPU floor's base
                "payload": wl.payload_bytes,
                "cpu_ug": med([r["cpu_uploadgate_s"] for r in good]) if c.server.name == "uploadgate" else None,
                "rss": max([r["rss_peak_kib"] for r in rs]) / 1024,
                "anon": max([r["anon_peak_kib"] for r in rs]) / 1024,
                "file": max([r["file_peak_kib"] for r in rs]) / 1024,
                "main_rss": max([r["main_rss_peak_kib"] for r in rs]) / 1024,
                "main_anon": max([r["main_anon_peak_kib"] for r in rs]) / 1024,
                "main_file": max([r["main_file_peak_kib"] for r in rs]) / 1024,
                "wr": med([r["write_bytes"] / max(1, r["uploads"]) for r in good]) / MiB,
                "cx": med([r["cancelled_write_bytes"] / max(1, r["uploads"]) for r in good]) / MiB,
                "others": med([r["others_cpu_pct"] for r in rs if r["others_cpu_pct"] != ""]),
                "send": med([r["send_seconds"] for r in good if r["send_seconds"] != ""]) if wl.key == "req4x20" else None,
            }
            if wl.metric == "ups":
                st["mbps"] = st["ups"] * MiB / 1e6
                st["cost"] = 1 / st["ups"] if st["ups"] else float("nan")  # seconds per upload, for ratios
            else:
                st["mbps"] = wl.payload_bytes / st["med"] / 1e6 if st["med"] else float("nan")
                st["cost"] = st["med"]
            s[(wl.key, c.key)] = st
    return s


def fmt(x, nd=2):
    if x is None or (isinstance(x, float) and x != x):
        return "–"
    return f"{x:.{nd}f}"


def table(s, workloads):
    out = []
    for wl in workloads:
        out.append(f"\n### {wl.key}: {wl.title}\n")
        if wl.metric == "ups":
            out.append("| server | uploads/s (median) | min–max uploads/s | MB/s | × sink (time/upload) | × FastAPI (speed-up) "
                       "| server CPU s | peak RSS MiB (anon / file) | disk write MiB/upload (cancelled) | others' CPU % | verified |")
        else:
            out.append("| server | median s | min–max s | MB/s | × sink (time) | × FastAPI (speed-up) "
                       "| server CPU s | peak RSS MiB (anon / file) | disk write MiB/upload (cancelled) | others' CPU % | verified |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        sink = s.get((wl.key, "sink"))
        fa = s.get((wl.key, "fastapi"))
        for c in wl.contestants:
            st = s.get((wl.key, c.key))
            if st is None:
                continue
            xs = st["cost"] / sink["cost"] if sink and sink["cost"] else None
            xf = fa["cost"] / st["cost"] if fa and st["cost"] else None
            cpu = fmt(st["cpu"])
            if st["cpu_ug"] is not None:
                cpu += f" (uploadgate {fmt(st['cpu_ug'])})"
            if wl.metric == "ups":
                main = f"{fmt(st['ups'], 1)} | {fmt(st['ups_min'], 1)}–{fmt(st['ups_max'], 1)}"
            else:
                main = f"{fmt(st['med'], 3)} | {fmt(st['min'], 3)}–{fmt(st['max'], 3)}"
            out.append(
                f"| {st['label']} | {main} | {fmt(st['mbps'], 0)} | {fmt(xs)} | {fmt(xf)} | {cpu} "
                f"| {fmt(st['rss'], 0)} ({fmt(st['anon'], 0)} / {fmt(st['file'], 0)}) | {fmt(st['wr'], 1)} ({fmt(st['cx'], 1)}) "
                f"| {fmt(st['others'], 0)} | {st['ok']}/{st['n']} |"
            )
        if wl.key == "req4x20":
            sends = [f"{s[(wl.key, c.key)]['label']} {fmt(s[(wl.key, c.key)]['send'], 3)} s" for c in wl.contestants
                     if (wl.key, c.key) in s]
            out.append("\nThe client builds the whole multipart body in memory first (that is most of its time); "
                       "Session.send alone (the HTTP exchange), median: " + ", ".join(sends) + ".")
    return "\n".join(out)


def hash_floor(sk, sha_bps):
    """(floor ratio, explanation) for a sink stats dict: the sink run's CPU (server + client) plus SHA-256 over the
    payload at the measured speed, relative to the sink's CPU - the least extra time uploadgate needs if the sink's
    run kept every CPU busy. None when the speed or the sink's CPU is unknown."""
    cpu, wall = sk["cpu_all"], sk["med"]
    if not sha_bps or not cpu or cpu != cpu or not wall or wall != wall:
        return None
    sha_cpu = sk["payload"] / sha_bps
    return ((cpu + sha_cpu) / cpu,
            f"sink run used {100 * cpu / (wall * NCPU):.0f} % of {NCPU} CPUs; SHA-256 of the payload at {sha_bps / 1e9:.2f} GB/s "
            f"adds {sha_cpu:.3f} s CPU to the sink run's {cpu:.2f} s of server + client CPU")


def targets(s, sha_bps=None):
    res = []

    def ratio(a, b):
        return a / b if a and b and a == a and b == b else float("nan")

    def measured_floor(key, metric):
        """The sink + SHA-256 run against the sink's: the floor hashing sets, measured rather than computed."""
        sh, sk = s.get((key, "sink-sha256")), s.get((key, "sink"))
        if not (sh and sk and sh["ok"]):
            return ""
        if metric == "ups":
            return f"; measured floor: C sink + SHA-256 {100 * ratio(sh['ups'], sk['ups']):.0f} % ({sh['ups']:.1f} uploads/s)"
        return f"; measured floor: C sink + SHA-256 {ratio(sh['med'], sk['med']):.2f} × ({sh['med']:.3f} s)"

    ug, sk = s.get(("par4x20", "uploadgate")), s.get(("par4x20", "sink"))
    if ug and sk:
        r = ratio(ug["med"], sk["med"])
        fl = hash_floor(sk, sha_bps)
        floor = measured_floor("par4x20", "time") + (f"; hash floor ≈ {fl[0]:.2f} × ({fl[1]})" if fl else "")
        res.append((f"4 × {FILE_MIB} MiB parallel: uploadgate ≤ 1.3 × sink", r <= 1.3,
                    f"{r:.2f} × sink ({ug['med']:.3f} s vs {sk['med']:.3f} s){floor}"))
    ug, sk = s.get(("big", "uploadgate")), s.get(("big", "sink"))
    if ug and sk:
        r = ratio(ug["med"], sk["med"])
        res.append((f"{BIG_MIB} MiB: uploadgate ≤ 2.2 × sink", r <= 2.2, f"{r:.2f} × sink ({ug['med']:.3f} s vs {sk['med']:.3f} s)"))
        res.append((f"{BIG_MIB} MiB: uploadgate peak RSS ≤ 64 MiB", ug["main_rss"] <= 64,
                    f"uploadgate process peak VmRSS {ug['main_rss']:.0f} MiB (RssAnon peak {ug['main_anon']:.0f}, RssFile peak "
                    f"{ug['main_file']:.0f}); with its manifest app {ug['rss']:.0f} MiB"))
    ug, sk = s.get(("h2load64", "uploadgate")), s.get(("h2load64", "sink"))
    if ug and sk:
        r = ratio(ug["ups"], sk["ups"])
        fl = hash_floor(sk, sha_bps)  # more CPU time per upload: at most 1/floor of the sink's uploads/s
        floor = measured_floor("h2load64", "ups") + (
            f"; hash floor ≈ {100 / fl[0]:.0f} % of the sink's uploads/s ({fl[1]})" if fl else "")
        res.append((f"{H2LOAD_C} concurrent 1 MiB uploads: uploadgate ≥ 90 % of sink uploads/s", r >= 0.9,
                    f"{100 * r:.0f} % ({ug['ups']:.1f} vs {sk['ups']:.1f} uploads/s){floor}"))
    h2, h1, h1c = s.get(("mux4x20", "uploadgate-h2c")), s.get(("mux4x20", "uploadgate")), s.get(("par4x20", "uploadgate"))
    ng2 = s.get(("mux4x20", "nginx-h2c"))
    if h2 and h1:
        r = ratio(h2["med"], h1["med"])
        extra = f"; vs the 4-curl HTTP/1.1 figure: {ratio(h2['med'], h1c['med']):.2f} ×" if h1c else ""
        if ng2 and ng2["ok"]:  # the same h2load run against nginx: how fast this client can push h2c bodies
            extra += f"; nginx h2c (same client): {ng2['med']:.3f} s"
        res.append((f"h2c 4 × {FILE_MIB} MiB on one connection ≤ 1.5 × HTTP/1.1 (same client, h2load, 4 connections)", r <= 1.5,
                    f"{r:.2f} × ({h2['med']:.3f} s vs {h1['med']:.3f} s){extra}"))
    return res


def h2c_curl_lines(s):
    """h2c with curl, one upload per connection (`curl --http2-prior-knowledge`): reported, no target."""
    out = []
    for key, what in (("par4x20", f"4 × {FILE_MIB} MiB, 4 curl processes"), ("big", f"one {BIG_MIB} MiB file")):
        parts = []
        for name, label in (("uploadgate", "uploadgate"), ("nginx", "nginx (reference)")):
            h2, h1 = s.get((key, name + "-h2c")), s.get((key, name))
            if h2 and h1 and h2["ok"] and h1["ok"]:
                parts.append(f"{label} {h2['med']:.3f} s = {h2['med'] / h1['med']:.2f} × its HTTP/1.1 {h1['med']:.3f} s")
        if parts:
            out.append(f"- {what}: " + "; ".join(parts))
    return out


# One distinct colour per series: gnuplot's default set has 8 and the chart has more series than that.
COLORS = ["#1f77b4", "#17becf", "#aec7e8", "#ff7f0e", "#bcbd22", "#2ca02c", "#98df8a", "#7f7f7f", "#000000"]


def chart(s, workloads, path: Path):
    order = ["uploadgate", "uploadgate-h2c", "stream", "fastapi", "aiohttp", "nginx", "nginx-h2c", "sink-sha256", "sink"]
    names = {"uploadgate": "uploadgate", "uploadgate-h2c": "uploadgate h2c", "stream": "streaming prototype",
             "fastapi": "FastAPI direct", "aiohttp": "aiohttp direct", "nginx": "nginx (raw)", "nginx-h2c": "nginx (raw) h2c",
             "sink-sha256": "C sink + SHA-256", "sink": "C sink (raw)"}
    dat = path.with_suffix(".dat")
    with open(dat, "w") as f:
        f.write("workload " + " ".join(f'"{names[k]}"' for k in order) + "\n")
        for wl in workloads:
            vals = []
            for k in order:
                st = s.get((wl.key, k))
                vals.append(f"{st['mbps']:.1f}" if st and st["mbps"] == st["mbps"] else "-")
            f.write(f'"{wl.key}" ' + " ".join(vals) + "\n")
    gp = f"""set terminal pngcairo size 1100,600 font "sans,10"
set output "{path}"
set title "Upload throughput, MB/s (payload bytes / median time; higher is better) — {'QUICK' if QUICK else f'N={REPS}'}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing "-"
set key below horizontal
set ylabel "MB/s"
set yrange [0:*]
set grid ytics
colors = "{' '.join(COLORS[:len(order)])}"
plot for [i=2:{len(order) + 1}] "{dat}" using i:xtic(1) title columnhead(i) linecolor rgb word(colors, i - 1)
"""
    r = subprocess.run(["gnuplot"], input=gp.encode(), capture_output=True, timeout=60)
    if r.returncode != 0 or not path.exists():
        # pngcairo may be missing from gnuplot-nox builds: fall back to the plain png terminal
        gp = gp.replace('pngcairo size 1100,600 font "sans,10"', "png size 1100,600")
        r = subprocess.run(["gnuplot"], input=gp.encode(), capture_output=True, timeout=60)
    dat.unlink(missing_ok=True)
    if r.returncode != 0:
        log("gnuplot failed: " + r.stderr.decode()[-400:])


# --------------------------------------------------------------------------
# callgrind on the driver
# --------------------------------------------------------------------------


def callgrind():
    d = WORK / "cg-store"
    d.mkdir(exist_ok=True)
    drv = BIN / "parse_hash_driver"
    native = subprocess.run([str(drv), str(d), str(CG_MIB), "0", "3"], capture_output=True, text=True, timeout=300)
    out = WORK / "callgrind.out"
    r = subprocess.run(
        ["valgrind", "--tool=callgrind", "--toggle-collect=bench_run", f"--callgrind-out-file={out}", str(drv), str(d), str(CG_MIB), "0", "1"],
        capture_output=True, text=True, timeout=900,
    )
    total = None
    if out.exists():
        for line in out.read_text(errors="replace").splitlines():
            if line.startswith("totals:") or line.startswith("summary:"):
                total = int(line.split()[1])
    def annotate(*args):
        text = subprocess.run(["callgrind_annotate", "--auto=no", *args, str(out)], capture_output=True, text=True,
                              timeout=120).stdout
        rows = []
        for line in text.splitlines():
            m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S.*)", line)
            if m and "PROGRAM TOTALS" not in line:
                rows.append((int(m.group(1).replace(",", "")), float(m.group(2)), m.group(3)))
        return rows

    keep = ("bench_run", "ug_upload_start", "ug_upload_feed", "ug_multipart_feed", "on_part_data", "ug_storage_file_write",
            "SHA256_Update", "memchr", "writev", "ug_upload_finish", "ug_upload_abort", "scan_body")
    top = [("self", *r) for r in annotate("--threshold=99.9")[:6]]
    seen = set()
    for ir, pct, name in annotate("--inclusive=yes", "--threshold=100"):
        fn = name.split(" [")[0]
        fn = fn.rsplit(":", 1)[-1] if ":" in fn else fn
        if any(k in fn for k in keep) and fn not in seen:  # the same function may be listed under two source paths
            seen.add(fn)
            top.append(("incl", ir, pct, fn))
    ok = r.returncode == 0 and '"digests_match": true' in r.stdout
    return {"total": total, "bytes": CG_MIB * MiB, "ok": ok, "native": native.stdout.strip().splitlines(), "top": top[:24],
            "stderr": r.stderr[-300:] if not ok else ""}


# --------------------------------------------------------------------------
# optional: perf profile of uploadgate (PROFILE=1)
# --------------------------------------------------------------------------


def profile(ug: Uploadgate, workloads, data, sampler):
    """perf record (cpu-clock, kernel+user call graphs) and a kernel-stack sampler (stacks.py: on-CPU, runnable and
    blocked time) on uploadgate while it serves each target workload once more; reports in RESULTS/profile/."""
    prof = RESULTS / "profile"
    prof.mkdir(parents=True, exist_ok=True)
    for wl in workloads:
        if wl.key not in ("par4x20", "mux4x20", "big", "h2load64"):
            continue
        for c in wl.contestants:
            if c.server is not ug:
                continue
            tag = f"{wl.key}-{c.key}"
            pdata = WORK / f"perf-{tag}.data"
            p = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "1999", "-g", "-o", str(pdata), "-p", str(ug.ug_pid)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            STARTED.append(("perf", p))
            deadline = time.monotonic() + 10  # perf has attached once it has written its header
            while time.monotonic() < deadline and p.poll() is None and not (pdata.exists() and pdata.stat().st_size > 0):
                time.sleep(0.02)
            st = subprocess.Popen([PY, str(HERE / "stacks.py"), str(ug.ug_pid), "600", "0.005"], stdout=subprocess.PIPE, text=True)
            STARTED.append(("stacks", st))
            row = one_run(wl, c, 0, data, sampler)
            st.send_signal(signal.SIGINT)
            p.send_signal(signal.SIGINT)
            p.wait(timeout=120)
            try:
                stacks_out = st.communicate(timeout=30)[0]
            except subprocess.TimeoutExpired:
                st.kill()
                stacks_out = ""
            head = f"# uploadgate, {wl.title} [{c.label}]: {row['seconds']} s, CPU {row['cpu_uploadgate_s']} s\n"
            flat = subprocess.run(["perf", "report", "-i", str(pdata), "--stdio", "--no-children", "--sort", "dso,sym", "-g", "none",
                                   "--percent-limit", "0.7"], capture_output=True, text=True, timeout=600).stdout
            tree_ = subprocess.run(["perf", "report", "-i", str(pdata), "--stdio", "--children", "--sort", "sym", "-g", "none",
                                    "--percent-limit", "2"], capture_output=True, text=True, timeout=600).stdout
            (prof / f"{tag}.txt").write_text(head + "\n## perf, self time by symbol (cpu-clock samples)\n" + flat
                                             + "\n## perf, with children (inclusive)\n" + tree_
                                             + "\n## thread states and kernel stacks (stacks.py)\n" + stacks_out)
            log(f"  profile written: {prof}/{tag}.txt ({row['seconds']} s)")


# --------------------------------------------------------------------------


def sha256_speed():
    """The host's SHA-256 speed in bytes/s (openssl speed, 64 KiB blocks, one core), or None: the CPU floor of
    the targets is what hashing every payload byte costs uploadgate on top of what the sink does."""
    try:
        r = subprocess.run(["openssl", "speed", "-evp", "sha256", "-bytes", "65536", "-seconds", "2"],
                           capture_output=True, text=True, timeout=60)
        last = r.stdout.strip().splitlines()[-1]  # "sha256   1563754.50k": 1000s of bytes/s for the 65536-byte column
        return float(last.split()[-1].rstrip("k")) * 1000 if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return None


def main() -> int:
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    log(f"bench: N={REPS} QUICK={int(QUICK)} file={FILE_MIB} MiB big={BIG_MIB} MiB h2load -c {H2LOAD_C} -n {H2LOAD_N} work={WORK}")
    log("bench: generating deterministic data ...")
    data = Data(WORK / "data")
    os.sync()  # the generated data must not be written back during the measured runs
    sha_bps = sha256_speed()  # measured before the servers start: nothing of ours competes for the CPU
    log(f"bench: SHA-256 (openssl speed): {sha_bps / 1e9:.2f} GB/s" if sha_bps else "bench: openssl speed failed: no hash floor")
    store = WORK / "store"
    servers = [Uploadgate(store / "uploadgate"), FastAPIDirect(store / "fastapi"), AiohttpDirect(store / "aiohttp"),
               Nginx(store / "nginx"), Sink(store / "sink"), StreamPrototype(store / "stream"),
               SinkSha256(store / "sink-sha256")]
    all_workloads = build_workloads(servers, data)  # contestants resolve their URLs at run time
    names, keys = {s.name for s in servers}, {wl.key for wl in all_workloads}
    if ONLY_SERVERS - names or ONLY_WORKLOADS - keys:
        log(f"bench: unknown in ONLY_SERVERS/ONLY_WORKLOADS: {sorted((ONLY_SERVERS - names) | (ONLY_WORKLOADS - keys))}; "
            f"servers: {sorted(names)}, workloads: {sorted(keys)}")
        return 2
    chosen = [s for s in servers if not ONLY_SERVERS or s.name in ONLY_SERVERS]
    try:
        for s in chosen:
            s.launch()
            log(f"bench: {s.label} ready on port {s.port} (pids {tree(s.roots)})")
        sampler = Sampler()
        workloads = [wl for wl in all_workloads if not ONLY_WORKLOADS or wl.key in ONLY_WORKLOADS]
        for wl in workloads:
            wl.contestants = [c for c in wl.contestants if c.server in chosen]
        rows = []
        for wl in workloads:
            log(f"bench: {wl.key}: {wl.title} (at {time.monotonic() - t_start:.0f} s)")
            # One unrecorded round first: a workload's first run pays for connection pools, lazily started threads
            # and the apps' first requests (rep 1 was the slowest for every server, by up to 1.5 x).
            warm = [one_run(wl, c, 0, data, sampler) for c in wl.contestants]
            log("  warm-up: " + "  ".join(f"{c.key}={r['seconds']:.3f}s" for c, r in zip(wl.contestants, warm)))
            for rep in range(1, REPS + 1):
                line = []
                # Rotated each repetition, so no server always runs first (right after the previous round's last
                # run and its file deletions) or always follows the same neighbour.
                k = (rep - 1) % len(wl.contestants)
                for c in wl.contestants[k:] + wl.contestants[:k]:
                    row = one_run(wl, c, rep, data, sampler)
                    rows.append(row)
                    v = f"{row['uploads_per_s']:.1f}/s" if wl.metric == "ups" else f"{row['seconds']:.3f}s"
                    line.append(f"{c.key}={v}{'' if row['verified'] == 'yes' else ' [NOT VERIFIED: ' + row['note'] + ']'}")
                log(f"  rep {rep}: " + "  ".join(line))
        if PROFILE and servers[0] in chosen:
            log("bench: PROFILE=1: perf record on uploadgate ...")
            profile(servers[0], workloads, data, sampler)
    finally:
        stop_all()
    if SUBSET:
        cg = {"total": None, "stderr": "skipped: a subset run (ONLY_SERVERS / ONLY_WORKLOADS)"}
    else:
        log("bench: callgrind on parse_hash_driver ...")
        try:
            cg = callgrind()
        except Exception as e:  # never lose the measured runs to the instruction count
            cg = {"total": None, "stderr": repr(e)}

    with open(RESULTS / "runs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    s = summarize(rows, workloads)
    tg = targets(s, sha_bps)
    chart(s, workloads, RESULTS / "chart.png")
    elapsed = time.monotonic() - t_start

    md = []
    md.append("# uploadgate upload benchmark\n")
    md.append(f"Command: `{os.environ.get('BENCH_COMMAND', 'tests/bench/run.sh')}` — "
              f"{'QUICK smoke run' if QUICK else 'default run'}, N = {REPS} interleaved repetitions, "
              f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {elapsed:.0f} s.\n")
    md.append(f"Machine: {platform.node()}, {os.cpu_count()} CPUs ({cpu_model()}), kernel {platform.release()}; "
              f"storage on {fs_of(WORK)}: {os.environ.get('BENCH_FS_NOTE', 'the BENCH_WORK given')}; everything on 127.0.0.1; "
              + (f"{os.environ['BENCH_VM_NOTE']}. " if os.environ.get("BENCH_VM_NOTE") else "")  # one entry: main() prints md[4:]
              + (f"SHA-256 speed: {sha_bps / 1e9:.2f} GB/s (`openssl speed -evp sha256 -bytes 65536`, one core, before the runs).\n"
                 if sha_bps else "SHA-256 speed: not measured (openssl speed failed).\n"))
    md.append(versions())
    md.append(f"uploadgate under test: {os.environ.get('BENCH_UG_INFO', str(UG_BINARY))}.\n")
    md.append("\nMedians over the verified runs. MB/s = payload bytes (file contents, 10^6) / median seconds. "
              "× sink = median time / the sink's (for h2load: seconds per upload, i.e. sink uploads/s ÷ server uploads/s); "
              "× FastAPI = FastAPI's median time / this server's (speed-up). Server CPU = utime+stime of the server's whole process "
              "tree over the run (uploadgate's includes its manifest app; the uploadgate-only part in brackets). Peak RSS = "
              "highest summed VmRSS of the tree sampled every 10 ms, max over the runs, with the separate peaks of RssAnon and "
              "RssFile (mmapped files, e.g. h2o's spool). Others' CPU % = user+system CPU time of the machine during the run "
              "minus the server's, the benchmark's own (clients, sampler) and the kernel threads', as % of all CPUs: what "
              "other processes (e.g. other builds, tests or fuzzers on the host) took; high values mean the "
              "figures are disturbed (tick-based: about ±20 % noise for runs shorter than 1 s). Disk write = /proc/<pid>/io write_bytes delta per upload (bytes the "
              "processes dirtied in the page cache for files), with cancelled_write_bytes (dirty data truncated before "
              "writeback, e.g. the unlinked spool file) in brackets. nginx and the sink store the raw body (they parse nothing); "
              "C sink + SHA-256 is the same sink hashing every body byte with OpenSSL's EVP SHA-256 before writing it (its "
              "replies carry the digest, checked like the stored bytes): the least any server that reports each upload's "
              "sha256 must do; the streaming prototype is sink.c "
              "feeding every socket read to uploadgate's own pipeline (libugcore: multipart parse, sha256, store, manifest) "
              "without spool and without the app round trip - an estimate of the planned streaming HTTP/1.1 front; "
              "h2c rows: uploadgate, and in par4x20, mux4x20 and big also nginx (a `listen … http2` port of its own, same "
              "body storing) as a reference for what the same client achieves against another server over h2c; curl "
              "runs one upload per connection over h2c (Debian 12's curl 7.88.1 cannot reuse a prior-knowledge h2c "
              "connection, curl/curl#10634); the sink does not speak h2c, and neither does uvicorn (FastAPI) or aiohttp.\n")
    md.append(table(s, workloads))
    md.append("\n\n## Targets\n")
    for name, ok, detail in tg:
        md.append(f"- **{'PASS' if ok else 'FAIL'}** {name}: {detail}")
    if sha_bps:
        md.append("\nHash floor: the sink's run CPU (server + client, median) plus SHA-256 over every payload byte at the "
                  "measured speed, relative to the sink's CPU. uploadgate must hash every byte, the sink hashes none, and "
                  f"the client and the servers share the {NCPU} CPUs. It bounds uploadgate's time from below only when the "
                  "sink's run kept all CPUs busy (so extra CPU work means extra wall time); with idle CPU the hashing can "
                  "overlap and the floor says little. It ignores everything but SHA-256 (multipart parsing, the manifest "
                  "round trip, per-upload file creation), so the real floor is higher. The measured floor is the C sink + "
                  "SHA-256 row of the same run: the sink doing that hashing for real, on the same CPUs as its client.")
    h2c = h2c_curl_lines(s)
    if h2c:
        md.append("\n## h2c with curl (`--http2-prior-knowledge`; reported, no target)\n")
        md += h2c
    md.append("\n## Callgrind: parse + sha256 + store of a fixed multipart body (tests/bench/parse_hash_driver.c)\n")
    if cg["total"]:
        md.append(f"- {CG_MIB} MiB body, 4 file parts, fed in one call (as src/server/handler.c does): **{cg['total']:,} Ir** "
                  f"({cg['total'] / cg['bytes']:.2f} Ir/byte), digests {'match' if cg['ok'] else 'DO NOT match'}")
        md.append("- valgrind's CPU has no SHA extensions, so OpenSSL runs its AVX2 SHA-256 there; natively this CPU uses SHA-NI.")
        md.append("- Native runs of the same driver (wall time, 3 repetitions): " + "; ".join(
            f"{json.loads(l)['seconds']:.3f} s ({json.loads(l)['MBps']:.0f} MB/s)" for l in cg["native"] if l.startswith("{")))
        md.append("\n| Ir | % | self / inclusive | function |\n|---:|---:|---|---|")
        for kind, ir, pct, fn in cg["top"]:
            md.append(f"| {ir:,} | {pct:.2f} | {kind} | `{fn.split(' [')[0][-90:]}` |")
    else:
        md.append(f"- no count: {cg['stderr']}")
    md.append("\n![throughput chart](chart.png)\n")
    (RESULTS / "results.md").write_text("\n".join(md) + "\n")

    print("\n".join(md[4:]))
    print(f"\nbench: results in {RESULTS}/results.md, runs.csv, chart.png ({elapsed:.0f} s)")
    bad = [r for r in rows if r["verified"] != "yes"]
    if bad:
        print(f"bench: {len(bad)} run(s) NOT verified", file=sys.stderr)
        return 1
    return 0


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def fs_of(p: Path) -> str:
    """"ext4 /dev/vda (no journal)": the filesystem type and device under p, and for ext4 whether it journals (without a
    journal, ext4 skips inodes deleted in the last minutes at every allocation: see run.sh, BENCH_FS)."""
    r = subprocess.run(["df", "--output=fstype,source", str(p)], capture_output=True, text=True)
    words = r.stdout.split()[2:]
    if len(words) != 2:
        return "?"
    fstype, source = words
    try:
        task = Path("/sys/fs/ext4", Path(source).name, "journal_task").read_text().strip() if fstype == "ext4" else ""
    except OSError:
        task = ""
    return f"{fstype} {source}" + (" (no journal)" if task == "<none>" else " (journal)" if task else "")


def versions() -> str:
    def dpkg(p):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", p], capture_output=True, text=True)
        return r.stdout or "?"

    pk = ["libh2o-evloop0.13", "nginx-light", "python3-fastapi", "python3-uvicorn", "python3-aiohttp", "python3-uvloop",
          "python3-httptools", "python3-multipart", "curl", "nghttp2-client"]
    return "Versions: " + ", ".join(f"{p} {dpkg(p)}" for p in pk) + ".\n"


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        stop_all()
