"""A real S3 server for the tests (OpenStack Swift with s3api, started by tests/storage/swift.sh) and a
small assertion API on it through boto3, so what a test checks never depends on uploadgate's own signing.

    s3_server   session fixture: one Swift for the whole test session, stopped (by PID, via swift.sh stop)
                at its end; yields an S3Store
    S3Store     .endpoint .region .bucket .access_key .secret_key (from swift.sh's DIR/env)
                .client(secret_key=None)           a boto3 S3 client (path-style, SigV4)
                .put(key, data) / .get(key) -> bytes / .head(key) -> dict or None
                .list_objects(prefix) -> [key]     every key under prefix (all pages)
                .list_uploads(prefix) -> [(key, upload_id)]   incomplete multipart uploads under prefix
                .create_upload(key) -> upload_id / .abort_upload(key, upload_id)

Swift takes 15-60 s to start when the CPUs are busy, hence one per session. Tests share its one bucket, so
each test works under its own key prefix (unique_prefix()).
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from .util import REPO

SWIFT_SH = REPO / "tests" / "storage" / "swift.sh"
START_TIMEOUT = 300  # swift.sh bounds its own wait for readiness; this only bounds a hung script


def read_env(path: Path) -> Dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep:
            env[name.strip()] = value.strip()
    return env


class S3Store:
    def __init__(self, env: Dict[str, str], state_dir: Path):
        self.state_dir = state_dir
        self.endpoint = env["S3_ENDPOINT"]
        self.region = env["S3_REGION"]
        self.bucket = env["S3_BUCKET"]
        self.access_key = env["S3_ACCESS_KEY"]
        self.secret_key = env["S3_SECRET_KEY"]
        self.s3 = self.client()

    def client(self, secret_key: Optional[str] = None):
        cfg = botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                     retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60)
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name=self.region, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key if secret_key is None else secret_key, config=cfg)

    def put(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def head(self, key: str) -> Optional[dict]:
        try:
            return self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if e.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                return None
            raise

    def list_objects(self, prefix: str) -> List[str]:
        keys = []
        for page in self.s3.get_paginator("list_objects").paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def list_uploads(self, prefix: str) -> List[Tuple[str, str]]:
        uploads = []
        for page in self.s3.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix):
            uploads += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        return uploads

    def create_upload(self, key: str) -> str:
        return self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]

    def abort_upload(self, key: str, upload_id: str) -> None:
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)


def unique_prefix(name: str) -> str:
    return f"{name}/{uuid.uuid4().hex[:12]}/"


def swift_sh(command: str, state_dir: Path) -> None:
    done = subprocess.run([str(SWIFT_SH), command, str(state_dir)], capture_output=True, text=True,
                          timeout=START_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"swift.sh {command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("swift")
    try:
        swift_sh("start", state_dir)
        yield S3Store(read_env(state_dir / "env"), state_dir)
    finally:
        swift_sh("stop", state_dir)
