"""Helpers for the uploadgate integration tests, one job per module.

Everything here runs real processes on loopback: the uploadgate binary, the
example FastAPI app (deploy/example-app/app.py, under uvicorn) and clients
(curl subprocesses, raw sockets, the `h2` library).  Nothing sleeps to
synchronise: readiness and cleanup are awaited by polling with a deadline.

  util        REPO, KiB/MiB, binary_path(), free loopback ports, wait_until()
  process     Proc: a child in its own process group, stopped by PID; tail()
  config      to_yaml() (the configuration writer), default_routes()
  transports  Proto, PROTOS and the transport lists tests are parametrised over
  bodies      LocalFile/make_file() (random files), multipart_body()
  backends    ExampleApp, AppPool, CaptureBackend, StaticSite
  gateway     Gateway: uploadgate with a per-test config; .url(proto, path),
              .store_dir, .app_log(), .store_entries(), .config (a dict)
  response    Response (status, headers, body, http_version), header_values()
  curl        curl(): one curl transfer -> Response
  http1       raw HTTP/1.1: connect(), http1_head(), HTTP1Reader, chunked()
  h2          H2Conn / h2_request(): HTTP/2 with control over DATA frames,
              resets and settings

Every name is re-exported here: tests write `from harness import curl, MiB`.
conftest.py holds the fixtures that build these objects.
"""

from .backends import CAPTURE_SERVER, AppPool, CaptureBackend, ExampleApp, StaticSite
from .bodies import LocalFile, make_file, multipart_body, multipart_content_type, sha256_bytes, sha256_file
from .config import default_routes, to_yaml
from .curl import curl, curl_form_args, parse_header_blocks, run_curl
from .gateway import Gateway
from .h2 import H2Conn, H2Result, h2_request
from .http1 import HTTP1Reader, abort_socket, chunked, connect, http1_head, http1_request, read_until_closed
from .process import Proc, tail
from .response import Response, cors_headers, header_values
from .transports import (ALL_PROTOS, ERROR_PROTOS, PROTOS, RECEIVED_AT_RE, UPLOAD_ID_RE, UPLOAD_PROTOS, Proto,
                         manifest_protocol)
from .util import (APP_DIR, CURL, PYTHON, REPO, KiB, MiB, binary_path, free_port, free_ports, tcp_accepts, unix_accepts,
                   wait_until)

__all__ = [
    "ALL_PROTOS", "APP_DIR", "AppPool", "CAPTURE_SERVER", "CURL", "CaptureBackend", "ERROR_PROTOS", "ExampleApp",
    "Gateway", "H2Conn", "H2Result", "HTTP1Reader", "KiB", "LocalFile", "MiB", "PROTOS", "PYTHON", "Proc", "Proto",
    "RECEIVED_AT_RE", "REPO", "Response", "StaticSite", "UPLOAD_ID_RE", "UPLOAD_PROTOS", "abort_socket",
    "binary_path", "chunked", "connect", "cors_headers", "curl", "curl_form_args", "default_routes", "free_port",
    "free_ports", "h2_request", "header_values", "http1_head", "http1_request", "make_file", "manifest_protocol",
    "multipart_body", "multipart_content_type", "parse_header_blocks", "read_until_closed", "run_curl",
    "sha256_bytes", "sha256_file", "tail", "tcp_accepts", "to_yaml", "unix_accepts", "wait_until",
]
