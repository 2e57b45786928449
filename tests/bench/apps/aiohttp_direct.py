"""aiohttp receiving the upload itself: request.multipart(), each part written in 1 MiB chunks.

Env: BENCH_DEST - where files are written (one uuid-named file per part).
Run: /usr/bin/python3 tests/bench/apps/aiohttp_direct.py PORT
(uses uvloop when it is installed, like uvicorn does for the FastAPI servers)
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

from aiohttp import web

DEST = os.environ["BENCH_DEST"]
CHUNK = 1 << 20


async def upload(request: web.Request) -> web.Response:
    reader = await request.multipart()
    stored = []
    while True:
        part = await reader.next()
        if part is None:
            break
        if part.filename is None:  # a plain field
            await part.release()
            continue
        path = os.path.join(DEST, uuid.uuid4().hex)
        size = 0
        with open(path, "wb") as out:
            while True:
                chunk = await part.read_chunk(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                size += len(chunk)
        stored.append({"path": path, "size": size, "filename": part.filename})
    return web.json_response({"files": stored})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def main() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    app = web.Application()
    app.router.add_post("/upload", upload)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
