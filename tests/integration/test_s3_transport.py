"""How uploadgate reaches the object store, and the example app reading the objects back, against the Swift of the
test run (the s3_server fixture).

- https endpoints: a TLS relay in front of Swift with a certificate signed by a CA of the test's own. With `ca_file`
  naming that CA, uploads are byte-exact (read back with boto3 from Swift directly); without it (the system's CAs do
  not know it), or with a certificate for another name, the store is refused: /readyz 503 saying the store's
  certificate was not verified, uploads 503 store_unavailable, no request ever went through the TLS connection, nothing stored, nothing reached
  the app.
- virtual-hosted addressing (`path_style: false`): requests go to <bucket>.localhost and name only the key.
- the example app with EXAMPLE_APP_S3_ENDPOINT reads every object back and answers with what it verified; with
  credentials the store refuses, it answers 422 naming the failed read, and uploadgate deletes the objects.
"""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from checks import assert_nothing_reached_app
from harness import MiB, multipart_content_type, wait_until
from harness.relay import Relay
from harness.s3store import unique_prefix
from harness.tlsrelay import TestCA, TLSRelay
from setups import admin_get, with_admin
from test_s3_upload import (TRANSPORTS, _endpoint_target, check_objects, files_body, start_s3_gateway, upload,
                            wait_store_clean, wait_store_up)


def probes(gw) -> float:
    """How many store probes uploadgate has finished (its metric)."""
    name = 'uploadgate_s3_request_duration_seconds_count{operation="probe"} '
    for line in admin_get(gw, "/metrics")[1].splitlines():
        if line.startswith(name):
            return float(line.split()[-1])
    return 0


@pytest.fixture
def test_ca(tmp_path):
    return TestCA(tmp_path / "ca")


@pytest.fixture
def tls_relay(s3_server):
    """Starts TLS relays to Swift with a given certificate; all closed at the end."""
    relays = []

    def factory(cert_and_key):
        relay = TLSRelay(_endpoint_target(s3_server), *cert_and_key)
        relays.append(relay)
        return relay

    yield factory
    for relay in relays:
        relay.close()


def refused_store(make_gateway, tmp_path, s3, relay, s3_options):
    """uploadgate on the https `relay` with `s3_options`: its first probe fails, /readyz says the store's certificate
    was not verified (not merely "unreachable": the operator's fix is the CA file or the endpoint's name), each
    transport's upload is 503 store_unavailable, and no request went through the relay, nothing reached the app."""
    prefix = unique_prefix("tls-refused")
    gw = start_s3_gateway(make_gateway, tmp_path, s3, prefix, endpoint=relay.url, s3_options=s3_options,
                          configure_extra=with_admin(lambda c: c["backend"].pop("health_path", None)))
    wait_until(lambda: probes(gw) >= 1, 15, "the first store probe")
    status, body, _ = admin_get(gw, "/readyz")
    assert (status, json.loads(body)) == (503, {
        "status": "not ready",
        "reason": "object store: certificate not verified (check storage.s3.ca_file and the endpoint's name)"})
    for proto in TRANSPORTS:
        res = upload(gw, proto, "/upload", files_body([os.urandom(1024)]), multipart_content_type())
        assert res.status == 503, (proto, res)
        assert res.json()["error"]["code"] == "store_unavailable", (proto, res)
    assert relay.bytes_to_server == 0, "a request went to a store whose certificate was not verified"
    assert_nothing_reached_app(gw)
    assert s3.list_objects(prefix) == [] and s3.list_uploads(prefix) == []


# ---- https endpoints -------------------------------------------------------------------------------------------------


