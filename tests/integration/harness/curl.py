"""The curl driver: one transfer per call, over any transport, returning a Response."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .bodies import LocalFile
from .gateway import Gateway
from .response import Response
from .transports import PROTOS
from .util import CURL


def parse_header_blocks(raw: bytes) -> Tuple[str, Dict[str, List[str]], List[str]]:
    """Parse curl -D output; returns (final status line, final headers, all status lines)."""
    text = raw.decode("latin-1")
    blocks = [b for b in re.split(r"\r?\n\r?\n", text) if b.strip()]
    status_lines = []
    headers: Dict[str, List[str]] = {}
    status_line = ""
    for b in blocks:
        lines = b.splitlines()
        if not lines or not lines[0].startswith("HTTP/"):
            continue
        status_line = lines[0]
        status_lines.append(status_line)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers.setdefault(k.strip().lower(), []).append(v.strip())
    return status_line, headers, status_lines


def curl(gw: Gateway, proto, path: str, *args: str, timeout: float = 180.0, check: bool = False) -> Response:
    """One curl transfer to `path` on `gw` over `proto`; extra curl args go in *args."""
    p = PROTOS[proto] if isinstance(proto, str) else proto
    tmp = gw.workdir / "curl"
    tmp.mkdir(exist_ok=True)
    tag = f"{time.monotonic_ns()}"
    body_path, head_path = tmp / f"{tag}.body", tmp / f"{tag}.head"
    argv = [CURL, "-sS", *p.curl_args, "-o", str(body_path), "-D", str(head_path), "-w", "%{json}",
            "--max-time", str(int(timeout))]
    if p.tls:
        argv += ["--cacert", str(gw.cert)]
    argv += list(args) + [gw.url(p, path)]
    return run_curl(argv, body_path, head_path, timeout, check)


def run_curl(argv, body_path: Path, head_path: Path, timeout: float, check: bool = False) -> Response:
    cp = subprocess.run(argv, capture_output=True, timeout=timeout + 15)
    info = {}
    try:
        info = json.loads(cp.stdout.decode() or "{}")
    except ValueError:
        pass
    head = head_path.read_bytes() if head_path.exists() else b""
    _, headers, _ = parse_header_blocks(head)
    res = Response(
        status=int(info.get("http_code") or info.get("response_code") or 0),
        headers=headers,
        body=body_path.read_bytes() if body_path.exists() else b"",
        http_version=str(info.get("http_version", "")),
        rc=cp.returncode,
        stderr=cp.stderr.decode(errors="replace"),
        info=info,
    )
    res.info["raw_head"] = head.decode("latin-1")
    if check:
        assert cp.returncode == 0, f"curl failed: {res!r}"
    return res


def curl_form_args(files: Sequence[Tuple[str, LocalFile, Optional[str], Optional[str]]] = (),
                   fields: Sequence[Tuple[str, str]] = ()) -> List[str]:
    """-F arguments: fields first, then files (field, LocalFile, filename, content type)."""
    args = []
    for name, value in fields:
        args += ["--form-string", f"{name}={value}"]
    for name, lf, filename, ctype in files:
        spec = f"{name}=@{lf.path}"
        if filename is not None:
            spec += f";filename={filename}"
        if ctype is not None:
            spec += f";type={ctype}"
        args += ["-F", spec]
    return args
