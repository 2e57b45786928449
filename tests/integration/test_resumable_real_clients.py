"""Resumable uploads through uploadgate by the real tus clients, to the real example app.

tus-js-client (Node, in tus mode and in its IETF draft -05 mode) and Debian's tuspy upload in chunks, are cut off mid-chunk and resume by themselves, stop and
are resumed by a second process after uploadgate restarted; Uppy's tus plugin uploads from a page of another origin
in Debian's chromium with a bearer token. Every completed upload must reach the app as exactly one manifest whose
sha256 is the source file's; the example app re-hashes the stored file and refuses (422) one that differs, which
the client would see as a failed upload.
"""

from __future__ import annotations

import os
import secrets

import pytest

from checks import manifests_in_log, require_tools
from harness import MiB, free_port, make_file
from harness.relay import Relay
from harness.tus_clients import EXIT_STOPPED, missing_resumable_clients, tus_js, tuspy, uppy

ROUTE = "/tus/"


@pytest.fixture(autouse=True)
def resumable_ready():
    require_tools(missing_resumable_clients(), "UG_SKIP_RESUMABLE")


@pytest.fixture
def gateway_for(make_gateway, tmp_path):
    """A gateway with a resumable route /tus/* (its manifests go to the example app's /upload), optionally with
    bearer tokens and a CORS policy for one page origin."""
    def make(token=None, origin=None):

        def configure(cfg):
            route = {"path": "/tus/*", "forward_to": "/upload", "limits": {"max_file": "64MiB"},
                     "resumable": {"expires": "1h", "max_chunk": "8MiB"}}
            if token:
                tokens = tmp_path / "tokens"
                tokens.write_text(token + "\n")
                route["auth"] = {"tokens_file": str(tokens)}
            if origin:
                route["cors"] = {"allow_origins": [origin], "allow_methods": ["POST", "PATCH", "HEAD", "DELETE"],
                                 "allow_headers": ["Authorization", "Tus-Resumable", "Upload-Length",
                                                   "Upload-Metadata", "Upload-Offset", "Content-Type"]}
            cfg["routes"].insert(0, route)
        return make_gateway(configure=configure)
    return make


def one_manifest(gw, f, filename=None, content_type=None) -> dict:
    """The app got exactly one manifest, for `f`: its sha256, size and (when given) filename and content type."""
    ms = [m for _, m in manifests_in_log(gw)]
    assert len(ms) == 1, ms
    [entry] = ms[0]["files"]
    assert entry["sha256"] == f.sha256 and entry["size"] == f.size, entry
    if filename is not None:
        assert entry["filename"] == filename, entry
    if content_type is not None:
        assert entry["content_type"] == content_type, entry
    return ms[0]


def endpoint(gw, port=None) -> str:
    return f"http://127.0.0.1:{port or gw.port}{ROUTE}"


# --- tus-js-client -----------------------------------------------------------------------------------------------


def test_tus_js_client_uploads_in_chunks(gateway_for, tmp_path):
    f = make_file(tmp_path / "src", "video.bin", 3 * MiB + 1234)
    token = secrets.token_hex(12)
    gw = gateway_for(token=token)
    rc, out = tus_js(endpoint(gw), f.path, "--chunk-size", str(MiB), "--token", token, "--filetype", "video/mp4",
                     "--meta", "album=holiday 2026")
    assert rc == 0 and out["ok"], out
    # The completing PATCH is answered 204 once the app accepted the manifest.
    assert out["status"] == 204 and out["bytes"] == f.size, out
    assert [r["method"] for r in out["requests"]] == ["POST", "PATCH", "PATCH", "PATCH", "PATCH"], out["requests"]
    m = one_manifest(gw, f, "video.bin", "video/mp4")
    assert {x["name"]: x["value"] for x in m["fields"]} == {"album": "holiday 2026"}, m
    gw.wait_store_empty()