def test_s3_https_endpoint_verified_with_ca_file_is_byte_exact(make_gateway, tmp_path, s3_server, test_ca, tls_relay):
    relay = tls_relay(test_ca.issue("store", ["IP:127.0.0.1", "DNS:localhost"]))
    prefix = unique_prefix("tls")
    gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix, endpoint=relay.url,
                          s3_options={"ca_file": str(test_ca.cert)})
    wait_store_up(gw)
    for proto in TRANSPORTS:  # one below part_size (PutObject), one across it (multipart upload)
        files = [os.urandom(64 * 1024 + 1), os.urandom(5 * MiB + 7)]
        res = upload(gw, proto, "/upload", files_body(files), multipart_content_type())
        m = check_objects(s3_server, gw, res, files, prefix)
        # the next transport's objects are checked alone
        for n in range(len(files)):
            s3_server.s3.delete_object(Bucket=s3_server.bucket, Key=f"{prefix}{m['id']}/{n}")
    assert relay.handshakes >= 1


def test_s3_https_endpoint_without_ca_file_is_refused(make_gateway, tmp_path, s3_server, test_ca, tls_relay):
    relay = tls_relay(test_ca.issue("store", ["IP:127.0.0.1", "DNS:localhost"]))
    refused_store(make_gateway, tmp_path, s3_server, relay, {})


def test_s3_https_certificate_for_another_name_is_refused(make_gateway, tmp_path, s3_server, test_ca, tls_relay):
    relay = tls_relay(test_ca.issue("elsewhere", ["DNS:store.elsewhere.test"]))
    refused_store(make_gateway, tmp_path, s3_server, relay, {"ca_file": str(test_ca.cert)})


# ---- virtual-hosted addressing ---------------------------------------------------------------------------------------


def test_s3_virtual_hosted_addressing_is_byte_exact(make_gateway, tmp_path, s3_server):
    relay = Relay(_endpoint_target(s3_server))  # to see the request lines
    try:
        prefix = unique_prefix("vhost")
        gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix, endpoint=f"http://localhost:{relay.port}",
                              s3_options={"path_style": False})
        wait_store_up(gw)
        files = [os.urandom(64 * 1024 + 1), os.urandom(5 * MiB + 7)]
        res = upload(gw, "h1", "/upload", files_body(files), multipart_content_type())
        check_objects(s3_server, gw, res, files, prefix)
        writes = [line for line in relay.request_lines if line.startswith(("PUT ", "POST "))]
        assert writes, relay.request_lines
        # the bucket is in the host name, never in the path
        assert all(line.split(" ")[1].startswith("/" + prefix) for line in writes), writes
    finally:
        relay.close()


# ---- the example app reading the objects back ------------------------------------------------------------------------


def app_env(s3, secret):
    return {"EXAMPLE_APP_S3_ENDPOINT": s3.endpoint, "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": s3.region}


def test_s3_example_app_reads_the_objects_back(make_gateway, tmp_path, s3_server):
    prefix = unique_prefix("app-reads")
    gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix,
                          app_env=app_env(s3_server, s3_server.secret_key))
    wait_store_up(gw)
    files = [os.urandom(10 * 1024 + 3), os.urandom(5 * MiB + 11)]
    res = upload(gw, "h1", "/upload", files_body(files), multipart_content_type())
    m = check_objects(s3_server, gw, res, files, prefix)
    answer = res.json()
    assert answer["id"] == m["id"]
    assert [(f["filename"], f["size"], f["sha256"], f["stored_as"]) for f in answer["files"]] == [
        (f"f{n}.bin", len(d), hashlib.sha256(d).hexdigest(), f"s3://{s3_server.bucket}/{prefix}{m['id']}/{n}")
        for n, d in enumerate(files)]


def test_s3_example_app_refuses_objects_it_cannot_read(make_gateway, tmp_path, s3_server):
    prefix = unique_prefix("app-denied")
    gw = start_s3_gateway(make_gateway, tmp_path, s3_server, prefix, app_env=app_env(s3_server, "not-the-secret"))
    wait_store_up(gw)
    res = upload(gw, "h1", "/upload", files_body([os.urandom(10 * 1024), os.urandom(5 * MiB + 1)]),
                 multipart_content_type())
    assert res.status == 422, res
    detail = res.json()["detail"]
    assert detail.startswith(f"files[0]: cannot read s3://{s3_server.bucket}/{prefix}"), detail
    assert detail.endswith(": SignatureDoesNotMatch"), detail
    wait_store_clean(s3_server, prefix)
