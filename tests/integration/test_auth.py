"""Bearer authentication on routes (`auth:`): static tokens (file, re-read on change; environment) and JWTs
(HS256 / RS256 / ES256, PEM and JWKS keys). A refused request stores nothing and never reaches the app; an
accepted caller is described to the app (manifest `auth`, X-Auth-Subject / X-Auth-Scopes); client-sent
X-Auth-* and X-Uploadgate-* headers never reach the app. Tokens are made at test time with PyJWT.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from checks import Sent, assert_clean, assert_error, expect_upload, find_manifest, header_map, manifests_in_log
from harness import (H2Conn, KiB, MiB, curl, curl_form_args, make_file, multipart_body, multipart_content_type,
                     wait_until)


ISSUER = "https://id.example.com"


AUDIENCE = "uploads"


REALM_ONLY = 'Bearer realm="uploadgate"'


INVALID_TOKEN_RE = re.compile(r'^Bearer realm="uploadgate", error="invalid_token", error_description="[^"]+"$')


INVALID_REQUEST_RE = re.compile(r'^Bearer realm="uploadgate", error="invalid_request"(, error_description="[^"]*")?$')


INSUFFICIENT_SCOPE_RE = re.compile(
    r'^Bearer realm="uploadgate", error="insufficient_scope"(, error_description="[^"]*")?(, scope="upload")?$')


def _pem_public(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class Keys:
    def __init__(self, d):
        d.mkdir(parents=True, exist_ok=True)
        self.dir = d
        self.secret = secrets.token_urlsafe(36).encode()  # 48 bytes >= 32 for HS256
        self.secret_file = d / "jwt.secret"
        self.secret_file.write_bytes(self.secret + b"\n")  # the trailing newline is not part of the secret
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa_pem = d / "jwt-rsa.pem"
        self.rsa_pem.write_bytes(_pem_public(self.rsa))
        self.rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # trusted by nobody
        self.ec = ec.generate_private_key(ec.SECP256R1())  # /upload's JWKS: kid "ec-1"
        self.jwks_file = d / "jwks.json"
        self.jwks_file.write_text(json.dumps({"keys": [self.jwk(self.ec, "ec-1", "ES256")]}))
        # The /files/* route: an EC PEM key and a JWKS of two RSA keys (kids "rsa-2", "rsa-3").
        self.ec_pem_key = ec.generate_private_key(ec.SECP256R1())
        self.ec_pem = d / "jwt-ec.pem"
        self.ec_pem.write_bytes(_pem_public(self.ec_pem_key))
        self.rsa2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa3 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.jwks2_file = d / "jwks2.json"
        self.jwks2_file.write_text(json.dumps({"keys": [self.jwk(self.rsa2, "rsa-2", "RS256"),
                                                        self.jwk(self.rsa3, "rsa-3", "RS256")]}))

    @staticmethod
    def jwk(key, kid, alg):
        if alg.startswith("ES"):
            # Built here, not by PyJWT: Debian's PyJWT drops leading zero bytes of x and y (1 key in 128 then fails
            # to load), while RFC 7518 6.2.1.2 wants them at the full coordinate size, as uploadgate checks.
            nums = key.public_key().public_numbers()
            size = (nums.curve.key_size + 7) // 8
            return {"kty": "EC", "crv": {256: "P-256", 384: "P-384", 521: "P-521"}[nums.curve.key_size],
                    "x": b64url(nums.x.to_bytes(size, "big")), "y": b64url(nums.y.to_bytes(size, "big")),
                    "kid": kid, "use": "sig", "alg": alg}
        return dict(json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), kid=kid, use="sig", alg=alg)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return Keys(tmp_path_factory.mktemp("jwt-keys"))


def claims(**over) -> dict:
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "scope": "upload read", "iat": now, "exp": now + 300,
         "email": "alice@example.com"}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def hs256(k: Keys, **over) -> str:
    return pyjwt.encode(claims(**over), k.secret, algorithm="HS256")


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def raw_jws(header: dict, payload: dict, sign) -> str:
    """A JWS built by hand (for tokens PyJWT refuses to make); sign(signing_input) -> signature bytes."""
    si = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
    return si + "." + b64url(sign(si.encode()))


def token_subject(token: str) -> str:
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:8]


class AuthSetup:
    def __init__(self, tmp_path, keys: Keys):
        self.keys = keys
        self.file_token = secrets.token_urlsafe(24)
        self.env_token = secrets.token_urlsafe(24)
        self.tokens_file = tmp_path / "secrets" / "tokens"
        self.tokens_file.parent.mkdir(parents=True, exist_ok=True)
        self.tokens_file.write_text(f"# upload clients\n{self.file_token}\n")
        self.env_name = "UG_TEST_TOKENS_" + secrets.token_hex(4).upper()

    def auth(self) -> dict:
        k = self.keys
        return {"tokens_file": str(self.tokens_file), "tokens_env": self.env_name,
                "jwt": {"algorithms": ["RS256", "ES256", "HS256"], "secret_file": str(k.secret_file),
                        "public_key_file": str(k.rsa_pem), "jwks_file": str(k.jwks_file), "issuer": ISSUER,
                        "audience": AUDIENCE, "required_scopes": ["upload"], "leeway": "30s"}}

    def configure(self, cfg):
        for r in cfg["routes"]:
            if r["path"] == "/upload":
                r["auth"] = self.auth()
            if r["path"] == "/files/*":  # a second route: its own keys, no iss/aud/scope checks
                r["auth"] = {"jwt": {"algorithms": ["ES256", "RS256"], "public_key_file": str(self.keys.ec_pem),
                                     "jwks_file": str(self.keys.jwks2_file)}}
        cfg["routes"] += [
            {"path": "/api/echo", "methods": ["POST"], "pass_through": True, "auth": self.auth()},
            {"path": "/api/items", "methods": ["GET"], "pass_through": True, "auth": self.auth()},
        ]


@pytest.fixture
def auth_gw(make_gateway, tmp_path, keys, monkeypatch):
    setup = AuthSetup(tmp_path, keys)
    gw = make_gateway(configure=setup.configure, start=False)
    # tokens_env is read from uploadgate's own environment (inherited from ours at start).
    monkeypatch.setenv(setup.env_name, f" other-token ,{setup.env_token}")
    gw.start()
    gw.auth = setup
    return gw


def bearer(token: str):
    return ["-H", f"Authorization: Bearer {token}"]


def small_upload(gw, tmp_path, proto, *args, path="/upload", size=20 * KiB):
    f = make_file(tmp_path / "data", f"f{time.monotonic_ns()}.bin", size)
    res = curl(gw, proto, path, *args, *curl_form_args([("file", f, "f.bin", "application/octet-stream")]))
    return res, f


def assert_unauthorized(res, www_re=None):
    err = assert_error(res, 401, "unauthorized")
    www = res.headers.get("www-authenticate")
    assert www and len(www) == 1, f"WWW-Authenticate: {www} in {res!r}"
    if www_re is None:
        assert www[0] == REALM_ONLY, www
    else:
        assert www_re.match(www[0]), www
    return err


def expect_auth_upload(gw, res, f, proto, auth: dict, subject_header, scopes_header):
    manifest = expect_upload(gw, res, proto=proto, sent=[Sent("file", "f.bin", "application/octet-stream", f)])
    got = manifest.get("auth")
    assert isinstance(got, dict), f"manifest without auth: {manifest}"
    assert got["method"] == auth["method"], got
    assert got["subject"] == auth["subject"], got
    assert got["scopes"] == auth["scopes"], got
    if "claims" in auth:
        assert isinstance(got["claims"], dict), got
        for name, value in auth["claims"].items():
            assert got["claims"].get(name) == value, (name, got["claims"])
    entry, _ = find_manifest(gw, manifest["id"])
    h = header_map(entry["headers"])
    assert h.get("x-auth-subject") == [subject_header], h.get("x-auth-subject")
    assert h.get("x-auth-scopes") == [scopes_header], h.get("x-auth-scopes")
    return manifest, entry


def _status_with(gw, token: str) -> int:
    """A cheap authenticated request on a fresh connection (pass-through route GET /api/items)."""
    return curl(gw, "h1", "/api/items", *bearer(token)).status


# A rewritten tokens file is seen within a second (each thread checks it at most once a second); the bound adds room
# for the eight probing requests on fresh connections, slow under the sanitizer build on a busy machine.
ROTATION_BOUND_S = 4.0


def _wait_rotation(gw, new: str, old: str, t0: float, timeout: float = 6.0) -> float:
    """Until a round of fresh connections (so both server threads) accepts `new` and refuses `old`."""
    def rotated():
        return all(_status_with(gw, new) == 200 for _ in range(4)) and \
            all(_status_with(gw, old) == 401 for _ in range(4))

    wait_until(rotated, timeout, "the rewritten tokens file to take effect", interval=0.05)
    elapsed = time.monotonic() - t0
    print(f"token rotation seen after {elapsed:.2f}s")
    return elapsed


def _accepted_jwts(k: Keys):
    now = int(time.time())
    return {
        "HS256": pyjwt.encode(claims(), k.secret, algorithm="HS256"),
        "RS256-pem": pyjwt.encode(claims(sub="bob"), k.rsa, algorithm="RS256"),
        "ES256-jwks-kid": pyjwt.encode(claims(sub="carol"), k.ec, algorithm="ES256", headers={"kid": "ec-1"}),
        "ES256-jwks-only-ec-key": pyjwt.encode(claims(sub="dave"), k.ec, algorithm="ES256"),
        "exp-within-leeway": hs256(k, exp=now - 10),
        "nbf-within-leeway": hs256(k, nbf=now + 10),
        "aud-array": hs256(k, aud=["other", AUDIENCE]),
        "scp-array": hs256(k, scope=None, scp=["read", "upload"]),
    }


def _refused_jwts(k: Keys):
    now = int(time.time())
    good = claims()
    tampered = pyjwt.encode(good, k.secret, algorithm="HS256").split(".")
    tampered[1] = b64url(json.dumps(dict(good, sub="mallory")).encode())
    return {
        "alg-none-empty-sig": raw_jws({"alg": "none", "typ": "JWT"}, good, lambda si: b""),
        "alg-none-with-sig": raw_jws({"alg": "none", "typ": "JWT"}, good, lambda si: b"x" * 32),
        "alg-None-case": raw_jws({"alg": "None"}, good, lambda si: b""),
        "expired": hs256(k, exp=now - 120),
        "no-exp": hs256(k, exp=None),
        "nbf-future": hs256(k, nbf=now + 120),
        "iat-future": hs256(k, iat=now + 120, exp=now + 600),
        "wrong-issuer": hs256(k, iss="https://evil.example.com"),
        "no-issuer": hs256(k, iss=None),
        "wrong-audience": hs256(k, aud="downloads"),
        "aud-array-without": hs256(k, aud=["a", "b"]),
        "tampered-payload": ".".join(tampered),
        "wrong-hmac-secret": pyjwt.encode(good, secrets.token_bytes(48), algorithm="HS256"),
        "secret-with-newline": pyjwt.encode(good, k.secret + b"\n", algorithm="HS256"),
        "hs384-not-allowed": pyjwt.encode(good, k.secret, algorithm="HS384"),
        "rs256-unknown-key": pyjwt.encode(good, k.rsa_other, algorithm="RS256"),
        "rs256-other-routes-key": pyjwt.encode(good, k.rsa2, algorithm="RS256", headers={"kid": "rsa-2"}),
        "rs256-with-ec-kid": pyjwt.encode(good, k.rsa2, algorithm="RS256", headers={"kid": "ec-1"}),
        "es256-unknown-kid": pyjwt.encode(good, k.ec, algorithm="ES256", headers={"kid": "nope"}),
        "es256-wrong-key-for-kid": pyjwt.encode(good, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                                                headers={"kid": "ec-1"}),
        # Key confusion: the RSA public key's PEM used as an HMAC secret.
        "hs256-keyed-with-rsa-pem": raw_jws({"alg": "HS256", "typ": "JWT"}, good,
                                            lambda si: hmac.new(k.rsa_pem.read_bytes(), si, hashlib.sha256).digest()),
        "ps256-not-allowed": pyjwt.encode(good, k.rsa, algorithm="PS256"),
        "garbage-segments": "eyJhbGciOiJIUzI1NiJ9.!!!!.sig",
    }


FORGED = [("X-Auth-Subject", "root"), ("X-Auth-Scopes", "admin upload"), ("X-Uploadgate-Signature", "t=1,v1=00"),
          ("X-Uploadgate-Whatever", "x"), ("x-auth-subject", "root2")]


def _forged_args():
    out = []
    for k, v in FORGED:
        out += ["-H", f"{k}: {v}"]
    return out


def _no_forged(entry, subject=None, scopes=None):
    h = header_map(entry["headers"])
    assert not [k for k in h if k.startswith("x-uploadgate-")], f"X-Uploadgate-* reached the app: {h}"
    assert h.get("x-auth-subject") == ([subject] if subject is not None else None), h.get("x-auth-subject")
    assert h.get("x-auth-scopes") == ([scopes] if scopes is not None else None), h.get("x-auth-scopes")


@pytest.mark.parametrize("proto", ["h1", "h2c", "h2"])
def test_missing_token(auth_gw, tmp_path, proto):
    res, _ = small_upload(auth_gw, tmp_path, proto)
    assert_unauthorized(res)
    # Another scheme is no bearer token at all: the same challenge without an error.
    res, _ = small_upload(auth_gw, tmp_path, proto, "-H", "Authorization: Basic dXNlcjpwYXNz")
    assert_unauthorized(res)
    assert_clean(auth_gw)


def test_unknown_and_malformed_tokens(auth_gw, tmp_path):
    for token in ["not-a-known-token", "a.b.c", secrets.token_urlsafe(24)]:
        res, _ = small_upload(auth_gw, tmp_path, "h1", *bearer(token))
        assert_unauthorized(res, INVALID_TOKEN_RE)
    for value in ["Bearer", "Bearer ", "Bearer a b", "Bearer tok=en", "Bearer tök"]:
        res, _ = small_upload(auth_gw, tmp_path, "h1", "-H", f"Authorization: {value}")
        assert_error(res, 400, "bad_request")
        www = res.headers.get("www-authenticate") or [""]
        assert INVALID_REQUEST_RE.match(www[-1]), f"{value!r}: {res!r}"
    # Two Authorization fields (RFC 6750 2.1: one only), even if one is valid.
    res, _ = small_upload(auth_gw, tmp_path, "h2c", *bearer(auth_gw.auth.file_token), *bearer("x"))
    assert_error(res, 400, "bad_request")
    assert_clean(auth_gw)


@pytest.mark.parametrize("proto", ["h1", "h2c"])
def test_refused_large_upload_leaves_nothing(auth_gw, tmp_path, proto):
    """A 20 MiB body with a bad token (and one with none): 401, nothing stored, nothing at the app."""
    f = make_file(tmp_path / "data", "big.bin", 20 * MiB)
    for extra in [bearer("wrong-token-" + secrets.token_hex(8)), []]:
        res = curl(auth_gw, proto, "/upload", *extra, *curl_form_args([("file", f, "big.bin", None)]))
        assert_unauthorized(res, INVALID_TOKEN_RE if extra else None)
    res = curl(auth_gw, proto, "/upload", "-X", "PUT", "--data-binary", f"@{f.path}",
               "-H", "Content-Type: application/octet-stream", *bearer("wrong"))
    assert_unauthorized(res, INVALID_TOKEN_RE)
    assert_clean(auth_gw)
    wait_until(lambda: not auth_gw.internal_files(), 10, f"uploadgate's spool to be empty: {auth_gw.internal_files()}")


def test_refused_h2_stream_mid_body_leaves_nothing(auth_gw):
    """A refused HTTP/2 upload whose client keeps sending: 401 on the stream, the connection stays usable."""
    body = multipart_body([{"name": "file", "filename": "x.bin", "data": os.urandom(4 * MiB)}])
    c = H2Conn(auth_gw, timeout=20)
    try:
        sid = c.start("POST", "/upload", [("content-type", multipart_content_type()), ("authorization", "Bearer nope")])
        c.send(sid, body, end_stream=True)
        res = c.wait_response(sid, 15)
        assert res.status == 401, res
        assert INVALID_TOKEN_RE.match(res.header("www-authenticate") or ""), res
        assert res.json()["error"]["code"] == "unauthorized"
        sid2 = c.start("GET", "/health", end_stream=True)
        assert c.wait_response(sid2, 10).status == 200
    finally:
        c.close()
    assert_clean(auth_gw, exclude_paths=["/health"])


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_static_tokens_file_and_env(auth_gw, tmp_path, proto):
    s = auth_gw.auth
    for token in (s.file_token, s.env_token):
        res, f = small_upload(auth_gw, tmp_path, proto, *bearer(token))
        sub = token_subject(token)
        expect_auth_upload(auth_gw, res, f, proto, {"method": "token", "subject": sub, "scopes": [], "claims": {}},
                           sub, "")
    # The scheme is case-insensitive; the token is not.
    res, f = small_upload(auth_gw, tmp_path, proto, "-H", f"Authorization: bEaReR {s.file_token}")
    assert res.status == 201, res
    res, _ = small_upload(auth_gw, tmp_path, proto, *bearer(s.file_token.swapcase()))
    assert_unauthorized(res, INVALID_TOKEN_RE)
    # The other env entry (written with spaces around it) is a token too.
    res, _ = small_upload(auth_gw, tmp_path, proto, *bearer("other-token"))
    assert res.status == 201, res


def test_tokens_file_rename_is_reloaded(auth_gw):
    s = auth_gw.auth
    assert _status_with(auth_gw, s.file_token) == 200
    new = secrets.token_urlsafe(24)
    tmp = s.tokens_file.with_name("tokens.new")
    tmp.write_text(new + "\n")
    t0 = time.monotonic()
    os.rename(tmp, s.tokens_file)  # a new inode under the same name
    elapsed = _wait_rotation(auth_gw, new, s.file_token, t0)
    assert elapsed < ROTATION_BOUND_S, f"the new token took {elapsed:.2f}s to be accepted"
    # Env tokens are unaffected.
    assert _status_with(auth_gw, s.env_token) == 200


def test_tokens_file_kubernetes_symlink_swap(make_gateway, tmp_path, keys):
    """A Kubernetes secret volume: tokens -> ..data/tokens, ..data -> ..<timestamp>; an update swaps ..data."""
    vol = tmp_path / "secret-vol"
    (vol / "..v1").mkdir(parents=True)
    old, new = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    (vol / "..v1" / "tokens").write_text(old + "\n")
    os.symlink("..v1", vol / "..data")
    os.symlink("..data/tokens", vol / "tokens")

    def conf(cfg):
        cfg["routes"].append({"path": "/api/items", "methods": ["GET"], "pass_through": True,
                              "auth": {"tokens_file": str(vol / "tokens")}})

    gw = make_gateway(configure=conf)
    assert _status_with(gw, old) == 200
    assert _status_with(gw, new) == 401
    (vol / "..v2").mkdir()
    (vol / "..v2" / "tokens").write_text(new + "\n")
    os.symlink("..v2", vol / "..data_tmp")
    t0 = time.monotonic()
    os.rename(vol / "..data_tmp", vol / "..data")
    elapsed = _wait_rotation(gw, new, old, t0)
    assert elapsed < ROTATION_BOUND_S, f"the swapped secret took {elapsed:.2f}s to be seen"


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_jwt_accepted(auth_gw, tmp_path, keys, proto):
    for name, token in _accepted_jwts(keys).items():
        decoded = pyjwt.decode(token, options={"verify_signature": False})
        scopes = decoded.get("scp") or decoded["scope"].split(" ")
        res, f = small_upload(auth_gw, tmp_path, proto, *bearer(token))
        assert res.status == 201, f"{name}: {res!r}"
        expect_auth_upload(auth_gw, res, f, proto,
                           {"method": "jwt", "subject": decoded["sub"], "scopes": scopes,
                            "claims": {c: decoded[c] for c in ("iss", "sub", "aud", "exp") if c in decoded}},
                           decoded["sub"], " ".join(scopes))


def test_jwt_refused(auth_gw, tmp_path, keys):
    failures = []
    for name, token in _refused_jwts(keys).items():
        res, _ = small_upload(auth_gw, tmp_path, "h1", *bearer(token))
        www = res.headers.get("www-authenticate") or [""]
        if res.status == 400 and name == "garbage-segments":  # not b64token at all: a malformed request is fine
            continue
        if res.status != 401 or not INVALID_TOKEN_RE.match(www[-1]):
            failures.append(f"{name}: {res.status} {www} {res.body[:200]!r}")
            continue
        assert_unauthorized(res, INVALID_TOKEN_RE)
    assert not failures, "tokens not refused with 401 invalid_token:\n" + "\n".join(failures)
    assert_clean(auth_gw)


def test_jwt_missing_scope_is_forbidden(auth_gw, tmp_path, keys):
    for token in [hs256(keys, scope="read write"), hs256(keys, scope=None),
                  hs256(keys, scope="uploads"), hs256(keys, scope=None, scp=["read"])]:
        res, _ = small_upload(auth_gw, tmp_path, "h2c", *bearer(token))
        assert_error(res, 403, "forbidden")
        www = res.headers.get("www-authenticate")
        assert www and len(www) == 1 and INSUFFICIENT_SCOPE_RE.match(www[0]), res
    assert_clean(auth_gw)


def test_route_with_its_own_jwt_keys(auth_gw, tmp_path, keys):
    """/files/* has its own keys (EC PEM, JWKS of two RSA keys) and no iss/aud/scope requirements."""
    now = int(time.time())
    ok = {
        "es256-pem": pyjwt.encode({"sub": "erin", "exp": now + 60}, keys.ec_pem_key, algorithm="ES256"),
        "rs256-kid-rsa-2": pyjwt.encode({"sub": "gina", "exp": now + 60, "scope": "x"}, keys.rsa2, algorithm="RS256",
                                        headers={"kid": "rsa-2"}),
        "rs256-kid-rsa-3": pyjwt.encode({"sub": "hal", "exp": now + 60}, keys.rsa3, algorithm="RS256",
                                        headers={"kid": "rsa-3"}),
    }
    for name, token in ok.items():
        res, f = small_upload(auth_gw, tmp_path, "h1", *bearer(token), path="/files/a")
        assert res.status == 201, f"{name}: {res!r}"
        _, m = find_manifest(auth_gw, res.json()["id"])
        sub = pyjwt.decode(token, options={"verify_signature": False})["sub"]
        assert m.get("auth", {}).get("method") == "jwt" and m["auth"]["subject"] == sub, (name, m)
    refused = {
        "upload-route-static-token": auth_gw.auth.file_token,
        "upload-route-hs256": hs256(keys),
        "upload-route-es256-key": pyjwt.encode(claims(), keys.ec, algorithm="ES256", headers={"kid": "ec-1"}),
        "rsa-2-signed-with-kid-rsa-3": pyjwt.encode({"sub": "x", "exp": now + 60}, keys.rsa2, algorithm="RS256",
                                                    headers={"kid": "rsa-3"}),
    }
    for name, token in refused.items():
        res, _ = small_upload(auth_gw, tmp_path, "h1", *bearer(token), path="/files/a")
        assert res.status == 401, f"{name}: {res!r}"
        assert_unauthorized(res, INVALID_TOKEN_RE)
    # Routes without auth stay open.
    res, _ = small_upload(auth_gw, tmp_path, "h1", path="/limited")
    assert res.status == 201, res


@pytest.mark.parametrize("proto", ["h1", "h2c", "h2"])
def test_jwt_without_kid_verifies_with_whichever_configured_key_signed_it(auth_gw, tmp_path, keys, proto):
    """/files/* trusts two RSA keys (a JWK Set, kids rsa-2 and rsa-3): a token that names no kid is checked against
    both, so either key's token passes with its own subject; one signed by a key of neither is still refused."""
    now = int(time.time())
    for key, sub in ((keys.rsa2, "ivy"), (keys.rsa3, "jo")):
        token = pyjwt.encode({"sub": sub, "exp": now + 60}, key, algorithm="RS256")
        assert "kid" not in pyjwt.get_unverified_header(token)
        res, _ = small_upload(auth_gw, tmp_path, proto, *bearer(token), path="/files/a")
        assert res.status == 201, f"{sub}: {res!r}"
        _, m = find_manifest(auth_gw, res.json()["id"])
        assert m["auth"]["method"] == "jwt" and m["auth"]["subject"] == sub, m
    stranger = pyjwt.encode({"sub": "mallory", "exp": now + 60}, keys.rsa_other, algorithm="RS256")
    res, _ = small_upload(auth_gw, tmp_path, proto, *bearer(stranger), path="/files/a")
    assert_unauthorized(res, INVALID_TOKEN_RE)
    assert not [m for _, m in manifests_in_log(auth_gw) if m.get("auth", {}).get("subject") == "mallory"]


@pytest.mark.parametrize("proto", ["h1", "h2c"])
def test_forged_identity_headers_are_removed(auth_gw, tmp_path, keys, proto):
    token = hs256(keys, sub="alice", scope="upload")
    # Authenticated upload: uploadgate's values only.
    res, f = small_upload(auth_gw, tmp_path, proto, *bearer(token), *_forged_args())
    expect_auth_upload(auth_gw, res, f, proto, {"method": "jwt", "subject": "alice", "scopes": ["upload"]},
                       "alice", "upload")
    _no_forged(find_manifest(auth_gw, res.json()["id"])[0], "alice", "upload")
    # Open upload route: none at all.
    res, f = small_upload(auth_gw, tmp_path, proto, *_forged_args(), path="/limited")
    assert res.status == 201, res
    entry, m = find_manifest(auth_gw, res.json()["id"])
    assert m.get("auth") is None, m
    _no_forged(entry)
    # Open pass-through (no route): none at all.
    n = len(auth_gw.app_log())
    res = curl(auth_gw, proto, "/api/status/200", *_forged_args())
    assert res.status == 200, res
    (entry,) = auth_gw.app_log()[n:]
    _no_forged(entry)


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_passthrough_route_with_auth(auth_gw, keys, proto):
    payload = {"hello": "world"}
    token = hs256(keys, sub="frank", scope="upload admin")
    args = ["--data-binary", json.dumps(payload), "-H", "Content-Type: application/json", "-H", "X-Test: t1"]
    res = curl(auth_gw, proto, "/api/echo", *args, *bearer(token), *_forged_args())
    assert res.status == 200, res
    assert res.json()["json"] == payload and res.json()["headers"]["x-test"] == "t1", res
    (entry,) = auth_gw.app_log()
    assert entry["path"] == "/api/echo" and entry["method"] == "POST"
    _no_forged(entry, "frank", "upload admin")
    # Static token on the pass-through route.
    res = curl(auth_gw, proto, "/api/items", *bearer(auth_gw.auth.env_token))
    assert res.status == 200, res
    _no_forged(auth_gw.app_log()[-1], token_subject(auth_gw.auth.env_token), "")
    # Refused ones never reach the app.
    n = len(auth_gw.app_log())
    assert_unauthorized(curl(auth_gw, proto, "/api/echo", *args))
    assert_unauthorized(curl(auth_gw, proto, "/api/echo", *args, *bearer(hs256(keys, exp=int(time.time()) - 600))),
                        INVALID_TOKEN_RE)
    assert_error(curl(auth_gw, proto, "/api/items", *bearer(hs256(keys, scope="read"))), 403, "forbidden")
    assert len(auth_gw.app_log()) == n, auth_gw.app_log()[n:]
    assert auth_gw.store_entries() == []