def test_tus_js_client_parallel_uploads_are_joined_into_one_manifest(gateway_for, tmp_path):
    """parallelUploads: partial uploads in parallel, then a final upload (tus concatenation) that uploadgate joins and
    hands to the app once, with the final upload's metadata; the partial uploads are gone afterwards."""
    f = make_file(tmp_path / "src", "parallel.bin", 5 * MiB + 4321)
    gw = gateway_for()
    rc, out = tus_js(endpoint(gw), f.path, "--parallel", "3", "--chunk-size", str(MiB), "--meta", "album=split")
    assert rc == 0 and out["ok"] and out["status"] == 201, out
    posts = [r for r in out["requests"] if r["method"] == "POST"]
    assert len(posts) == 4 and all(r["status"] == 201 for r in posts), out["requests"]
    m = one_manifest(gw, f, "parallel.bin")
    assert {x["name"]: x["value"] for x in m["fields"]} == {"album": "split"}, m
    final_id = out["url"].rsplit("/", 1)[1]
    assert sorted(os.listdir(gw.store_dir / ".resumable")) == [final_id]  # the partial uploads went


def test_tus_js_client_ietf_draft_05_uploads_to_the_app(gateway_for, tmp_path):
    f = make_file(tmp_path / "src", "draft.bin", 3 * MiB + 4321)
    token = secrets.token_hex(12)
    gw = gateway_for(token=token)
    rc, out = tus_js(endpoint(gw), f.path, "--chunk-size", str(MiB), "--token", token, "--filetype", "video/mp4",
                     "--protocol", "ietf-draft-05")
    assert rc == 0 and out["ok"] and out["bytes"] == f.size, out
    # The completing PATCH is answered with the app's own answer, and where the upload stands.
    assert out["status"] == 201 and "draft.bin" in (out["body"] or ""), out
    assert out["headers"].get("upload-offset") == str(f.size), out
    assert [r["method"] for r in out["requests"]] == ["POST", "PATCH", "PATCH", "PATCH", "PATCH"], out["requests"]
    one_manifest(gw, f, "draft.bin", "video/mp4")
    gw.wait_store_empty()


def test_tus_js_client_without_a_token_is_refused_and_nothing_is_stored(gateway_for, tmp_path):
    f = make_file(tmp_path / "src", "a.bin", 200 * 1024)
    gw = gateway_for(token=secrets.token_hex(12))
    rc, out = tus_js(endpoint(gw), f.path, "--token", "not-the-token")
    assert rc == 1 and not out["ok"] and out["status"] == 401, out
    assert manifests_in_log(gw) == [] and gw.store_entries() == []


