"""What the object store itself spends on one upload, by part size: the CPU seconds of Swift's servers (proxy, object,
container, account) for one file sent straight into Swift with boto3, as one PutObject and as multipart uploads of
each part size, with no uploadgate in the way.

Why: a multipart upload costs the store work per part (s3api checks the upload exists, writes a segment object, updates
the segments container; a manifest at the end) on top of the bytes. On a host where the store shares the CPUs with
uploadgate and the client (tests/bench/s3.sh), that per-part cost is CPU uploadgate's path cannot have, and it is what
decides how part_size trades memory (part_size x (parts_in_flight + 1) per upload) for throughput.

  /usr/bin/python3 tests/bench/s3_store_parts.py SWIFT_DIR FILE [PART_MIB ...]   (default part sizes: 8 16 32 64)

SWIFT_DIR: a running tests/storage/swift.sh cluster (its env and run/*.pid). Prints a Markdown table: per upload, the
elapsed seconds (boto3's pace as much as the store's), the store's CPU seconds (all its servers, and the proxy and
object server apart), the store's CPU seconds beyond the PutObject's, and those per part beyond the first. Each multipart upload sends parts_in_flight (IN_FLIGHT, default 4) parts at
once; every object is deleted after its row. The client's own CPU (boto3 hashing each part for its payload header) is
not counted: only the store's.
"""

from __future__ import annotations

import glob
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

TICK = os.sysconf("SC_CLK_TCK")
MiB = 1024 * 1024


def env(swift_dir: str) -> dict:
    out = {}
    with open(os.path.join(swift_dir, "env")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            out[k] = v
    return out


def store_cpu(swift_dir: str) -> dict:
    """CPU seconds so far of each of the store's servers (memcached left out: it is not Swift's work per byte)."""
    out = {}
    for pid_file in glob.glob(os.path.join(swift_dir, "run", "*.pid")):
        name = os.path.basename(pid_file)[: -len(".pid")]
        if name.startswith("memcached"):
            continue
        with open(pid_file) as f:
            pid = f.read().strip()
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        out[name] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def main() -> None:
    swift_dir, path = sys.argv[1], sys.argv[2]
    part_mibs = [int(a) for a in sys.argv[3:]] or [8, 16, 32, 64]
    in_flight = int(os.environ.get("IN_FLIGHT", "4"))
    e = env(swift_dir)
    s3 = boto3.client("s3", endpoint_url=e["S3_ENDPOINT"], region_name=e["S3_REGION"],
                      aws_access_key_id=e["S3_ACCESS_KEY"], aws_secret_access_key=e["S3_SECRET_KEY"],
                      config=Config(s3={"addressing_style": "path"}, max_pool_connections=in_flight + 1,
                                    retries={"max_attempts": 1}))
    bucket = e["S3_BUCKET"]
    data = open(path, "rb").read()
    size_mib = len(data) / MiB

    def put_object(key: str) -> int:
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        return 1

    def multipart(key: str, part: int) -> int:
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        spans = [(n + 1, off) for n, off in enumerate(range(0, len(data), part))]

        def send(span):
            number, off = span
            etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                  Body=data[off:off + part])["ETag"]
            return {"PartNumber": number, "ETag": etag}

        with ThreadPoolExecutor(in_flight) as pool:
            parts = list(pool.map(send, spans))
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
        return len(spans)

    rows = [("PutObject", lambda key: put_object(key))]
    rows += [(f"multipart, {m} MiB parts", lambda key, m=m: multipart(key, m * MiB)) for m in part_mibs]
    print(f"| {size_mib:.0f} MiB into the store | parts | elapsed (s) | store CPU-s | proxy | object server "
          "| beyond PutObject's | per extra part (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = None
    for n, (label, run) in enumerate(rows):
        key = f"bench-store-parts/{os.getpid()}-{n}"
        before = store_cpu(swift_dir)
        t0 = time.monotonic()
        parts = run(key)
        elapsed = time.monotonic() - t0
        after = store_cpu(swift_dir)
        s3.delete_object(Bucket=bucket, Key=key)
        spent = {k: after[k] - before.get(k, 0.0) for k in after}
        total = sum(spent.values())
        base = total if base is None else base
        per_part = f"{(total - base) * 1000 / (parts - 1):.0f}" if parts > 1 else "-"
        print(f"| {label} | {parts} | {elapsed:.3f} | {total:.2f} | {spent.get('proxy', 0.0):.2f} | "
              f"{spent.get('object', 0.0):.2f} | {total - base:+.2f} | {per_part} |", flush=True)


if __name__ == "__main__":
    main()
