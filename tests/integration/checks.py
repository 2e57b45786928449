"""Assertions shared by the integration tests."""

from __future__ import annotations

import calendar
import os
import re
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from harness import (PROTOS, RECEIVED_AT_RE, UPLOAD_ID_RE, Gateway, LocalFile, Response, manifest_protocol,
                     sha256_file)

ERROR_KEYS = {"code", "message"}
# Fields of a client request that must never reach the app with a manifest.
BODY_HEADERS = ("content-encoding", "transfer-encoding", "expect", "upgrade", "http2-settings", "te", "trailer",
                "keep-alive", "proxy-connection")
VISIBLE_ASCII_RE = re.compile(r"^[\x21-\x7e]{1,200}$")


@dataclass
class Sent:
    """One file the client sent: its form field, filename and part Content-Type (None when absent)."""

    field: Optional[str]
    filename: Optional[str]
    content_type: Optional[str]
    file: LocalFile


def require_tools(why: str, skip_env: str) -> None:
    """Fails the test when `why` names a missing prerequisite (a tool or npm package), or skips it when the
    environment variable `skip_env` is "1": a machine without them is then said to lack them, never silently passed."""
    if not why:
        return
    if os.environ.get(skip_env) == "1":
        pytest.skip(why)
    pytest.fail(f"test prerequisites missing: {why} (or set {skip_env}=1)", pytrace=False)


def header_map(pairs) -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {}
    for k, v in pairs:
        out.setdefault(k.lower(), []).append(v)
    return out


def assert_error(res, status: int, code: str, limit: Optional[str] = None) -> dict:
    """An uploadgate error response: status, JSON {"error":{"code","message"}}, limit named in the message."""
    assert res.status == status, f"expected {status} {code}, got {res!r}"
    ctype = res.header("content-type") or ""
    assert ctype.split(";")[0].strip() == "application/json", f"error Content-Type is {ctype!r}: {res!r}"
    body = res.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"error body shape: {body!r}"
    err = body["error"]
    assert isinstance(err, dict) and set(err) == ERROR_KEYS, f"error body shape: {body!r}"
    assert err["code"] == code, f"expected code {code!r}: {body!r}"
    assert isinstance(err["message"], str) and err["message"], f"empty message: {body!r}"
    if limit:
        assert re.search(rf"\b{re.escape(limit)}\b", err["message"]), \
            f"message does not name the limit {limit!r}: {err['message']!r}"
    return err


def assert_nothing_reached_app(gw: Gateway, exclude_paths: Sequence[str] = ()) -> None:
    seen = [e for e in gw.app_log() if e["path"].split("?")[0] not in exclude_paths]
    assert not seen, "requests reached the app: " + ", ".join(f"{e['method']} {e['path']}" for e in seen)


def assert_clean(gw: Gateway, timeout: float = 10.0, exclude_paths: Sequence[str] = ()) -> None:
    """Nothing left under storage.dir (internal dot-names aside) and no request reached the app."""
    gw.wait_store_empty(timeout)
    assert_nothing_reached_app(gw, exclude_paths)


def parse_received_at(s: str) -> float:
    assert RECEIVED_AT_RE.match(s), f"received_at {s!r} is not RFC 3339 UTC with milliseconds"
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) + int(s[20:23]) / 1000


def manifests_in_log(gw: Gateway) -> List[Tuple[dict, dict]]:
    """(log entry, manifest) for every request of the app whose JSON body looks like a manifest."""
    out = []
    for e in gw.app_log():
        m = e.get("json")
        if isinstance(m, dict) and "files" in m and "version" in m:
            out.append((e, m))
    return out


def find_manifest(gw: Gateway, upload_id: str) -> Tuple[dict, dict]:
    found = [(e, m) for e, m in manifests_in_log(gw) if m.get("id") == upload_id]
    assert len(found) == 1, f"expected one manifest with id {upload_id} at the app, found {len(found)}: {gw.app_log()}"
    return found[0]