def test_tus_js_client_resumes_after_a_cut_mid_chunk(gateway_for, tmp_path):
    f = make_file(tmp_path / "src", "big.bin", 3 * MiB)
    gw = gateway_for()
    relay = Relay(("127.0.0.1", gw.port), cut_after=MiB + MiB // 2)
    try:
        rc, out = tus_js(f"{relay.url}{ROUTE}", f.path, "--chunk-size", str(MiB), "--retry-delays", "0,100,200,400")
    finally:
        relay.close()
    assert rc == 0 and out["ok"] and out["status"] == 204, out
    assert relay.cuts and relay.cuts[0]["request_line"].startswith("PATCH /tus/"), relay.cuts
    reqs = out["requests"]
    failed = [i for i, r in enumerate(reqs) if r["method"] == "PATCH" and not r.get("status")]
    assert len(failed) == 1, reqs
    head = reqs[failed[0] + 1]
    assert head["method"] == "HEAD" and head["status"] == 200, reqs
    # What uploadgate kept of the cut PATCH (durably) is what it reports; the client went on from there.
    kept = int(head["responseOffset"])
    assert MiB <= kept <= MiB + MiB // 2, reqs
    assert reqs[failed[0] + 2]["offset"] == str(kept), reqs
    one_manifest(gw, f, "big.bin")


def test_tus_js_client_resumes_in_a_second_process_after_uploadgate_restarted(gateway_for, tmp_path):
    f = make_file(tmp_path / "src", "movie.bin", 3 * MiB + 17)
    gw = gateway_for()
    relay = Relay(("127.0.0.1", gw.port))  # one address for the client across the restart
    store = tmp_path / "tus-urls.json"
    try:
        rc, first = tus_js(f"{relay.url}{ROUTE}", f.path, "--chunk-size", str(MiB), "--store", str(store),
                           "--stop-after", str(MiB))
        assert rc == EXIT_STOPPED and first["stopped"] and first["bytes"] == MiB, first
        gw.stop()
        gw.start()
        relay.target = ("127.0.0.1", gw.port)
        rc, second = tus_js(f"{relay.url}{ROUTE}", f.path, "--chunk-size", str(MiB), "--store", str(store))
    finally:
        relay.close()
    assert rc == 0 and second["ok"] and second["url"] == first["url"] and second["status"] == 204, second
    assert second["requests"][0]["method"] == "HEAD" and second["requests"][0]["responseOffset"] == str(MiB), second
    assert not any(r["method"] == "POST" for r in second["requests"]), second
    # The sha256 covers the bytes the first process stored too.
    one_manifest(gw, f, "movie.bin")


# --- tuspy -------------------------------------------------------------------------------------------------------


def test_tuspy_uploads_with_checksums(gateway_for, tmp_path):
    f = make_file(tmp_path / "src", "scan.pdf", 2 * MiB + 99)
    gw = gateway_for()
    rc, out = tuspy(endpoint(gw), f.path, "--chunk-size", str(MiB), "--filetype", "application/pdf",
                    "--meta", "owner=ada", "--checksum")
    assert rc == 0 and out["ok"] and out["status"] == 204, out
    m = one_manifest(gw, f, "scan.pdf", "application/pdf")
    assert {x["name"]: x["value"] for x in m["fields"]} == {"owner": "ada"}, m


def test_tuspy_resumes_in_a_second_process_after_uploadgate_restarted(gateway_for, tmp_path):
    f = make_file(tmp_path / "src", "doc.bin", 3 * MiB)
    gw = gateway_for()
    relay = Relay(("127.0.0.1", gw.port))
    store = tmp_path / "tuspy-urls.json"
    try:
        rc, first = tuspy(f"{relay.url}{ROUTE}", f.path, "--chunk-size", str(MiB), "--store", str(store),
                          "--stop-after", str(MiB))
        assert rc == EXIT_STOPPED and first["stopped"], first
        gw.stop()
        gw.start()
        relay.target = ("127.0.0.1", gw.port)
        rc, second = tuspy(f"{relay.url}{ROUTE}", f.path, "--chunk-size", str(MiB), "--store", str(store))
    finally:
        relay.close()
    assert rc == 0 and second["ok"] and second["resumed_offset"] == MiB, second
    one_manifest(gw, f, "doc.bin")


# --- Uppy in chromium --------------------------------------------------------------------------------------------


def test_uppy_uploads_cross_origin_with_a_bearer_token(gateway_for, tmp_path):
    f = make_file(tmp_path / "src", "photo.jpg", 2 * MiB + 4321)
    page_port = free_port()
    origin = f"http://127.0.0.1:{page_port}"
    token = secrets.token_hex(12)
    gw = gateway_for(token=token, origin=origin)
    out = uppy(tmp_path, endpoint(gw), f, page_port, token)
    res = out["result"]
    assert res["ok"], out
    # The completing PATCH's answer, read by the page through CORS.
    assert res["status"] == 204 and res["bytes"] == f.size, res
    m = one_manifest(gw, f, "photo.jpg", "image/jpeg")
    assert {x["name"]: x["value"] for x in m["fields"]}.get("caption") == "from Uppy", m


def test_tus_js_client_ietf_draft_05_on_an_ordinary_raw_route(make_gateway, tmp_path):
    """No resumable: block: the default /upload route takes the draft's requests as they come (tus-js-client sends the
    file raw, as one-request raw uploads are sent), the upload's URL is under /.uploadgate/uploads/, and the example
    app gets the manifest of a one-request raw POST of the file (it re-hashes the stored file)."""
    f = make_file(tmp_path / "src", "plain.bin", 3 * MiB + 999)
    gw = make_gateway()
    rc, out = tus_js(f"http://127.0.0.1:{gw.port}/upload", f.path, "--chunk-size", str(MiB), "--protocol",
                     "ietf-draft-05")
    assert rc == 0 and out["ok"] and out["bytes"] == f.size, out
    assert out["url"].split("127.0.0.1:")[-1].split("/", 1)[1].startswith(".uploadgate/uploads/"), out
    assert [r["method"] for r in out["requests"]] == ["POST", "PATCH", "PATCH", "PATCH", "PATCH"], out["requests"]
    # the example app answers a manifest with 201, relayed to the completing PATCH with where the upload stands
    assert out["status"] == 201 and out["headers"].get("upload-offset") == str(f.size), out
    m = one_manifest(gw, f)
    assert m["method"] == "POST" and m["path"] == "/upload", m
