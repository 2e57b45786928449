"""The S3 client engine (src/store/s3_client.h) on its own against the session's Swift (the `s3_server` fixture):
tests/storage/s3_client_probe streams stdin into an object through the engine, as an event loop would, and prints
the done JSON (bucket, key, etag, size, sha256) or the failure; what landed in the store is checked through boto3,
never through uploadgate's own signing.

Parts are 5 MiB here (the smallest S3 allows) so a multipart object stays small."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
from urllib.parse import urlparse

from harness import MiB, binary_path, wait_until
from harness.relay import Relay
from harness.s3store import unique_prefix

PART = 5 * MiB


def probe_path():
    return binary_path().parent / "s3_client_probe"


def run_probe(s3, args, data=b"", *, endpoint=None, secret=None, env_extra=None, timeout=120):
    probe = probe_path()
    assert probe.exists(), f"{probe} not built (cmake builds it with the unit tests)"
    env = dict(os.environ, S3_ENDPOINT=endpoint or s3.endpoint, S3_REGION=s3.region, S3_BUCKET=s3.bucket,
               AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=secret or s3.secret_key)
    env.pop("AWS_SESSION_TOKEN", None)
    env.update(env_extra or {})
    done = subprocess.run([str(probe)] + args, input=data, env=env, capture_output=True, timeout=timeout)
    out = done.stdout.decode()
    result = json.loads(out.splitlines()[-1]) if out.strip() else None
    return done.returncode, result, done.stderr.decode()


def patterned(n: int) -> bytes:
    """Not one repeated byte, and not 5 MiB-periodic: a part sent twice or out of order would show."""
    return (os.urandom(1 << 20) * (n // (1 << 20) + 1))[:n - 7] + b"-tail!\n"


def assert_stored(s3, key, data, result):
    assert result["key"] == key and result["bucket"] == s3.bucket
    assert result["size"] == len(data)
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert s3.get(key) == data
    assert s3.head(key)["ETag"] == result["etag"]


def test_s3_client_single_put_below_part_size(s3_server):
    prefix = unique_prefix("engine-put")
    key, data = prefix + "small file.bin", os.urandom(100_000)
    rc, result, err = run_probe(s3_server, ["put", key], data)
    assert rc == 0, (result, err)
    assert_stored(s3_server, key, data, result)
    assert "-" not in result["etag"], "one PutObject, not a multipart upload"
    assert s3_server.list_uploads(prefix) == []


def test_s3_client_exactly_one_part_is_a_single_put(s3_server):
    prefix = unique_prefix("engine-one-part")
    key, data = prefix + "five.bin", patterned(PART)
    rc, result, err = run_probe(s3_server, ["put", key], data)
    assert rc == 0, (result, err)
    assert_stored(s3_server, key, data, result)
    assert "-" not in result["etag"]


def test_s3_client_multipart_three_parts_and_a_short_last(s3_server):
    """3 x 5 MiB + 12345 bytes, written in odd-sized writes with 2 parts in flight: four parts, each exactly
    part_size but the last (else Complete answers EntityTooSmall), each hashed right (else BadDigest)."""
    prefix = unique_prefix("engine-multipart")
    key, data = prefix + "big.bin", patterned(3 * PART + 12345)
    rc, result, err = run_probe(s3_server, ["--in-flight", "2", "--write-size", "100003", "put", key], data)
    assert rc == 0, (result, err)
    assert_stored(s3_server, key, data, result)
    assert result["etag"].endswith('-4"'), result
    assert s3_server.list_uploads(prefix) == []


def test_s3_client_abort_leaves_no_object_and_no_upload(s3_server):
    prefix = unique_prefix("engine-abort")
    key = prefix + "aborted.bin"
    rc, result, err = run_probe(s3_server, ["--abort-after", str(2 * PART + 100), "put", key], patterned(3 * PART))
    assert rc == 0, (result, err)
    assert result == {"aborted": 2 * PART + 100}
    assert s3_server.list_uploads(prefix) == []
    assert s3_server.list_objects(prefix) == []


def test_s3_client_wrong_secret_is_denied_with_a_clear_failure(s3_server):
    prefix = unique_prefix("engine-denied")
    rc, result, err = run_probe(s3_server, ["state"], secret=s3_server.secret_key + "x")
    assert result == {"state": "denied"}, err
    rc, result, err = run_probe(s3_server, ["put", prefix + "x.bin"], b"nope", secret=s3_server.secret_key + "x")
    assert rc == 1
    assert result["error"] == "store_failed"
    assert result["message"].startswith("the object store failed: put: HTTP 403 SignatureDoesNotMatch"), result
    assert s3_server.list_objects(prefix) == []


def test_s3_client_closed_port_is_unreachable(s3_server):
    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        rc, result, err = run_probe(s3_server, ["state"], endpoint=f"http://127.0.0.1:{port}")
    assert result == {"state": "unreachable"}, err
    assert rc == 0


def test_s3_client_up(s3_server):
    rc, result, err = run_probe(s3_server, ["state"])
    assert result == {"state": "up"}, err


def test_s3_client_credentials_file(s3_server, tmp_path):
    good = tmp_path / "creds"
    good.write_text(f"# test credentials\nAWS_ACCESS_KEY_ID = {s3_server.access_key}\n"
                    f"AWS_SECRET_ACCESS_KEY=\"{s3_server.secret_key}\"\n")
    rc, result, err = run_probe(s3_server, ["--credentials", str(good), "state"], secret="wrong-from-env")
    assert result == {"state": "up"}, "the file wins over the environment: " + err
    bad = tmp_path / "bad"
    bad.write_text("AWS_ACCESS_KEY_ID=a\nAWS_SECRET=b\n")
    rc, result, err = run_probe(s3_server, ["--credentials", str(bad), "state"])
    assert rc == 2 and result is None
    assert err.strip() == (f"start: {bad}: line 2: unknown key (expected AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or "
                           "AWS_SESSION_TOKEN)")


def test_s3_client_retries_a_part_cut_mid_body(s3_server):
    """The store's connection is reset in the middle of the second part: that part is sent again (on a new
    connection) and the object completes byte-exact, with no upload left behind."""
    prefix = unique_prefix("engine-cut")
    key, data = prefix + "cut.bin", patterned(3 * PART + 999)
    target = urlparse(s3_server.endpoint)
    relay = Relay((target.hostname, target.port), cut_after=PART + PART // 2)
    try:
        rc, result, err = run_probe(s3_server, ["--in-flight", "1", "put", key], data, endpoint=relay.url)
    finally:
        relay.close()
    assert [c["why"] for c in relay.cuts if c["why"] != "on demand"] == ["after cut_after bytes"], relay.cuts
    assert rc == 0, (result, err)
    assert_stored(s3_server, key, data, result)
    assert s3_server.list_uploads(prefix) == []


def test_s3_client_store_gone_mid_object_fails_after_retries(s3_server):
    """The store stops answering for good in the middle of the object: the part is retried, then the object fails
    with a clear message (and the probe's abort cannot reach the store either: the sweep's and the bucket
    lifecycle rule's job)."""
    prefix = unique_prefix("engine-gone")
    target = urlparse(s3_server.endpoint)
    relay = Relay((target.hostname, target.port), cut_after=PART + PART // 2)
    original_cut = relay._cut

    def cut_and_close(link, why):  # the cut, then nobody listens any more
        original_cut(link, why)
        if not relay._closing:
            relay.close()

    relay._cut = cut_and_close
    try:
        rc, result, err = run_probe(s3_server, ["--in-flight", "1", "put", prefix + "gone.bin"], patterned(3 * PART),
                                    endpoint=relay.url, timeout=60)
    finally:
        relay.close()
    assert rc == 1, (result, err)
    assert result["error"] == "store_failed"
    assert result["message"].startswith("the object store failed: upload_part: "), result
    for key, upload_id in s3_server.list_uploads(prefix):  # the upload the engine could not abort
        s3_server.abort_upload(key, upload_id)


def test_s3_client_sweep_aborts_stale_uploads_under_the_prefix(s3_server):
    prefix = unique_prefix("engine-sweep")
    other = unique_prefix("engine-sweep-other")
    stale = s3_server.create_upload(prefix + "left/0")
    spared = s3_server.create_upload(other + "x/0")
    try:
        rc, result, err = run_probe(s3_server, ["--prefix", prefix, "sweep", "3600000"])
        assert (rc, result) == (0, {"aborted": 0, "error": "ok"}), err
        assert s3_server.list_uploads(prefix) == [(prefix + "left/0", stale)], "younger than the age: kept"
        # Initiated has whole seconds, which Swift may round up: a just-created upload can look up to 1 s younger
        swept = wait_until(lambda: run_probe(s3_server, ["--prefix", prefix, "sweep", "0"])[1]["aborted"], 5,
                           "the sweep to abort the stale upload", interval=0.5)
        assert swept == 1
        assert s3_server.list_uploads(prefix) == []
        assert s3_server.list_uploads(other) == [(other + "x/0", spared)], "outside the prefix: never touched"
    finally:
        s3_server.abort_upload(other + "x/0", spared)


def test_s3_client_refuses_an_object_over_10000_parts(s3_server):
    """An object may have 10000 parts of part_size at most: the write that goes past fails the object at once,
    before anything reaches the store (1-byte parts here, so 10001 bytes are one too many)."""
    prefix = unique_prefix("engine-too-big")
    rc, result, err = run_probe(s3_server, ["--part-size", "1", "--write-size", "20000", "put", prefix + "big.bin"],
                                b"x" * 10001)
    assert rc == 1, (result, err)
    assert result == {"error": "store_failed",
                      "message": "the file exceeds the largest object the store takes: 10000 parts of 1 bytes"}
    assert s3_server.list_objects(prefix) == [] and s3_server.list_uploads(prefix) == []
