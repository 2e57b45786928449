"""Paths, sizes, free loopback ports, and polling with a deadline (never sleeping to synchronise)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any, Callable, List

REPO = Path(__file__).resolve().parents[3]
APP_DIR = REPO / "deploy" / "example-app"
PYTHON = "/usr/bin/python3"
CURL = "curl"

KiB = 1024
MiB = 1024 * 1024


def binary_path() -> Path:
    return Path(os.environ.get("UG_BINARY") or REPO / "build" / "uploadgate")


def free_ports(n: int, host: str = "127.0.0.1") -> List[int]:
    """n distinct ports free now: the sockets are held until all are chosen (two free_port() calls in a row can
    return the same port, which once gave a gateway two listeners on one address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks = [socket.socket(family, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02):
    """Poll `predicate` until it returns a truthy value; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def tcp_accepts(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect((host, port))
            return True
    except OSError:
        return False


def unix_accepts(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect(path)
            return True
    except OSError:
        return False
