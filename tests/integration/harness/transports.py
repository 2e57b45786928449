"""The client transports tests are parametrised over (h1, h1-tls, h2c, h2c-upgrade, h2) and what the manifest
says about them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

# Shapes of the manifest's generated fields.
UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{32}$")
RECEIVED_AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@dataclass(frozen=True)
class Proto:
    name: str
    tls: bool
    curl_args: Tuple[str, ...]
    # What curl must report in %{http_version}; None: either (h2c Upgrade is
    # only done for requests without a body).
    expect_version: Optional[str]

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


PROTOS: Dict[str, Proto] = {
    "h1": Proto("h1", False, ("--http1.1",), "1.1"),
    "h2c": Proto("h2c", False, ("--http2-prior-knowledge",), "2"),
    "h2c-upgrade": Proto("h2c-upgrade", False, ("--http2",), None),
    "h2": Proto("h2", True, ("--http2",), "2"),
    "h1-tls": Proto("h1-tls", True, ("--http1.1",), "1.1"),
}

# The set most upload tests run over; h2c-upgrade is added where it matters.
UPLOAD_PROTOS = ["h1", "h2c", "h2", "h1-tls"]
ALL_PROTOS = ["h1", "h2c", "h2c-upgrade", "h2", "h1-tls"]
ERROR_PROTOS = ["h1", "h2c", "h2"]


def manifest_protocol(http_version: str) -> str:
    return {"1.1": "HTTP/1.1", "2": "HTTP/2"}[http_version]
