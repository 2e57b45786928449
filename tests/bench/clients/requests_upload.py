"""The report's client: one requests.post() with several files (requests builds the whole
multipart body in memory, then sends it).

  requests_upload.py URL FILE [FILE ...]

Prints one JSON line: status, seconds (requests.Request.prepare + Session.send, i.e. what
requests.post(url, files=...) does; interpreter start-up is not counted), send_seconds (the
Session.send part alone: the HTTP exchange once the body is built), the response
text, and the sha256 and size of the body it sent (to verify servers that store the raw body).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

import requests


def main() -> None:
    url, paths = sys.argv[1], sys.argv[2:]
    session = requests.Session()
    t0 = time.perf_counter()
    handles = [open(p, "rb") for p in paths]
    try:
        files = [("files", (os.path.basename(p), fh, "application/octet-stream")) for p, fh in zip(paths, handles)]
        prep = requests.Request("POST", url, files=files).prepare()
        t1 = time.perf_counter()
        res = session.send(prep, timeout=600)
        t2 = time.perf_counter()
        seconds, send_seconds = t2 - t0, t2 - t1
    finally:
        for fh in handles:
            fh.close()
    body = prep.body if isinstance(prep.body, bytes) else prep.body.encode()
    print(
        json.dumps(
            {
                "status": res.status_code,
                "seconds": seconds,
                "send_seconds": send_seconds,
                "text": res.text,
                "sent_sha256": hashlib.sha256(body).hexdigest(),
                "sent_size": len(body),
            }
        )
    )


if __name__ == "__main__":
    main()
