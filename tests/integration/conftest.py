"""Fixtures for the uploadgate integration tests.

    gateway            uploadgate (default config, harness.default_routes()) in
                       front of a fresh example app, both per test
    make_gateway(...)  the same with options: configure=callable(config dict),
                       app=False / backend_url=..., app_dir=None, slow_seconds=, slow_status=,
                       uds_app=True, listen_host="::1", start=False, app_env={...} (added to the
                       example app's environment)
    make_app(...)      an example app alone
    tls_cert           (cert, key) of a self-signed localhost/127.0.0.1/::1 cert
    s3_server          one S3 server (Swift) for the session: harness.s3store.S3Store

At teardown every gateway is checked: an uploadgate that exited on its own or
printed a sanitizer report fails the test; its log tail and the app's are
printed (pytest shows them for failing tests).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import AppPool, ExampleApp, Gateway, tail  # noqa: E402
from harness.s3store import s3_server  # noqa: E402,F401  (the session's S3 server, see harness/s3store.py)


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
         "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )
    return crt, key


@pytest.fixture(scope="session")
def app_pool(tmp_path_factory):
    pool = AppPool(tmp_path_factory.mktemp("app-pool"))
    yield pool
    pool.close()


@pytest.fixture
def _apps():
    """Every example app a test started; all stopped at its end."""
    apps = []
    yield apps
    for app in apps:
        app.stop()
        print(f"--- example app ({app.workdir}) output (tail) ---\n{tail(app.proc.output(), 30)}")


@pytest.fixture
def make_app(tmp_path, _apps):
    def factory(name="app", **kw) -> ExampleApp:
        app = ExampleApp(tmp_path / name, **kw).start()
        _apps.append(app)
        return app

    return factory


@pytest.fixture
def make_gateway(tmp_path, tls_cert, make_app, app_pool, _apps):
    gateways = []

    def factory(name="gw", *, app=True, backend_url=None, app_dir="/uploads", configure=None, slow_seconds=None,
                slow_status=None, uds_app=False, listen_host="127.0.0.1", start=True, app_env=None) -> Gateway:
        workdir = tmp_path / name
        the_app = None
        env = dict(app_env or {})  # the app's own environment additions (app_env): never a pooled app
        if slow_status is not None:
            env["SLOW_STATUS"] = str(slow_status)
        if app and app_dir == AppPool.APP_DIR and slow_seconds is None and not env and not uds_app:
            the_app = app_pool.take(workdir)
            _apps.append(the_app)
        elif app:
            # The app is told where uploadgate's storage dir really is, so it
            # can map manifest paths (app_dir) back to this host.
            the_app = make_app(f"{name}-app", storage_dir=workdir / "store", app_dir=app_dir,
                               slow_seconds=slow_seconds, uds=uds_app,
                               extra_env=env or None)
        gw = Gateway(workdir, cert=tls_cert, app=the_app, backend_url=backend_url, app_dir=app_dir,
                     configure=configure, listen_host=listen_host)
        gateways.append(gw)
        if start:
            gw.start()
        return gw

    yield factory

    problems = []
    reports = [gw.crash_report() for gw in gateways]
    for p in [gw.proc for gw in gateways] + [a.proc for a in _apps]:
        if p:
            p.terminate()
    for gw, report in zip(gateways, reports):
        status = gw.stop()
        print(f"--- uploadgate {gw.workdir.name} log (tail) ---\n{tail(gw.log(), 80)}")
        report = report or gw.shutdown_report(status)
        if report:
            problems.append(f"{gw.workdir.name}: {report}\n{tail(gw.log(), 80)}")
    if problems:
        pytest.fail("unhealthy uploadgate:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def gateway(make_gateway) -> Gateway:
    return make_gateway()


@pytest.fixture(autouse=True)
def _drop_big_files(tmp_path):
    """pytest keeps the tmp dirs of the last 3 runs: drop the bulky test data, keep logs and configs."""
    yield
    for p in tmp_path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink() and p.stat().st_size >= 1024 * 1024:
                p.unlink()
        except OSError:
            pass


@pytest.fixture
def make_capture(tmp_path):
    """make_capture(name, status=, headers=, body=) -> a started harness.CaptureBackend, stopped at the end."""
    from harness import CaptureBackend

    backends = []

    def factory(name="capture", **kw):
        b = CaptureBackend(tmp_path / name, **kw)
        backends.append(b)
        return b.start()

    yield factory
    for b in backends:
        b.stop()


@pytest.fixture
def make_static_site(tmp_path):
    """make_static_site(directory, port=None) -> a started harness.StaticSite, stopped at the end."""
    from harness import StaticSite

    sites = []

    def factory(directory, port=None):
        s = StaticSite(directory, tmp_path / "static", port=port)
        sites.append(s)
        return s.start()

    yield factory
    for s in sites:
        s.stop()
