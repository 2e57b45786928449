"""Which client fields reach the app, on upload (manifest) requests and on pass-through requests, over HTTP/1.1, h2c
and h2 - asserted on what a capturing backend received:

- fields uploadgate reserves (X-Auth-*, X-Uploadgate-*) never come from a client, in either spelling: WSGI servers
  make HTTP_X_AUTH_SUBJECT of "X_Auth_Subject" as of "X-Auth-Subject", so the underscore spelling is a spoofed
  identity; nor do underscore spellings of the fields uploadgate or its proxy write (X_Forwarded_For,
  X_Request_Id, ...);
- hop-by-hop fields and every field a Connection field names are dropped (RFC 9110 7.6.1), but never the
  X-Auth-* fields uploadgate adds for an authenticated caller; HTTP/2 refuses connection-specific fields.

TRACE, refused on every route, is in test_methods.py.
"""

from __future__ import annotations

import secrets

import pytest

from checks import header_map
from harness import ERROR_PROTOS, H2Conn, HTTP1Reader, connect, http1_head, multipart_content_type, wait_until
from setups import PASS_PATH, SMALL_FORM, UPLOAD_PATH, capture_gateway, send_with_curl


SPOOFED = [
    ("X_Auth_Subject", "admin"),
    ("X_Auth_Scopes", "admin"),
    ("X_Uploadgate_Signature", "t=1700000000,v1=" + "ab" * 32),
    ("x_uploadgate_other", "other-forged"),
    ("X_Forwarded_For", "6.6.6.6"),
    ("X_Forwarded_Proto", "gopher"),
    ("X_Forwarded_Host", "evil.example"),
    ("X_Request_Id", "spoofed-request-id"),
    ("Keep_Alive", "timeout=1"),
]


def folded(name: str) -> str:
    """A field name as a WSGI server sees it."""
    return name.lower().replace("_", "-")


def last_request(backend, seen: int) -> dict:
    wait_until(lambda: len(backend.log()) > seen, 10, "the request at the backend")
    (req,) = backend.log()[seen:]
    return req


def raw_exchange(gw, raw: bytes):
    with connect(gw) as s:
        s.sendall(raw)
        return HTTP1Reader(s).read_response()


@pytest.mark.parametrize("proto", ERROR_PROTOS)
@pytest.mark.parametrize("path", [UPLOAD_PATH, PASS_PATH])
def test_underscore_spellings_never_reach_the_app(make_gateway, make_capture, tmp_path, proto, path):
    gw, backend = capture_gateway(make_gateway, make_capture, tmp_path)
    res = send_with_curl(gw, proto, path, SPOOFED + [("X-Request-Id", "client-id-1"), ("X_Custom", "kept"),
                                           ("X-Normal", "kept too")])
    assert res.status == 201, res
    h = header_map(last_request(backend, 0)["headers"])
    for name, value in SPOOFED:
        assert name.lower() not in h, (name, h)
        assert all(value not in v for vs in h.values() for v in vs), (name, value, h)
    assert h.get("x_custom") == ["kept"] and h.get("x-normal") == ["kept too"], h
    assert "x-auth-subject" not in h and "x-auth-scopes" not in h and "x-uploadgate-signature" not in h, h
    assert h.get("x-forwarded-for") == ["127.0.0.1"], h
    assert h.get("x-forwarded-proto") == ["https" if proto == "h2" else "http"], h
    assert not any(folded(k) == "x-request-id" and k != "x-request-id" for k in h), h
    if path == UPLOAD_PATH:  # the manifest request writes X-Request-Id itself: the client's own is kept, never the spoof
        assert h.get("x-request-id") == ["client-id-1"], h


