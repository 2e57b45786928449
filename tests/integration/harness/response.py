"""A response as every client here returns it (curl, raw HTTP/1.1, HTTP/2) and header helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional


class _ResponseReading:
    """header() and json() for a response that has `headers` (lower-case name -> values) and `body`: the curl and
    HTTP/1.1 Response and the HTTP/2 H2Result read alike."""

    def header(self, name: str) -> Optional[str]:
        """The last value of header `name`, None when absent."""
        v = self.headers.get(name.lower())
        return v[-1] if v else None

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise AssertionError(f"response body is not JSON: {self!r}") from None


@dataclass
class Response(_ResponseReading):
    status: int
    headers: Dict[str, List[str]]
    body: bytes
    http_version: str = ""
    rc: int = 0
    stderr: str = ""
    info: dict = field(default_factory=dict)

    def __repr__(self):
        return (f"Response(status={self.status}, http_version={self.http_version!r}, rc={self.rc}, "
                f"headers={self.headers}, body={self.body[:300]!r}, stderr={self.stderr[-800:]!r})")


def header_values(res, name: str) -> List[str]:
    """All values of a response header (curl Response or H2Result), comma-lists split and stripped."""
    out: List[str] = []
    for v in res.headers.get(name.lower(), []):
        out += [p.strip() for p in v.split(",") if p.strip()]
    return out


def cors_headers(res) -> Dict[str, List[str]]:
    """The access-control-* headers of a response."""
    return {k: v for k, v in res.headers.items() if k.startswith("access-control-")}
