"""uploadgate's configuration as the tests write it: a tiny block-style YAML emitter and the default routes."""

from __future__ import annotations

import json
import re
from typing import List


_PLAIN_RE = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./:@+-]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _yaml_scalar(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    if _PLAIN_RE.match(s) and s.lower() not in _YAML_WORDS and not s.endswith(":"):
        return s
    if re.match(r"^[0-9]+[A-Za-z]+$", s):  # sizes and durations: 64KiB, 10s
        return s
    if re.match(r"^\d+\.\d+\.\d+\.\d+:\d+$", s):  # 127.0.0.1:8080, as in the documentation
        return s
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(obj, indent: int = 0) -> str:
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                out.append(f"{pad}{k}:\n{to_yaml(v, indent + 2)}")
            elif isinstance(v, list) and v and not all(not isinstance(i, (dict, list)) for i in v):
                out.append(f"{pad}{k}:\n{to_yaml(v, indent + 2)}")
            elif isinstance(v, list):
                out.append(f"{pad}{k}: [{', '.join(_yaml_scalar(i) for i in v)}]\n")
            elif isinstance(v, dict):
                out.append(f"{pad}{k}: {{}}\n")
            else:
                out.append(f"{pad}{k}: {_yaml_scalar(v)}\n")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)):
                block = to_yaml(item, indent + 2)
                out.append(pad + "- " + block[indent + 2:])
            else:
                out.append(f"{pad}- {_yaml_scalar(item)}\n")
    else:
        out.append(pad + _yaml_scalar(obj) + "\n")
    return "".join(out)


def default_routes() -> List[dict]:
    return [
        {"path": "/upload", "methods": ["POST", "PUT"], "forward_to": "/upload", "keep_on_error": False,
         "limits": {"max_body": "200MiB", "max_file": "100MiB", "max_files": 8, "max_fields": 16,
                    "max_field_size": "1KiB"}},
        {"path": "/upload-reject", "methods": ["POST", "PUT"], "forward_to": "/upload-reject"},
        {"path": "/keep", "methods": ["POST", "PUT"], "forward_to": "/upload-reject", "keep_on_error": True},
        {"path": "/slow", "methods": ["POST", "PUT"], "forward_to": "/slow"},
        # Small limits for the 413 tests.
        {"path": "/limited", "methods": ["POST", "PUT"], "forward_to": "/upload",
         "limits": {"max_body": "4MiB", "max_file": "1MiB", "max_files": 3, "max_fields": 4,
                    "max_field_size": "1KiB"}},
        # A prefix route without forward_to: the app gets the request's own path.
        {"path": "/files/*", "methods": ["POST", "PUT"]},
    ]