@pytest.mark.parametrize("proto", ERROR_PROTOS)
@pytest.mark.parametrize("path", ["/secure", "/secure-api"])
def test_spoofed_identity_is_replaced_by_the_callers(make_gateway, make_capture, tmp_path, proto, path):
    token = secrets.token_urlsafe(24)
    tokens = tmp_path / "secrets" / "tokens"
    tokens.parent.mkdir(parents=True, exist_ok=True)
    tokens.write_text(token + "\n")
    auth = {"tokens_file": str(tokens)}
    gw, backend = capture_gateway(make_gateway, make_capture, tmp_path, routes=[
        {"path": "/secure", "methods": ["POST"], "auth": auth},
        {"path": "/secure-api", "methods": ["POST"], "pass_through": True, "auth": auth},
    ])
    # a Connection field naming uploadgate's own fields cannot remove them either
    hdrs = [("Authorization", f"Bearer {token}"), ("X_Auth_Subject", "admin"), ("X-Auth-Subject", "admin"),
            ("X_Auth_Scopes", "root")]
    if proto == "h1":
        hdrs.append(("Connection", "X-Auth-Subject, X_Auth_Scopes"))
    res = send_with_curl(gw, proto, path, hdrs)
    assert res.status == 201, res
    h = header_map(last_request(backend, 0)["headers"])
    subjects = [v for k, vs in h.items() if folded(k) == "x-auth-subject" for v in vs]
    assert len(subjects) == 1 and subjects[0] != "admin" and "x-auth-subject" in h, h
    assert not any(folded(k) == "x-auth-scopes" and k != "x-auth-scopes" for k in h), h
    assert all("root" not in v for vs in h.values() for v in vs), h


@pytest.mark.parametrize("path", [UPLOAD_PATH, PASS_PATH])
def test_connection_listed_fields_are_dropped(make_gateway, make_capture, tmp_path, path):
    gw, backend = capture_gateway(make_gateway, make_capture, tmp_path)
    head = http1_head("POST", path, gw.authority, [
        ("Connection", "keep-alive, X-Hop-A"),
        ("Connection", "x_hop_b"),
        ("X-Hop-A", "1"), ("X_Hop_A", "2"), ("X-Hop-B", "3"),
        ("Proxy-Authorization", "Basic Zm9vOmJhcg=="), ("TE", "trailers"),
        ("X-Kept", "yes"),
        ("Content-Type", multipart_content_type()), ("Content-Length", str(len(SMALL_FORM))),
    ])
    res = raw_exchange(gw, head + SMALL_FORM)
    assert res.status == 201, res
    h = header_map(last_request(backend, 0)["headers"])
    for name in ("x-hop-a", "x_hop_a", "x-hop-b", "proxy-authorization", "te"):
        assert name not in h, (name, h)
    assert h.get("x-kept") == ["yes"], h


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
@pytest.mark.parametrize("field", [("connection", "x-hop"), ("keep-alive", "1"), ("transfer-encoding", "chunked"),
                                   ("upgrade", "websocket"), ("te", "gzip")])
def test_http2_refuses_connection_specific_fields(make_gateway, make_capture, tmp_path, tls, field):
    gw, backend = capture_gateway(make_gateway, make_capture, tmp_path)
    c = H2Conn(gw, tls=tls)
    try:
        c.conn.config.validate_outbound_headers = False  # send what a conforming client would not
        c.conn.config.normalize_outbound_headers = False
        sid = c.start("GET", PASS_PATH, [field, ("x-hop", "1")], end_stream=True)
        res = c.wait_response(sid)
        # RFC 9113 8.2.2: malformed; the stream is reset (PROTOCOL_ERROR), never answered
        assert res.status is None and res.reset_code == 1, res
        ok = c.get(PASS_PATH)  # the connection itself goes on
        assert ok.status == 201, ok
    finally:
        c.close()
    assert len(backend.log()) == 1 and "x-hop" not in header_map(backend.log()[0]["headers"]), backend.log()


def test_connection_listed_fields_do_not_survive_an_h2c_upgrade(gateway):
    from test_h2c_upgrade import UpgradedH2Conn, switched

    c = UpgradedH2Conn(gateway, "GET", "/api/items", [("Connection", "X-Hop, x_other"), ("X-Hop", "1"),
                                                     ("X-Other", "2"), ("X_Auth_Subject", "admin"), ("X-Kept", "yes")])
    try:
        assert switched(c), c.switch_head
        res = c.wait_response(1)
    finally:
        c.close()
    assert res.status == 200, res
    [entry] = gateway.app_log()
    fields = {k.lower() for k, _ in entry["headers"]}
    assert "x-kept" in fields and not fields & {"x-hop", "x-other", "x_auth_subject", "x-auth-subject"}, fields
