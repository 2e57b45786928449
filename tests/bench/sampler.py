"""Peak-memory sampler for the benchmark (a separate process, so its own work is not counted).

Reads commands on stdin, one per line:
  start PID [PID ...]   reset the maxima and sample these processes from now on
  stop                  print one JSON line with the maxima since `start`, stop sampling
  quit                  exit
Between commands it samples every INTERVAL seconds (argv[1], default 0.01):
/proc/<pid>/status VmRSS, RssAnon, RssFile and RssShmem, summed over the given
processes (the caller passes the whole process tree of one server). The maxima
are taken per field, so peak anon and peak file may come from different samples;
"rss" is the peak of the summed VmRSS. The same maxima for the first PID alone are
reported as "first_rss", "first_anon", "first_file", "first_shmem".
"""

from __future__ import annotations

import json
import os
import select
import sys

FIELDS = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file", "RssShmem:": "shmem"}


def sample(pids):
    tot = {"rss": 0, "anon": 0, "file": 0, "shmem": 0, "first_rss": 0, "first_anon": 0, "first_file": 0, "first_shmem": 0}
    for i, pid in enumerate(pids):
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                for line in f:
                    key = FIELDS.get(line.split(b" ", 1)[0].split(b"\t", 1)[0].decode())
                    if key is not None:
                        kib = int(line.split()[1])
                        tot[key] += kib
                        if i == 0:
                            tot["first_" + key] += kib
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    return tot


def main() -> None:
    interval = float(sys.argv[1]) if len(sys.argv) > 1 else 0.01
    pids = []
    peak = None
    n = 0
    stdin = sys.stdin.buffer
    buf = b""
    fd = stdin.fileno()
    while True:
        ready, _, _ = select.select([fd], [], [], interval if pids else None)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                words = line.decode().split()
                if not words:
                    continue
                if words[0] == "start":
                    pids = [int(w) for w in words[1:]]
                    peak = sample(pids)
                    n = 1
                elif words[0] == "stop":
                    if pids:
                        s = sample(pids)
                        n += 1
                        for k in peak:
                            peak[k] = max(peak[k], s[k])
                    out = dict(peak or {}, samples=n)
                    sys.stdout.write(json.dumps(out) + "\n")
                    sys.stdout.flush()
                    pids = []
                elif words[0] == "quit":
                    return
            continue
        if pids:
            s = sample(pids)
            n += 1
            for k in peak:
                if s[k] > peak[k]:
                    peak[k] = s[k]


if __name__ == "__main__":
    main()
