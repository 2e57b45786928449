"""FastAPI receiving the upload itself: the usual FastAPI upload code.

UploadFile (Starlette parses the multipart body with python-multipart into a
SpooledTemporaryFile: memory up to 1 MiB, then a temporary file in $TMPDIR), then
each file copied to its destination with aiofiles in 1 MiB chunks.

Env: BENCH_DEST - where files are written (one uuid-named file per part).
Run: /usr/bin/python3 -m uvicorn fastapi_direct:app --app-dir tests/bench/apps --loop uvloop --http httptools
"""

from __future__ import annotations

import os
import uuid
from typing import List

import aiofiles
from fastapi import FastAPI, File, UploadFile

DEST = os.environ["BENCH_DEST"]
CHUNK = 1 << 20

app = FastAPI()


@app.post("/upload")
async def upload(files: List[UploadFile] = File(...)):
    stored = []
    for f in files:
        path = os.path.join(DEST, uuid.uuid4().hex)
        size = 0
        async with aiofiles.open(path, "wb") as out:
            while True:
                chunk = await f.read(CHUNK)
                if not chunk:
                    break
                await out.write(chunk)
                size += len(chunk)
        await f.close()
        stored.append({"path": path, "size": size, "filename": f.filename})
    return {"files": stored}


@app.get("/health")
async def health():
    return {"ok": True}
