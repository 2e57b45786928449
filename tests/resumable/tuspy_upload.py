#!/usr/bin/python3
"""Uploads one file with tuspy (Debian's python3-tuspy, module `tusclient`) to a tus endpoint.

    /usr/bin/python3 tests/resumable/tuspy_upload.py --endpoint URL --file PATH [options]

  --chunk-size N      bytes per PATCH (default: the whole rest of the file)
  --header "N: V"     extra request header (repeatable); --token T adds "Authorization: Bearer T"
  --filename NAME     Upload-Metadata filename (default: the file's base name); --filetype TYPE; --meta K=V (repeatable)
  --store FILE        fingerprint -> upload URL store on disk (tuspy's FileStorage, a TinyDB file): a later run with
                      the same --store and file resumes the upload (HEAD for the offset, then PATCH from there)
  --resume-url URL    resume this upload URL
  --stop-after BYTES  stop once the server has acknowledged at least BYTES (whole chunks), print, exit 3
  --checksum          send Upload-Checksum (tuspy: "sha1 <base64>" per PATCH)
  --retries N         retries of a failed PATCH (tuspy re-reads the offset with HEAD first); --retry-delay SECONDS

tuspy speaks HTTP/1.1 through `requests`: for an https endpoint with a test certificate, REQUESTS_CA_BUNDLE=cert.pem.

Prints one JSON line: {"ok", "url", "bytes", "size", "elapsed", "status", "body", "resumed_offset", "error"}
("status"/"body": the last PATCH's response). Exit status: 0 done, 3 stopped by --stop-after, 1 failed, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.storage.filestorage import FileStorage

EXIT_STOPPED = 3


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint")
    p.add_argument("--file", required=True)
    p.add_argument("--chunk-size", type=int, default=None)
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--token")
    p.add_argument("--filename")
    p.add_argument("--filetype")
    p.add_argument("--meta", action="append", default=[])
    p.add_argument("--store")
    p.add_argument("--resume-url")
    p.add_argument("--stop-after", type=int, default=None)
    p.add_argument("--checksum", action="store_true")
    p.add_argument("--retries", type=int, default=0)
    p.add_argument("--retry-delay", type=float, default=0.2)
    a = p.parse_args(argv)
    if not (a.endpoint or a.resume_url):
        p.error("--endpoint or --resume-url is required")
    return a


def split_pairs(items, sep, what):
    out = {}
    for item in items:
        k, s, v = item.partition(sep)
        if not s or not k.strip():
            raise SystemExit(f"tuspy_upload: bad {what} {item!r}")
        out[k.strip()] = v.strip() if sep == ":" else v
    return out


def make_uploader(a):
    headers = split_pairs(a.header, ":", "--header")
    if a.token:
        headers["Authorization"] = f"Bearer {a.token}"
    metadata = {"filename": a.filename or os.path.basename(a.file)}
    if a.filetype:
        metadata["filetype"] = a.filetype
    metadata.update(split_pairs(a.meta, "=", "--meta"))
    kw = dict(file_path=a.file, metadata=metadata, retries=a.retries, retry_delay=a.retry_delay,
              upload_checksum=a.checksum)
    if a.chunk_size:
        kw["chunk_size"] = a.chunk_size
    if a.store:
        kw.update(store_url=True, url_storage=FileStorage(a.store))
    if a.resume_url:
        kw["url"] = a.resume_url
    # With a stored or given URL, the constructor asks the server for the offset (HEAD) before any PATCH.
    return tus_client.TusClient(a.endpoint or a.resume_url, headers=headers).uploader(**kw)


def main(argv) -> int:
    a = parse_args(argv)
    size = os.path.getsize(a.file)
    out = {"ok": False, "url": None, "bytes": 0, "size": size, "elapsed": 0.0, "status": None, "body": None}
    t0 = time.monotonic()
    code = 1
    up = None
    try:
        up = make_uploader(a)
        out["resumed_offset"] = up.offset if up.url else None
        target = size if a.stop_after is None else min(size, a.stop_after)
        while up.offset < target:
            up.upload_chunk()
        code = 0 if up.offset >= size else EXIT_STOPPED
        out["ok"] = code == 0
        out["stopped"] = code == EXIT_STOPPED
    except (TusCommunicationError, TusUploadFailed, OSError) as e:
        out["error"] = f"{type(e).__name__}: {e}"
        out["status"] = getattr(e, "status_code", None)
        body = getattr(e, "response_content", None)
        out["body"] = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if up is not None:
        out["url"] = up.url
        out["bytes"] = up.offset
        req = getattr(up, "request", None)
        if req is not None and out["status"] is None:
            out["status"] = req.status_code
            out["body"] = (req.response_content or b"").decode("utf-8", "replace")
    out["elapsed"] = time.monotonic() - t0
    print(json.dumps(out), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
