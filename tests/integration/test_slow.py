"""A long, slow upload: 100 MiB at 2 MiB/s over HTTP/1.1 (about 50 s).
"""

from __future__ import annotations

import time

import pytest

from checks import Sent, expect_upload
from harness import MiB, curl, curl_form_args, make_file


@pytest.mark.slow
def test_100mib_at_2mib_per_second_http1(gateway, tmp_path):
    f = make_file(tmp_path / "data", "big.bin", 100 * MiB)
    t0 = time.monotonic()
    res = curl(gateway, "h1", "/upload", "--limit-rate", "2M",
               *curl_form_args([("file", f, "big.bin", "application/octet-stream")], [("title", "slow")]),
               timeout=180)
    elapsed = time.monotonic() - t0
    assert res.rc == 0, res
    expect_upload(gateway, res, proto="h1", sent=[Sent("file", "big.bin", "application/octet-stream", f)],
                  fields=[("title", "slow")])
    assert elapsed > 40, f"took only {elapsed:.1f}s: curl's rate limit did not apply"
