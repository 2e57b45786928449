"""Self-test of the S3 test server (tests/storage/swift.sh, harness/s3store.py): the Swift it starts answers
the S3 calls uploadgate's object storage relies on, byte-exact, and refuses a bad signature.

It also runs tests/storage/s3_probe (built by CMake from the C S3 request layer, src/store/) against it: the
layer's signed requests are accepted, and what it uploaded reads back byte-exact through boto3."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from botocore.exceptions import ClientError

from harness import MiB, binary_path
from harness.s3store import unique_prefix

pytestmark = pytest.mark.peers

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


def test_s3_server_self_test_refuses_small_first_part(s3_server):
    """A part before the last under 5 MiB is refused at completion (so the probe's acceptance means something)."""
    prefix = unique_prefix("too-small")
    key = prefix + "small.bin"
    upload_id = s3_server.create_upload(key)
    etags = []
    for n in (1, 2):
        r = s3_server.s3.upload_part(Bucket=s3_server.bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=b"x")
        etags.append({"PartNumber": n, "ETag": r["ETag"]})
    with pytest.raises(ClientError) as e:
        s3_server.s3.complete_multipart_upload(Bucket=s3_server.bucket, Key=key, UploadId=upload_id,
                                               MultipartUpload={"Parts": etags})
    assert e.value.response["Error"]["Code"] == "EntityTooSmall"
    assert s3_server.head(key) is None
    s3_server.abort_upload(key, upload_id)
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


def probe_path():
    return binary_path().parent / "s3_probe"


def test_s3_layer_multipart_and_abort_against_server(s3_server, tmp_path):
    """The C layer's signed requests: initiate, 5 MiB + 1 byte parts, complete; initiate, abort."""
    probe = probe_path()
    assert probe.exists(), f"{probe} not built (cmake builds it with the unit tests)"
    prefix = unique_prefix("probe")
    key, abort_key = prefix + "dir/obj ect+1.bin", prefix + "aborted.bin"
    sent = tmp_path / "sent.bin"
    env = dict(os.environ, S3_ENDPOINT=s3_server.endpoint, S3_REGION=s3_server.region, S3_BUCKET=s3_server.bucket,
               S3_ACCESS_KEY=s3_server.access_key, S3_SECRET_KEY=s3_server.secret_key)
    done = subprocess.run([str(probe), str(sent), key, abort_key], env=env, capture_output=True, text=True,
                          timeout=120)
    out = done.stdout + done.stderr
    for refusal in ("SignatureDoesNotMatch", "BadDigest", "EntityTooSmall", "FAIL", "retry"):
        assert refusal not in out, out
    assert done.returncode == 0, out
    assert re.search(r'^completed .* etag="[0-9a-f]{32}-2"$', out, re.M), out
    data = sent.read_bytes()
    assert len(data) == PART + 1
    assert s3_server.get(key) == data
    assert s3_server.list_objects(prefix) == [key]
    assert s3_server.list_uploads(prefix) == []
