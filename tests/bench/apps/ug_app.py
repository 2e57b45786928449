"""The app behind uploadgate in the benchmark: it accepts the manifest and answers 200.

It validates the manifest with pydantic (the shape of config/manifest.schema.json,
version 1) and echoes each file's path, size and sha256, so the benchmark can check
the manifest against the data it sent. It does not touch the stored files: the
benchmark hashes them on disk and removes them between runs.

Run: /usr/bin/python3 -m uvicorn ug_app:app --app-dir tests/bench/apps --port PORT
"""

from __future__ import annotations

from typing import List, Optional

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel


class Client(BaseModel):
    address: str
    protocol: str


class Field(BaseModel):
    name: str
    value: str


class StoredFile(BaseModel):
    field: Optional[str] = None
    filename: Optional[str] = None
    content_type: Optional[str] = None
    path: Optional[str] = None  # null for an S3 object (route store: s3): url names it
    size: int
    sha256: str
    url: Optional[str] = None


class Manifest(BaseModel):
    version: int
    id: str
    route: str
    method: str
    path: str
    received_at: str
    client: Client
    fields: List[Field] = []
    files: List[StoredFile] = []


app = FastAPI()


@app.post("/upload")
async def upload(manifest: Manifest):
    if manifest.version != 1:
        raise HTTPException(status_code=400, detail="unsupported manifest version")
    return {
        "id": manifest.id,
        "protocol": manifest.client.protocol,
        "files": [{"path": f.path, "url": f.url, "size": f.size, "sha256": f.sha256} for f in manifest.files],
    }


@app.get("/health")
async def health():
    return {"ok": True}
