"""FastAPI receiving the upload itself and putting it into S3: the usual FastAPI + boto3 code.

UploadFile (Starlette parses the multipart body with python-multipart into a SpooledTemporaryFile: memory up to
1 MiB, then a temporary file in $TMPDIR), then each file sent to the bucket with boto3's upload_fileobj (a managed
multipart upload, run in a thread so the event loop is not blocked).

Env: S3_ENDPOINT, S3_REGION, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY (tests/storage/swift.sh's DIR/env), BENCH_PREFIX.
Run: /usr/bin/python3 -m uvicorn fastapi_s3:app --app-dir tests/bench/apps
"""

from __future__ import annotations

import os
import uuid
from typing import List

import boto3
import botocore.config
from fastapi import FastAPI, File, UploadFile
from starlette.concurrency import run_in_threadpool

BUCKET = os.environ["S3_BUCKET"]
PREFIX = os.environ.get("BENCH_PREFIX", "bench-fastapi/")
s3 = boto3.session.Session().client(
    "s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name=os.environ["S3_REGION"],
    aws_access_key_id=os.environ["S3_ACCESS_KEY"], aws_secret_access_key=os.environ["S3_SECRET_KEY"],
    config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}))

app = FastAPI()


@app.post("/upload")
async def upload(files: List[UploadFile] = File(...)):
    stored = []
    for f in files:
        key = f"{PREFIX}{uuid.uuid4().hex}"
        await run_in_threadpool(s3.upload_fileobj, f.file, BUCKET, key)
        await f.close()
        stored.append({"key": key, "filename": f.filename})
    return {"files": stored}
