"""The resumable-upload client drivers (tests/resumable/) proven against the reference tus server.

The server here is @tus/server with @tus/file-store (tests/resumable/tus_peer.mjs) on loopback; every test checks
the bytes the server stored against the source file (sha256), and what the client sent as the server saw it (the
peer's request log). The same drivers are meant to run unchanged against uploadgate's tus endpoint:

  tus-js-client (Node)   tests/resumable/tus_upload.mjs: chunked, cut mid-chunk through a relay and resumed by the
                         client itself, stopped and resumed by a second process, parallel uploads (concatenation)
  tuspy (Debian)         tests/resumable/tuspy_upload.py: chunked with metadata and Upload-Checksum, stopped and
                         resumed by a second process
  Uppy in chromium       tests/resumable/uppy_upload.mjs: @uppy/core + @uppy/tus, cross-origin with a bearer token

Needs: apt `nodejs`, `chromium`, `python3-tuspy`, and `npm ci --prefix tests/resumable`. Set UG_SKIP_RESUMABLE=1 to
skip these tests on a machine without them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from checks import require_tools
from harness import KiB, MiB, Proc, free_port, make_file, sha256_file, tail, wait_until
from harness.relay import Relay
from harness.tus_clients import (EXIT_STOPPED, RESUMABLE_DIR, decode_metadata, missing_resumable_clients, patches, tus_js,
                                 tuspy, uppy)

pytestmark = pytest.mark.peers


@pytest.fixture(autouse=True)
def resumable_ready():
    require_tools(missing_resumable_clients(), "UG_SKIP_RESUMABLE")


class TusPeer:
    """tests/resumable/tus_peer.mjs on 127.0.0.1 (a kernel-chosen port unless `port` is given), storing in `store`."""

    def __init__(self, store: Path, log_dir: Path, port: int = 0, args: Tuple[str, ...] = ()):
        self.store = store
        self.request_log = log_dir / f"requests-{secrets.token_hex(4)}.jsonl"
        self.proc = Proc(["node", str(RESUMABLE_DIR / "tus_peer.mjs"), "--dir", str(store), "--port", str(port),
                          "--log", str(self.request_log), *args],
                         log_dir / f"tus-peer-{secrets.token_hex(4)}.log", cwd=str(RESUMABLE_DIR))
        line = wait_until(self._ready_line, 20, "the tus peer to listen")
        info = json.loads(line)
        self.port, self.url = info["port"], info["url"]

    def _ready_line(self) -> Optional[str]:
        assert self.proc.alive(), f"tus peer exited:\n{tail(self.proc.output())}"
        return next((x for x in self.proc.output().splitlines() if x.startswith('{"port"')), None)

    def stop(self) -> None:
        self.proc.stop()

    def stored(self, upload_url: str) -> Path:
        return self.store / upload_url.rstrip("/").rsplit("/", 1)[1]

    def requests(self) -> List[dict]:
        if not self.request_log.exists():
            return []
        return [json.loads(x) for x in self.request_log.read_text().splitlines() if x]


@pytest.fixture
def make_peer(tmp_path):
    peers = []

    def make(port: int = 0, args: Tuple[str, ...] = (), store: Optional[Path] = None) -> TusPeer:
        store = store or tmp_path / "tus-store"
        store.mkdir(exist_ok=True)
        peer = TusPeer(store, tmp_path, port, args)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.stop()
        print(f"--- tus peer output (tail) ---\n{tail(peer.proc.output(), 30)}")


# --- tus-js-client ---------------------------------------------------------------------------------------------


def test_tus_js_client_driver_chunked_upload_reference_server(tmp_path, make_peer):
    f = make_file(tmp_path / "src", "video.bin", 3 * MiB + 1234)
    token = secrets.token_hex(8)
    peer = make_peer(args=("--token", token, "--finish-json"))
    rc, out = tus_js(peer.url, f.path, "--chunk-size", str(MiB), "--token", token, "--filetype", "video/mp4",
                     "--meta", "album=holiday 2026")
    assert rc == 0 and out["ok"], out
    assert out["bytes"] == f.size and out["size"] == f.size
    assert sha256_file(peer.stored(out["url"])) == f.sha256
    # The last response (onSuccess's lastResponse) is what the driver reports: the peer's 200 + JSON.
    assert out["status"] == 200, out
    assert json.loads(out["body"]) == {"id": peer.stored(out["url"]).name, "size": f.size, "sha256": f.sha256,
                                       "metadata": {"filename": "video.bin", "filetype": "video/mp4",
                                                    "album": "holiday 2026"}}
    # One POST, then one PATCH per chunk at the chunk boundaries.
    assert [r["method"] for r in out["requests"]] == ["POST", "PATCH", "PATCH", "PATCH", "PATCH"], out["requests"]
    assert [r["offset"] for r in patches(out)] == [str(n * MiB) for n in range(4)]
    seen = peer.requests()
    assert all(r["headers"].get("authorization") == f"Bearer {token}" for r in seen), seen
    (create,) = [r for r in seen if r["method"] == "POST"]
    assert create["headers"]["upload-length"] == str(f.size)
    assert decode_metadata(create["headers"]["upload-metadata"]) == {
        "filename": "video.bin", "filetype": "video/mp4", "album": "holiday 2026"}
    # tus-js-client implements no checksum extension: no PATCH carries Upload-Checksum.
    assert not any("upload-checksum" in r["headers"] for r in seen), seen
    assert all(r["headers"]["content-type"] == "application/offset+octet-stream"
               for r in seen if r["method"] == "PATCH")


def test_tus_js_client_driver_reports_refusal_reference_server(tmp_path, make_peer):
    f = make_file(tmp_path / "src", "a.bin", 100 * KiB)
    peer = make_peer(args=("--token", "right"))
    rc, out = tus_js(peer.url, f.path, "--token", "wrong")
    assert rc == 1 and not out["ok"], out
    assert out["status"] == 401, out
    assert json.loads(out["body"])["error"]["code"] == "unauthorized", out
    assert list(peer.store.iterdir()) == []


def test_tus_js_client_driver_resumes_after_mid_chunk_cut_reference_server(tmp_path, make_peer):
    f = make_file(tmp_path / "src", "big.bin", 3 * MiB)
    peer = make_peer()
    # The creation POST and the first 1 MiB PATCH pass; the cut falls half a MiB into the second PATCH's body.
    relay = Relay(("127.0.0.1", peer.port), cut_after=MiB + MiB // 2)
    try:
        rc, out = tus_js(f"{relay.url}/files", f.path, "--chunk-size", str(MiB), "--retry-delays", "0,100,200,400")
    finally:
        relay.close()
    assert rc == 0 and out["ok"], out
    assert sha256_file(peer.stored(out["url"])) == f.sha256
    # The relay cut a PATCH (mid-body: the cut came 512 KiB past the end of the first chunk's headers).
    assert relay.cuts[0]["why"] == "after cut_after bytes", relay.cuts
    assert relay.cuts[0]["request_line"].startswith("PATCH /files/"), relay.cuts
    # tus-js-client saw the reset, asked the server for the offset (HEAD) and went on from there by itself.
    reqs = out["requests"]
    failed = [i for i, r in enumerate(reqs) if r["method"] == "PATCH" and not r.get("status")]
    assert len(failed) == 1 and reqs[failed[0]]["offset"] == str(MiB), reqs
    head = reqs[failed[0] + 1]
    assert head["method"] == "HEAD" and head["status"] == 200, reqs
    kept = int(head["responseOffset"])
    assert MiB <= kept <= MiB + MiB // 2, reqs   # what reached the server before the cut, at most
    assert reqs[failed[0] + 2]["method"] == "PATCH" and reqs[failed[0] + 2]["offset"] == str(kept), reqs
    assert relay.connections >= 2


@pytest.mark.parametrize("mode", ["--with-creation", "--defer-length"])
def test_tus_js_client_driver_creation_extensions_reference_server(tmp_path, make_peer, mode):
    f = make_file(tmp_path / "src", "clip.bin", 2 * MiB + 5)
    peer = make_peer()
    rc, out = tus_js(peer.url, f.path, "--chunk-size", str(MiB), mode)
    assert rc == 0 and out["ok"], out
    assert sha256_file(peer.stored(out["url"])) == f.sha256
    seen = peer.requests()
    (create,) = [r["headers"] for r in seen if r["method"] == "POST"]
    sent_patches = [r["headers"] for r in seen if r["method"] == "PATCH"]
    if mode == "--with-creation":
        # creation-with-upload: the first chunk rides on the POST.
        assert create["content-type"] == "application/offset+octet-stream" and create["content-length"] == str(MiB)
        assert [h["upload-offset"] for h in sent_patches] == [str(MiB), str(2 * MiB)], seen
    else:
        # creation-defer-length: no length at creation; a PATCH declares it.
        assert create["upload-defer-length"] == "1" and "upload-length" not in create, create
        assert [h.get("upload-length") for h in sent_patches if "upload-length" in h] == [str(f.size)], seen


def stop_restart_resume(make_peer, client, f, store: Path):
    """The client stops after the first MiB (exit 3), the server restarts on the same port with the same store, and
    a second client process with the same URL store resumes. Returns (new peer, first result, second result)."""
    peer = make_peer()
    rc, first = client(peer.url, f.path, "--chunk-size", str(MiB), "--store", str(store), "--stop-after", str(MiB))
    assert rc == EXIT_STOPPED and first["stopped"] and first["bytes"] == MiB, first
    assert peer.stored(first["url"]).stat().st_size == MiB
    port = peer.port
    peer.stop()
    peer = make_peer(port=port)
    rc, second = client(peer.url, f.path, "--chunk-size", str(MiB), "--store", str(store))
    assert rc == 0 and second["ok"] and second["url"] == first["url"], second
    assert sha256_file(peer.stored(second["url"])) == f.sha256
    return peer, first, second


def test_tus_js_client_driver_resumes_in_second_process_reference_server(tmp_path, make_peer):
    f = make_file(tmp_path / "src", "movie.bin", 3 * MiB)
    _, first, second = stop_restart_resume(make_peer, tus_js, f, tmp_path / "tus-urls.json")
    assert second["resumedFrom"] == first["url"], second
    assert [(r["method"], r.get("responseOffset")) for r in second["requests"][:1]] == [("HEAD", str(MiB))]
    assert [r["offset"] for r in patches(second)] == [str(MiB), str(2 * MiB)], second["requests"]
    assert not any(r["method"] == "POST" for r in second["requests"])


def test_tus_js_client_driver_parallel_uploads_reference_server(tmp_path, make_peer):
    f = make_file(tmp_path / "src", "par.bin", 3 * MiB + 7)
    peer = make_peer()
    rc, out = tus_js(peer.url, f.path, "--parallel", "3")
    assert rc == 0 and out["ok"], out
    assert sha256_file(peer.stored(out["url"])) == f.sha256
    concat = [r["headers"].get("upload-concat") for r in peer.requests() if r["method"] == "POST"]
    assert concat[:3] == ["partial"] * 3, concat
    assert concat[3].startswith("final;") and len(concat[3].split()) == 3, concat
    assert out["status"] == 201 and out["headers"]["location"] == out["url"], out


# --- tuspy -----------------------------------------------------------------------------------------------------


def test_tuspy_driver_chunked_upload_with_checksum_reference_server(tmp_path, make_peer):
    f = make_file(tmp_path / "src", "scan.pdf", 2 * MiB + 99)
    peer = make_peer(args=("--token", "t0k"))
    rc, out = tuspy(peer.url, f.path, "--chunk-size", str(MiB), "--token", "t0k", "--filetype", "application/pdf",
                    "--meta", "owner=ada", "--checksum")
    assert rc == 0 and out["ok"], out
    assert out["bytes"] == f.size and out["status"] == 204, out
    assert sha256_file(peer.stored(out["url"])) == f.sha256
    seen = peer.requests()
    assert [r["method"] for r in seen] == ["POST", "PATCH", "PATCH", "PATCH"], seen
    assert all(r["headers"]["authorization"] == "Bearer t0k" for r in seen)
    assert decode_metadata(seen[0]["headers"]["upload-metadata"]) == {
        "filename": "scan.pdf", "filetype": "application/pdf", "owner": "ada"}
    # tuspy's checksum: "sha1 <base64 of the chunk's SHA-1>" on every PATCH.
    data = f.read()
    sums = [r["headers"]["upload-checksum"] for r in seen[1:]]
    want = ["sha1 " + base64.b64encode(hashlib.sha1(data[i:i + MiB]).digest()).decode() for i in (0, MiB, 2 * MiB)]
    assert sums == want


def test_tuspy_driver_retries_after_mid_chunk_cut_reference_server(tmp_path, make_peer):
    f = make_file(tmp_path / "src", "cut.bin", 3 * MiB)
    peer = make_peer()
    relay = Relay(("127.0.0.1", peer.port), cut_after=MiB + MiB // 2)
    try:
        rc, out = tuspy(f"{relay.url}/files", f.path, "--chunk-size", str(MiB), "--retries", "2",
                        "--retry-delay", "0.1")
    finally:
        relay.close()
    assert rc == 0 and out["ok"], out
    assert sha256_file(peer.stored(out["url"])) == f.sha256
    assert relay.cuts[0]["request_line"].startswith("PATCH /files/"), relay.cuts
    # tuspy's retry: HEAD for the offset the server kept, then PATCH from there.
    seen = [(r["method"], r["headers"].get("upload-offset")) for r in peer.requests()]
    i = seen.index(("HEAD", None))
    assert seen[i - 1] == ("PATCH", str(MiB)) and seen[i + 1][0] == "PATCH", seen
    assert MiB <= int(seen[i + 1][1]) <= MiB + MiB // 2, seen


def test_tuspy_driver_resumes_in_second_process_reference_server(tmp_path, make_peer):
    f = make_file(tmp_path / "src", "doc.bin", 3 * MiB)
    peer, _, second = stop_restart_resume(make_peer, tuspy, f, tmp_path / "tuspy-urls.json")
    assert second["resumed_offset"] == MiB, second
    seen = peer.requests()
    assert [(r["method"], r["headers"].get("upload-offset")) for r in seen] == [
        ("HEAD", None), ("PATCH", str(MiB)), ("PATCH", str(2 * MiB))], seen


# --- Uppy in chromium ------------------------------------------------------------------------------------------


def test_uppy_driver_cross_origin_bearer_upload_reference_server(tmp_path, make_peer):
    f = make_file(tmp_path / "src", "photo.jpg", 2 * MiB + 4321)
    page_port = free_port()
    origin = f"http://127.0.0.1:{page_port}"
    token = secrets.token_hex(8)
    peer = make_peer(args=("--token", token, "--allow-origin", origin, "--finish-json"))
    out = uppy(tmp_path, peer.url, f, page_port, token)
    res = out["result"]
    assert res["ok"], out
    assert res["bytes"] == f.size and res["size"] == f.size, res
    assert sha256_file(peer.stored(res["uploadURL"])) == f.sha256
    # The last PATCH's answer, read through CORS: 200 and the peer's JSON.
    assert res["status"] == 200, res
    body = json.loads(res["body"])
    assert body["sha256"] == f.sha256 and body["metadata"]["caption"] == "from Uppy", body
    assert body["metadata"]["filename"] == "photo.jpg" and body["metadata"]["filetype"] == "image/jpeg", body
    seen = peer.requests()
    # Cross-origin with Authorization: the browser preflighted; every tus request carried the token and the origin.
    assert any(r["method"] == "OPTIONS" for r in seen), seen
    tus_reqs = [r for r in seen if r["method"] != "OPTIONS"]
    assert [r["method"] for r in tus_reqs] == ["POST", "PATCH", "PATCH", "PATCH"], tus_reqs
    assert all(r["headers"].get("authorization") == f"Bearer {token}" for r in tus_reqs), tus_reqs
    assert all(r["headers"].get("origin") == origin for r in tus_reqs), tus_reqs


def test_uppy_driver_reports_refused_token_reference_server(tmp_path, make_peer):
    f = make_file(tmp_path / "src", "photo.jpg", 100 * KiB)
    page_port = free_port()
    peer = make_peer(args=("--token", "right", "--allow-origin", f"http://127.0.0.1:{page_port}"))
    out = uppy(tmp_path, peer.url, f, page_port, "wrong")
    res = out["result"]
    assert not res["ok"] and "401" in res["error"], res
    assert list(peer.store.iterdir()) == []
