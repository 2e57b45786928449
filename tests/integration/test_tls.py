"""TLS listeners: TLS 1.2 offers only ECDHE suites with AEAD ciphers (forward secrecy), `tls.ciphers` per listener
overrides that (and a list that selects nothing stops start-up), and a client offering only ALPN http/1.1 is served
by the HTTP/1.1 front.
"""

from __future__ import annotations

import subprocess

import pytest

from harness import HTTP1Reader, connect, http1_head
from setups import run_to_exit


def s_client(port: int, *args: str):
    """One TLS 1.2 handshake with openssl s_client; (completed, output)."""
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", "-tls1_2",
                        *args], input=b"", capture_output=True, timeout=30)
    out = (p.stdout + p.stderr).decode(errors="replace")
    return p.returncode == 0 and "Cipher is (NONE)" not in out and "New, TLSv1.2, Cipher is" in out, out


@pytest.mark.parametrize("cipher", ["AES128-SHA", "AES256-SHA256", "AES128-GCM-SHA256"])
def test_tls12_refuses_suites_without_forward_secrecy(gateway, cipher):
    ok, out = s_client(gateway.tls_port, "-cipher", cipher)
    assert not ok and "Cipher is (NONE)" in out, out


@pytest.mark.parametrize("cipher", ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                                    "ECDHE-RSA-CHACHA20-POLY1305"])
def test_tls12_accepts_ecdhe_aead_suites(gateway, cipher):
    ok, out = s_client(gateway.tls_port, "-cipher", cipher)
    assert ok and f"Cipher is {cipher}" in out, out


def test_tls_ciphers_override_per_listener(make_gateway):
    def configure(cfg):
        cfg["listen"][1]["tls"]["ciphers"] = "ECDHE-RSA-AES256-GCM-SHA384"
    gw = make_gateway(configure=configure)
    ok, out = s_client(gw.tls_port, "-cipher", "ECDHE-RSA-AES256-GCM-SHA384")
    assert ok, out
    ok, out = s_client(gw.tls_port, "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
    assert not ok, out


def test_tls_ciphers_that_select_nothing_stop_start_up(make_gateway):
    gw = make_gateway(start=False, configure=lambda cfg: cfg["listen"][1]["tls"].__setitem__("ciphers", "NO-SUCH-SUITE"))
    status, lines = run_to_exit(gw.config, gw.workdir / "bad-ciphers")
    assert status == 1, lines
    assert any(e.get("level") == "error" and gw.tls_authority in e["msg"] and "cipher" in e["msg"] for e in lines), lines


def test_tls_alpn_http11_only_client(gateway):
    """A TLS client offering only http/1.1 in ALPN is served over HTTP/1.1."""
    with connect(gateway, tls=True, alpn=("http/1.1",)) as s:
        assert s.selected_alpn_protocol() in ("http/1.1", None)
        s.sendall(http1_head("GET", "/api/items", gateway.tls_authority, [("Connection", "close")]))
        res = HTTP1Reader(s).read_response(method="GET")
    assert res.status == 200, res
