"""Crash recovery: an upload that never reached the app does not outlive a crash; one the app accepted does.
"""

from __future__ import annotations

import json
import os
import signal

from harness import HTTP1Reader, KiB, connect, http1_head, multipart_body, multipart_content_type, wait_until


FILE = 256 * KiB


def form(files):
    return multipart_body([{"name": f"f{i}", "filename": f"f{i}.bin", "content_type": "application/octet-stream",
                            "data": d} for i, d in enumerate(files)])


def upload_dirs(gw):
    return sorted(p.name for p in gw.store_dir.iterdir() if not p.name.startswith("."))


def files_in(gw, name):
    return sorted(p.name for p in (gw.store_dir / name).iterdir())


def test_sigkill_mid_body_leaves_only_the_handed_off_upload_after_restart(make_gateway, make_capture):
    """One upload accepted by the app (which leaves its files where they are); then four multi-file uploads cut off at different points (before any file,
    inside the first, after two complete files, inside the fourth after three complete ones); SIGKILL; restart without
    storage.retention: only the accepted upload is left, byte-exact, and the removal is logged."""
    app = make_capture("app", status=201, headers=[("Content-Type", "application/json")], body='{"ok":true}')
    gw = make_gateway(app=False, backend_url=app.backend_url)

    accepted = [os.urandom(FILE + i) for i in range(3)]
    body = form(accepted)
    with connect(gw) as s:
        s.sendall(http1_head("POST", "/upload", gw.authority, [("Content-Type", multipart_content_type()),
                                                                ("Content-Length", str(len(body)))]) + body)
        r = HTTP1Reader(s).read_response()
    assert r.status == 201, r
    manifest = json.loads(app.log()[0]["body"])
    kept_id = manifest["id"]
    assert [f["path"] for f in manifest["files"]] == [gw.manifest_path(kept_id, i) for i in range(3)]
    assert upload_dirs(gw) == [kept_id], "the manifest names the directory's final place"

    # (bytes of the body to send, files complete on disk once they have arrived, a file being written?)
    datas = [os.urandom(FILE) for _ in range(4)]
    body = form(datas)
    starts = [body.index(d) for d in datas]
    cuts = [
        (0, 0, False),                              # head only: the directory exists before its first file
        (starts[0] + FILE // 2, 0, True),           # inside the first file
        (starts[2] - 10, 2, False),                 # two files complete, the third's part head not yet
        (starts[3] + FILE // 2, 3, True),           # three complete, the fourth half written
    ]
    socks = []
    for n, _, _ in cuts:
        s = connect(gw)
        s.sendall(http1_head("POST", "/upload", gw.authority, [("Content-Type", multipart_content_type()),
                                                                ("Content-Length", str(len(body)))]) + body[:n])
        socks.append(s)

    def all_arrived():
        incoming = [d for d in upload_dirs(gw) if d.endswith(".incoming")]
        if len(incoming) != len(cuts):
            return False
        want = sorted(([str(i) for i in range(done)] + ([f"{done}.part"] if writing else []))
                      for _, done, writing in cuts)
        got = sorted(files_in(gw, d) for d in incoming)
        if got != want:
            return False
        # every complete file is complete on disk, and a half-sent one has all its bytes so far
        return all(os.path.getsize(gw.store_dir / d / f) == FILE for d in incoming for f in files_in(gw, d)
                   if not f.endswith(".part"))
    wait_until(all_arrived, 20, "the cut-off uploads to be stored as far as they were sent")
    assert not any(d == kept_id + ".incoming" for d in upload_dirs(gw))

    gw.proc.signal(signal.SIGKILL)
    assert gw.proc.popen.wait(10) == -signal.SIGKILL
    gw.proc.stopped_by_us = True
    for s in socks:
        s.close()
    assert len(upload_dirs(gw)) == 1 + len(cuts), "the crash removed something itself"

    gw.start()
    assert upload_dirs(gw) == [kept_id]
    assert files_in(gw, kept_id) == ["0", "1", "2"]
    for i, d in enumerate(accepted):
        assert (gw.store_dir / kept_id / str(i)).read_bytes() == d
    events = [json.loads(line) for line in gw.log().splitlines() if line.strip()]
    assert any(e.get("event") == "janitor" and e["msg"].startswith(f"removed {len(cuts)} upload directories an earlier "
                                                                    "run never handed to the application")
               for e in events), events
    # The recovered gateway takes uploads as before.
    with connect(gw) as s:
        small = form([b"after"])
        s.sendall(http1_head("POST", "/upload", gw.authority, [("Content-Type", multipart_content_type()),
                                                                ("Content-Length", str(len(small)))]) + small)
        assert HTTP1Reader(s).read_response().status == 201
