"""What a test sends: files of random bytes with their SHA-256, and multipart bodies built by hand (for raw
sockets, HTTP/2 and malformed cases)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .util import MiB


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(MiB)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


@dataclass
class LocalFile:
    """A file of random bytes the test sends."""

    path: Path
    size: int
    sha256: str

    def read(self) -> bytes:
        return self.path.read_bytes()


def make_file(directory: Path, name: str, size: int) -> LocalFile:
    """Write `size` fresh random bytes to directory/name."""
    directory.mkdir(parents=True, exist_ok=True)
    p = directory / name
    h = hashlib.sha256()
    with open(p, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MiB))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return LocalFile(p, size, h.hexdigest())


def multipart_body(parts: Sequence[dict], boundary: str = "ugtestboundary7MA4YWxkTrZu0gW", close: bool = True) -> bytes:
    """parts: dicts with name, data (bytes), optional filename and content_type."""
    out = []
    for p in parts:
        disp = f'form-data; name="{p["name"]}"'
        if p.get("filename") is not None:
            disp += f'; filename="{p["filename"]}"'
        head = f"--{boundary}\r\nContent-Disposition: {disp}\r\n"
        if p.get("content_type"):
            head += f"Content-Type: {p['content_type']}\r\n"
        out.append(head.encode() + b"\r\n" + p["data"] + b"\r\n")
    if close:
        out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def multipart_content_type(boundary: str = "ugtestboundary7MA4YWxkTrZu0gW") -> str:
    return f"multipart/form-data; boundary={boundary}"
