"""Operating uploadgate with object storage (storage.s3), against the session's Swift (the `s3_server` fixture):
readiness follows the store, credentials that cannot be read stop start-up, SIGHUP re-reads them, and the janitor's
start-up sweep runs with storage.retention."""

from __future__ import annotations

import json
import signal
import socket
import subprocess

from harness import binary_path, to_yaml, wait_until
from harness.s3store import unique_prefix
from setups import admin_get, log_lines, with_admin


def write_credentials(path, s3, secret=None):
    path.write_text(f"AWS_ACCESS_KEY_ID={s3.access_key}\nAWS_SECRET_ACCESS_KEY={secret or s3.secret_key}\n")
    return path


def with_store(s3, credentials, prefix="", endpoint=None, extra=None):
    def configure(cfg):
        cfg["storage"]["s3"] = {"endpoint": endpoint or s3.endpoint, "region": s3.region, "bucket": s3.bucket,
                                "credentials_file": str(credentials), "part_size": "5MiB"}
        if prefix:
            cfg["storage"]["s3"]["prefix"] = prefix
        cfg["backend"].pop("health_path", None)
        if extra:
            extra(cfg)
    return with_admin(configure)


def ready(gw):
    status, body, _ = admin_get(gw, "/readyz")
    return status, json.loads(body)


def metric(gw, name):
    for line in admin_get(gw, "/metrics")[1].splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def test_s3_readyz_and_metrics_with_the_store_up(make_gateway, s3_server, tmp_path):
    prefix = unique_prefix("ops-up")
    young = s3_server.create_upload(prefix + "young/0")
    try:
        gw = make_gateway(configure=with_store(s3_server, write_credentials(tmp_path / "creds", s3_server), prefix,
                                               extra=lambda cfg: cfg["storage"].update(retention="1m")))
        wait_until(lambda: ready(gw)[0] == 200, 10, "/readyz to report the store up")
        assert ready(gw) == (200, {"status": "ready", "backend": "not checked", "storage": "ok"})
        assert metric(gw, "uploadgate_s3_up") == 1
        # the start-up sweep listed the prefix's uploads, and spared the one younger than storage.retention
        wait_until(lambda: metric(gw, 'uploadgate_s3_request_duration_seconds_count{operation="list_uploads"}'), 10,
                   "the start-up sweep")
        assert metric(gw, "uploadgate_s3_swept_uploads_total") == 0
        assert s3_server.list_uploads(prefix) == [(prefix + "young/0", young)]
    finally:
        s3_server.abort_upload(prefix + "young/0", young)


def test_s3_readyz_503_while_the_store_is_unreachable(make_gateway, s3_server, tmp_path):
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
        gw = make_gateway(configure=with_store(s3_server, write_credentials(tmp_path / "creds", s3_server),
                                               endpoint=endpoint))
        wait_until(lambda: metric(gw, 'uploadgate_s3_request_duration_seconds_count{operation="probe"}'), 10,
                   "the first probe")
        assert ready(gw) == (503, {"status": "not ready", "reason": "object store: unreachable"})
        assert metric(gw, "uploadgate_s3_up") == 0
        assert admin_get(gw, "/healthz")[0] == 200


def test_s3_sighup_rereads_the_credentials(make_gateway, s3_server, tmp_path):
    creds = write_credentials(tmp_path / "creds", s3_server, secret="not-the-secret")
    gw = make_gateway(configure=with_store(s3_server, creds))
    wait_until(lambda: ready(gw)[1].get("reason") == "object store: access denied (check the S3 credentials)", 10,
               "/readyz to report the credentials refused")
    write_credentials(creds, s3_server)
    gw.proc.signal(signal.SIGHUP)
    # the reload probes at once: well within one probe interval (5 s)
    wait_until(lambda: ready(gw)[0] == 200, 4, "/readyz to report the store up after SIGHUP")
    assert any(e.get("msg") == "S3 credentials reloaded" for e in log_lines(gw))


def test_s3_unreadable_credentials_stop_start_up(make_gateway, s3_server, tmp_path):
    missing = tmp_path / "absent-credentials"
    gw = make_gateway(configure=with_store(s3_server, missing), start=False)
    gw.config_path.write_text(to_yaml(gw.config))
    done = subprocess.run([str(binary_path()), "-c", str(gw.config_path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done.stderr
    events = [json.loads(line) for line in done.stderr.splitlines() + done.stdout.splitlines() if line.strip()]
    assert any(e.get("msg") == f"storage.s3: {missing}: cannot open: No such file or directory" for e in events), \
        events