def check_manifest(gw: Gateway, entry: dict, manifest: dict, *, proto, http_version: str, sent: Sequence[Sent],
                   fields: Sequence[Tuple[str, str]], route: str, method: str, path: str, app_path: str,
                   request_id: Optional[str] = None, client_address: str = "127.0.0.1") -> None:
    p = PROTOS[proto] if isinstance(proto, str) else proto
    m = manifest
    assert set(m) >= {"version", "id", "route", "method", "path", "received_at", "client", "fields", "files"}, m
    assert m["version"] == 1
    assert UPLOAD_ID_RE.match(m["id"]), m["id"]
    assert m["route"] == route
    assert m["method"] == method
    assert m["path"] == path
    t = parse_received_at(m["received_at"])
    assert abs(t - time.time()) < 600, f"received_at {m['received_at']} is far from now"
    assert m["client"] == {"address": client_address, "protocol": manifest_protocol(http_version)}, m["client"]
    assert [(f["name"], f["value"]) for f in m["fields"]] == list(fields), m["fields"]
    assert len(m["files"]) == len(sent), m["files"]
    for n, (mf, s) in enumerate(zip(m["files"], sent)):
        assert mf["field"] == s.field, (n, mf)
        assert mf["filename"] == s.filename, (n, mf)
        assert mf["content_type"] == s.content_type, (n, mf)
        assert mf["path"] == gw.manifest_path(m["id"], n), (n, mf)
        assert mf["size"] == s.file.size, (n, mf)
        assert mf["sha256"] == s.file.sha256, (n, mf)

    # The request as the app received it.
    assert entry["method"] == method, entry["method"]
    if "?" in app_path:
        assert entry["path"] == app_path, entry["path"]
    else:
        assert entry["path"].split("?", 1)[0] == app_path, entry["path"]
    h = header_map(entry["headers"])
    assert h.get("content-type") == ["application/json"], h.get("content-type")
    assert h.get("content-length") == [str(entry["body_length"])], (h.get("content-length"), entry["body_length"])
    for name in BODY_HEADERS:
        assert name not in h, f"{name} reached the app: {h[name]}"
    assert h.get("x-forwarded-for") == [client_address], h.get("x-forwarded-for")
    assert h.get("x-forwarded-proto") == [p.scheme], h.get("x-forwarded-proto")
    assert h.get("x-forwarded-host") == [gw.host_header(p)], h.get("x-forwarded-host")
    rid = h.get("x-request-id")
    assert rid and len(rid) == 1, f"X-Request-Id at the app: {rid}"
    if request_id is not None:
        assert rid == [request_id]
    else:
        assert VISIBLE_ASCII_RE.match(rid[0]), rid


def expect_upload(gw: Gateway, res: Response, *, proto, sent: Sequence[Sent], fields: Sequence[Tuple[str, str]] = (),
                  route: str = "/upload", method: str = "POST", path: str = "/upload", app_path: Optional[str] = None,
                  request_id: Optional[str] = None, client_address: str = "127.0.0.1") -> dict:
    """A successful upload end to end: 201 from the app relayed, a correct manifest at the app,
    the app's checks passed (it re-hashed the files), the files moved, storage.dir empty again.
    Returns the manifest."""
    p = PROTOS[proto] if isinstance(proto, str) else proto
    assert res.status == 201, f"upload failed: {res!r}"
    if p.expect_version:
        assert res.http_version == p.expect_version, f"curl used HTTP/{res.http_version}, expected {p.expect_version}"
    body = res.json()
    entry, manifest = find_manifest(gw, body["id"])
    check_manifest(gw, entry, manifest, proto=p, http_version=res.http_version, sent=sent, fields=fields, route=route,
                   method=method, path=path, app_path=app_path or route, request_id=request_id,
                   client_address=client_address)
    # The app's answer, relayed unchanged but for the fields uploadgate writes itself: one Date, one Server (the app's
    # are dropped, as h2o's proxy drops them from pass-through responses).
    assert (res.header("content-type") or "").startswith("application/json")
    assert len(res.headers.get("date", [])) == 1, f"Date fields: {res.headers.get('date')}"
    assert [v.split("/")[0] for v in res.headers.get("server", [])] == ["uploadgate"], res.headers.get("server")
    assert len(body["files"]) == len(sent)
    for bf, s in zip(body["files"], sent):
        assert bf["size"] == s.file.size and bf["sha256"] == s.file.sha256, bf
        assert bf["filename"] == s.filename
        assert sha256_file(bf["stored_as"]) == s.file.sha256, "the file the app moved has other content"
    expected_fields: Dict[str, object] = {}
    for k, v in fields:
        if k in expected_fields:
            prev = expected_fields[k]
            expected_fields[k] = (prev if isinstance(prev, list) else [prev]) + [v]
        else:
            expected_fields[k] = v
    assert body["fields"] == expected_fields
    gw.wait_store_empty(5)
    return manifest
