"""The multipart test vectors of tests/data/multipart, end to end through the real server.

The parser is unit-tested on them (tests/unit); here each unambiguous case is
sent as a request body over HTTP/1.1: "ok" cases must give a manifest whose
files (parts with a filename) and fields match the vector, "error" cases a 400
malformed_multipart with nothing stored. One gateway serves all cases; every
mismatch is collected and reported at once.
"""

from __future__ import annotations

import json

from checks import assert_error, find_manifest
from harness import REPO, curl, wait_until


CASES_DIR = REPO / "tests" / "data" / "multipart" / "cases"


def corpus_route(cfg):
    cfg["routes"].insert(0, {"path": "/corpus", "methods": ["POST"], "forward_to": "/upload",
                             "limits": {"max_body": "64MiB", "max_file": "64MiB", "max_files": 64, "max_fields": 256,
                                        "max_field_size": "1MiB"}})


def load_cases():
    out = []
    for jf in sorted(CASES_DIR.glob("*.json")):
        case = json.loads(jf.read_text())
        if case.get("ambiguous") or any(p.get("name") is None for p in case["parts"]):
            continue
        out.append((jf.stem, case, jf.with_suffix(".http")))
    return out


def test_multipart_corpus_end_to_end(make_gateway):
    gw = make_gateway(configure=corpus_route)
    cases = load_cases()
    assert len(cases) > 50, f"only {len(cases)} usable cases in {CASES_DIR}"
    failures = []
    for name, case, body in cases:
        try:
            before = len(gw.app_log())
            entries_before = set(gw.store_entries())
            res = curl(gw, "h1", "/corpus", "--data-binary", f"@{body}", "-H", f"Content-Type: {case['content_type']}",
                       "-H", "Expect:", timeout=60)
            if case["expect"] == "error":
                assert_error(res, 400, "malformed_multipart")
                assert len(gw.app_log()) == before, "a request reached the app"
            else:
                assert res.status == 201, f"status {res.status}: {res.body[:300]!r}"
                _, m = find_manifest(gw, res.json()["id"])
                files = [p for p in case["parts"] if p["filename"] is not None]
                fields = [p for p in case["parts"] if p["filename"] is None]
                got_files = [(f["field"], f["filename"], f["content_type"], f["size"], f["sha256"]) for f in m["files"]]
                want_files = [(p["name"], p["filename"], p["content_type"], p["size"], p["sha256"]) for p in files]
                assert got_files == want_files, f"files\n got  {got_files}\n want {want_files}"
                assert [f["name"] for f in m["fields"]] == [p["name"] for p in fields], \
                    f"fields {m['fields']} vs {fields}"
                for got, want in zip(m["fields"], fields):
                    if "value" in want:
                        assert got["value"] == want["value"], f"field {want['name']}: {got['value']!r}"
            def new_entries():
                return [e for e in gw.store_entries() if e not in entries_before]
            if case["expect"] == "ok" and not any(p["filename"] is not None for p in case["parts"]):
                continue  # fields only: the clean-up of that case is test_fields_only_upload_leaves_nothing_on_disk
            try:
                wait_until(lambda: not new_entries(), 2, "cleanup")
            except AssertionError:
                raise AssertionError(f"left in storage.dir: {new_entries()}") from None
        except AssertionError as e:
            failures.append(f"{name} (expect {case['expect']}): {str(e).splitlines()[0][:400]}")
    assert not failures, f"{len(failures)} of {len(cases)} corpus cases failed:\n" + "\n".join(failures)
