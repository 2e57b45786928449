"""Example FastAPI application behind uploadgate.

uploadgate stores every uploaded file on disk and sends this app a small JSON
*manifest* naming the stored files instead of the request body.  This app
shows what a backend does with it: validate the manifest, check each file
(exists, size, SHA-256), move it somewhere of its own and answer 201.
Everything else (``/api/*``, ``/health``) is an ordinary JSON API that
uploadgate passes through untouched.

Environment:
  UPLOADGATE_APP_DIR      the ``storage.app_dir`` prefix used in manifest paths
  UPLOADGATE_STORAGE_DIR  where that directory really is on this host
                          (both unset: manifest paths are used as they are)
  EXAMPLE_APP_DEST        where accepted files are moved (default ./received)
  EXAMPLE_APP_LOG         if set, one JSON line per received request is appended
                          to this file (used by the integration tests)
  SLOW_SECONDS            how long POST /slow sleeps (default 3)
  SLOW_STATUS             the status POST /slow then answers with (default 200)
  UPLOADGATE_SIGNING_KEY_FILE  if set, manifests must carry a valid
                          X-Uploadgate-Signature made with this key (the same
                          file as uploadgate's backend.signing_key_file)
  UPLOADGATE_SIGNATURE_MAX_AGE  seconds a signature stays acceptable (default 300)
  EXAMPLE_APP_S3_ENDPOINT if set, files stored as S3 objects (manifest "url": "s3://bucket/key", from a route with
                          `store: s3`) are read back from this endpoint with boto3 to check their size and SHA-256
                          (credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, region AWS_REGION, default
                          us-east-1). Unset: such files are accepted as the manifest describes them (the demo needs
                          no S3); they stay where they are either way.

Run:  python3 -m uvicorn app:app --app-dir deploy/example-app --host 127.0.0.1 --port 8000
Works with pydantic 1.10 (Debian 12) and pydantic 2.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import shutil
import time
from typing import Any, Dict, List, Optional, Union

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

HASH_CHUNK = 1 << 20
LOG_JSON_LIMIT = 1 << 20  # JSON bodies up to this size are parsed into the log entry
ID_RE = re.compile(r"^[0-9a-f]{32}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


# --------------------------------------------------------------------------
# The manifest (format version 1)
# --------------------------------------------------------------------------


class Client(BaseModel):
    address: str
    protocol: str


class ManifestField(BaseModel):
    name: str
    value: str


class ManifestFile(BaseModel):
    field: Optional[str] = None
    filename: Optional[str] = None
    content_type: Optional[str] = None
    path: Optional[str] = None  # null for an S3 object: see url
    size: int
    sha256: str
    url: Optional[str] = None  # "s3://bucket/key" for a file uploadgate stored as an S3 object
    bucket: Optional[str] = None
    key: Optional[str] = None
    etag: Optional[str] = None


class ManifestAuth(BaseModel):
    method: str
    subject: Optional[str] = None
    scopes: List[str] = []
    claims: Dict[str, Any] = {}


class Manifest(BaseModel):
    version: int
    id: str
    route: str
    method: str
    path: str
    received_at: str
    client: Client
    auth: Optional[ManifestAuth] = None
    fields: List[ManifestField] = []
    files: List[ManifestFile] = []


class ManifestError(Exception):
    """A check of the manifest or of a stored file failed (-> 422)."""


# --------------------------------------------------------------------------
# Request log for tests (pure ASGI middleware: sees every request, even those
# that FastAPI rejects, and logs it before any handler runs)
# --------------------------------------------------------------------------


class RequestLogMiddleware:
    def __init__(self, app, path: str):
        self.app = app
        self.path = path

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks = []
        disconnected = False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        self._log(scope, body, disconnected)

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed and not disconnected:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _log(self, scope, body: bytes, disconnected: bool) -> None:
        headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]
        path = scope.get("raw_path") or scope["path"].encode()
        target = path.decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        entry = {
            "time": time.time(),
            "method": scope["method"],
            "path": target,
            "http_version": scope.get("http_version"),
            "client": list(scope["client"]) if scope.get("client") else None,
            "headers": headers,
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "disconnected": disconnected,
        }
        ctype = next((v for k, v in headers if k == "content-type"), "")
        if ctype.split(";")[0].strip().lower() == "application/json" and len(body) <= LOG_JSON_LIMIT:
            try:
                entry["json"] = json.loads(body)
            except ValueError:
                entry["json_error"] = True
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one write(2) with O_APPEND: lines never interleave
        finally:
            os.close(fd)


# --------------------------------------------------------------------------
# The client's address, as uploadgate saw it
# --------------------------------------------------------------------------


def forwarded_client(headers) -> Optional[str]:
    """The last X-Forwarded-For entry: the peer uploadgate saw (it appends that
    address to whatever the client sent). Earlier entries come from the client
    or proxies before uploadgate and cannot be trusted. None without the header.

    `headers`: the ASGI scope's (name, value) byte pairs; several header lines
    count as one comma-separated list, in order."""
    values = [v.decode("latin-1") for k, v in headers if k.lower() == b"x-forwarded-for"]
    entries = [e.strip() for e in ",".join(values).split(",") if e.strip()]
    return entries[-1] if entries else None


class ForwardedClientMiddleware:
    """Sets the ASGI client to the address uploadgate saw, for this app's logs
    (uvicorn's access log and the request log read the same scope).

    uvicorn's own proxy-header handling cannot do this: it trusts 127.0.0.1 and
    skips trusted addresses, so a client on loopback came out as `None:0`. The
    app listens on loopback and is reached only through uploadgate, so the header
    is uploadgate's. The port is 0: uploadgate does not pass the client's port on."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            client = forwarded_client(scope["headers"])
            if client is not None:
                scope["client"] = (client, 0)  # in place: uvicorn's access log reads this dict
        await self.app(scope, receive, send)


app = FastAPI(title="uploadgate example app")
if os.environ.get("EXAMPLE_APP_LOG"):
    app.add_middleware(RequestLogMiddleware, path=os.environ["EXAMPLE_APP_LOG"])
# Added last = outermost (Starlette wraps in reverse order): the request log already sees the forwarded client.
app.add_middleware(ForwardedClientMiddleware)


# --------------------------------------------------------------------------
# Uploads (manifests from uploadgate)
# --------------------------------------------------------------------------


def _app_dir() -> Optional[str]:
    v = os.environ.get("UPLOADGATE_APP_DIR")
    return v.rstrip("/") or "/" if v else None


def _storage_dir() -> Optional[str]:
    v = os.environ.get("UPLOADGATE_STORAGE_DIR")
    return v.rstrip("/") or "/" if v else None


def local_path(manifest_path: str) -> str:
    """Map a manifest path (as the app sees the volume) to a path on this host.

    The result must lie inside the storage directory: a manifest is trusted
    only as far as that goes (it comes from uploadgate, but checking is cheap).
    """
    if not os.path.isabs(manifest_path):
        raise ManifestError(f"file path is not absolute: {manifest_path!r}")
    app_dir, storage_dir = _app_dir(), _storage_dir()
    path = manifest_path
    if app_dir and storage_dir:
        if not (path == app_dir or path.startswith(app_dir.rstrip("/") + "/")):
            raise ManifestError(f"file path is not under {app_dir}: {manifest_path!r}")
        path = storage_dir + path[len(app_dir):]
    root = storage_dir or app_dir
    real = os.path.realpath(path)
    if root:
        real_root = os.path.realpath(root)
        if os.path.commonpath([real, real_root]) != real_root:
            raise ManifestError(f"file path escapes the storage directory: {manifest_path!r}")
    return real


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(HASH_CHUNK)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def check_object(i: int, f: ManifestFile) -> None:
    """An S3 object named by the manifest: read back and checked when EXAMPLE_APP_S3_ENDPOINT is set."""
    if f.bucket is None or f.key is None or f.url != f"s3://{f.bucket}/{f.key}":
        raise ManifestError(f"files[{i}]: url, bucket and key disagree")
    endpoint = os.environ.get("EXAMPLE_APP_S3_ENDPOINT")
    if not endpoint:
        return
    import boto3  # only an app that reads objects back needs it
    import botocore.config
    import botocore.exceptions

    s3 = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"),
        config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    h = hashlib.sha256()
    size = 0
    try:
        body = s3.get_object(Bucket=f.bucket, Key=f.key)["Body"]
        for chunk in iter(lambda: body.read(1024 * 1024), b""):
            h.update(chunk)
            size += len(chunk)
    except botocore.exceptions.BotoCoreError as e:  # unreachable store
        raise ManifestError(f"files[{i}]: cannot read {f.url}: {e}")
    except botocore.exceptions.ClientError as e:  # the store refused (credentials, no such key)
        raise ManifestError(f"files[{i}]: cannot read {f.url}: {e.response['Error'].get('Code', 'error')}")
    if size != f.size:
        raise ManifestError(f"files[{i}]: object size is {size}, manifest says {f.size}")
    if h.hexdigest() != f.sha256:
        raise ManifestError(f"files[{i}]: object sha256 is {h.hexdigest()}, manifest says {f.sha256}")


def check_manifest(m: Manifest) -> List[Optional[str]]:
    """Check every file; returns the local paths in manifest order (None for an S3 object)."""
    if m.version != 1:
        raise ManifestError(f"unsupported manifest version {m.version}")
    if not ID_RE.match(m.id):
        raise ManifestError(f"invalid upload id {m.id!r}")
    paths = []
    for i, f in enumerate(m.files):
        if not SHA256_RE.match(f.sha256):
            raise ManifestError(f"files[{i}]: invalid sha256")
        if f.url is not None:
            check_object(i, f)
            paths.append(None)
            continue
        if f.path is None:
            raise ManifestError(f"files[{i}]: neither path nor url")
        p = local_path(f.path)
        if not os.path.isfile(p):
            raise ManifestError(f"files[{i}]: {f.path} does not exist")
        size = os.path.getsize(p)
        if size != f.size:
            raise ManifestError(f"files[{i}]: size is {size}, manifest says {f.size}")
        digest = sha256_file(p)
        if digest != f.sha256:
            raise ManifestError(f"files[{i}]: sha256 is {digest}, manifest says {f.sha256}")
        paths.append(p)
    return paths


def safe_name(name: Optional[str]) -> str:
    base = os.path.basename((name or "").replace("\\", "/"))
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    return base[:100] or "file"


def fields_dict(m: Manifest) -> Dict[str, Union[str, List[str]]]:
    out: Dict[str, Union[str, List[str]]] = {}
    for fld in m.fields:
        if fld.name in out:
            prev = out[fld.name]
            out[fld.name] = (prev if isinstance(prev, list) else [prev]) + [fld.value]
        else:
            out[fld.name] = fld.value
    return out


def accept_upload(m: Manifest) -> JSONResponse:
    try:
        paths = check_manifest(m)
    except ManifestError as e:
        return JSONResponse({"detail": str(e), "id": m.id}, status_code=422)
    fields = fields_dict(m)
    if "reject" in fields:  # lets tests make the app refuse a valid upload
        return JSONResponse({"detail": "rejected on request", "id": m.id}, status_code=422)

    dest = os.path.abspath(os.environ.get("EXAMPLE_APP_DEST", "received"))
    os.makedirs(dest, exist_ok=True)
    out = []
    for n, (f, src) in enumerate(zip(m.files, paths)):
        if src is None:  # an object stays in its bucket: the app keeps its URL
            out.append({"filename": f.filename, "size": f.size, "sha256": f.sha256, "stored_as": f.url})
            continue
        target = os.path.join(dest, f"{m.id}-{n}-{safe_name(f.filename)}")
        shutil.move(src, target)
        out.append({"filename": f.filename, "size": f.size, "sha256": f.sha256, "stored_as": target})
    # The upload directory <storage>/<id>/ is now empty: tidy it up.
    for d in {os.path.dirname(p) for p in paths if p is not None}:
        if os.path.basename(d) == m.id:
            try:
                os.rmdir(d)
            except OSError:
                pass
    return JSONResponse({"id": m.id, "files": out, "fields": fields}, status_code=201)


# --------------------------------------------------------------------------
# Manifest signature (X-Uploadgate-Signature: t=<unix>,v1=<hex HMAC-SHA256 over "<t>.<body>">)
# --------------------------------------------------------------------------


def _signing_key() -> Optional[bytes]:
    path = os.environ.get("UPLOADGATE_SIGNING_KEY_FILE")
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read().rstrip(b"\r\n")


async def verify_signature(request: Request) -> None:
    """Refuse a manifest that uploadgate did not sign, or signed too long ago (replay)."""
    key = _signing_key()
    if key is None:
        return
    header = request.headers.get("x-uploadgate-signature", "")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise HTTPException(status_code=401, detail="missing or malformed X-Uploadgate-Signature")
    max_age = int(os.environ.get("UPLOADGATE_SIGNATURE_MAX_AGE", "300"))
    if abs(time.time() - t) > max_age:
        raise HTTPException(status_code=401, detail="stale X-Uploadgate-Signature")
    body = await request.body()
    expected = hmac.new(key, str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise HTTPException(status_code=401, detail="bad X-Uploadgate-Signature")


@app.post("/upload", status_code=201, dependencies=[Depends(verify_signature)])
@app.put("/upload", status_code=201, dependencies=[Depends(verify_signature)])
def upload(manifest: Manifest):
    # A sync handler: FastAPI runs it in a thread pool, so hashing large files
    # does not block the event loop.
    return accept_upload(manifest)


@app.post("/files/{rest:path}", status_code=201, dependencies=[Depends(verify_signature)])
@app.put("/files/{rest:path}", status_code=201, dependencies=[Depends(verify_signature)])
def upload_files(rest: str, manifest: Manifest):
    return accept_upload(manifest)


@app.post("/upload-reject")
@app.put("/upload-reject")
def upload_reject(manifest: Manifest):
    return JSONResponse({"detail": "this endpoint rejects every upload", "id": manifest.id}, status_code=422)


@app.post("/slow")
@app.put("/slow")
async def slow():
    seconds = float(os.environ.get("SLOW_SECONDS", "3"))
    await asyncio.sleep(seconds)
    return JSONResponse({"slept": seconds}, status_code=int(os.environ.get("SLOW_STATUS", "200")))


# --------------------------------------------------------------------------
# Ordinary API (passed through by uploadgate)
# --------------------------------------------------------------------------

ITEMS = [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}]


@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/api/items")
def items():
    return JSONResponse({"items": ITEMS}, headers={"X-Example-App": "items", "Cache-Control": "no-store"})


@app.post("/api/echo")
async def echo(request: Request):
    body = await request.json()
    return JSONResponse(
        {
            "json": body,
            "method": request.method,
            "path": request.url.path,
            "query": str(request.url.query),
            "headers": {
                "x-test": request.headers.get("x-test"),
                "content-type": request.headers.get("content-type"),
                "content-length": request.headers.get("content-length"),
            },
        },
        status_code=200,
        headers={"X-Example-App": "echo", "X-Echo-Test": request.headers.get("x-test", "")},
    )


@app.get("/api/bytes/{n}")
def some_bytes(n: int):
    """n bytes of a fixed pattern (at most 64 MiB): a download that passes through uploadgate, streamed back to the
    client by h2o's proxy under HTTP/2 flow control."""
    if not 0 <= n <= 64 * 1024 * 1024:
        raise HTTPException(status_code=400, detail="n must be 0..64 MiB")
    pattern = bytes(range(256)) * 4096  # 1 MiB
    body = (pattern * (n // len(pattern) + 1))[:n]
    return Response(body, media_type="application/octet-stream", headers={"X-Example-App": "bytes"})


@app.get("/api/stream/{n}")
def stream_bytes(n: int, status: int = 200):
    """The same n bytes as /api/bytes/{n}, streamed without a Content-Length (uvicorn sends them chunked): the proxy
    in front has no length to pass on and must frame the response itself."""
    if not 0 <= n <= 64 * 1024 * 1024:
        raise HTTPException(status_code=400, detail="n must be 0..64 MiB")
    pattern = bytes(range(256)) * 256  # 64 KiB

    def pieces():
        left = n
        while left > 0:
            piece = pattern[:min(left, len(pattern))]
            left -= len(piece)
            yield piece

    return StreamingResponse(pieces(), status_code=status, media_type="application/octet-stream",
                             headers={"X-Example-App": "stream"})


@app.get("/api/status/{code}")
def status(code: int):
    return JSONResponse({"status": code}, status_code=code, headers={"X-Example-App": "status"})
