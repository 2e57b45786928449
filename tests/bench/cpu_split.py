"""Where the CPU time of a benchmark step went: per command (and per thread of one process), from /proc.

  cpu_split.py snap PID DIR        print a snapshot (JSON) of the benchmark's processes' utime+stime (those of this
                                   process group, and those whose command line names DIR: the store's servers),
                                   and of PID's threads
  cpu_split.py diff A B ELAPSED    print the CPU seconds spent between snapshots A and B, biggest first, with the
                                   share of ELAPSED x CPUs they are (what the machine had to give)

Processes are grouped by command: the program, or for python3 the module or script it runs (uvicorn, ...), with
the server's name for the store's (swift_server.py proxy-server, ...). PID's threads are named by what they wait in when the snapshot is taken (poll: a curl multi thread,
epoll_wait: an event loop) and their thread id. Processes that ended between the snapshots (the curl clients) count
as "reaped": what the caller's children and their children used, once waited for.
"""

from __future__ import annotations

import json
import os
import sys

TICK = os.sysconf("SC_CLK_TCK")


def stat_fields(stat_path: str) -> list:
    with open(stat_path, "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()


def ticks(stat_path: str) -> int:
    fields = stat_fields(stat_path)
    return int(fields[11]) + int(fields[12])  # utime, stime


def reaped_ticks() -> int:
    fields = stat_fields(f"/proc/{os.getppid()}/stat")
    return int(fields[13]) + int(fields[14])  # cutime, cstime of the caller


def name(pid: str) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    if not argv:
        return "?"
    base = os.path.basename(argv[0])
    if base.startswith("python") and len(argv) > 1:
        if argv[1] == "-c":
            return f"{base} -c"
        rest = [a for a in argv[1:] if not a.startswith("-")]
        if rest and rest[0].endswith("swift_server.py"):
            return f"swift {rest[-1]}"
        return os.path.basename(rest[0]) if rest else base
    return base


def ours(pid: str, work_dir: str) -> bool:
    if os.getpgid(int(pid)) == os.getpgrp():
        return True
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return work_dir.encode() in f.read()


def snap(main_pid: str, work_dir: str) -> dict:
    out = {"procs": {}, "threads": {}, "reaped": reaped_ticks()}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if ours(pid, work_dir):
                out["procs"][pid] = [name(pid), ticks(f"/proc/{pid}/stat")]
        except (OSError, IndexError, ValueError):
            continue
    for tid in os.listdir(f"/proc/{main_pid}/task"):
        try:
            with open(f"/proc/{main_pid}/task/{tid}/wchan") as f:
                wchan = f.read().strip()
            out["threads"][tid] = [wchan, ticks(f"/proc/{main_pid}/task/{tid}/stat")]
        except (OSError, IndexError, ValueError):
            continue
    return out


def diff(a: dict, b: dict, elapsed: float) -> str:
    groups: dict[str, int] = {}
    for pid, (nm, t1) in b["procs"].items():
        t0 = a["procs"].get(pid, [nm, 0])[1]  # started in between: all of it
        groups[nm] = groups.get(nm, 0) + t1 - t0
    groups["reaped"] = b["reaped"] - a["reaped"]
    threads = {f"{w or 'running'}/{tid}": t1 - a["threads"].get(tid, [w, 0])[1] for tid, (w, t1) in b["threads"].items()}
    total = sum(groups.values())
    fmt = lambda d: ", ".join(f"{k} {v / TICK:.2f}" for k, v in sorted(d.items(), key=lambda kv: -kv[1]) if v > 0)
    share = total / TICK / (elapsed * os.cpu_count()) * 100
    return f"cpu s: all {total / TICK:.2f} ({share:.0f}% of {os.cpu_count()} CPUs); {fmt(groups)}; threads: {fmt(threads)}"


if __name__ == "__main__":
    if sys.argv[1] == "snap":
        print(json.dumps(snap(sys.argv[2], sys.argv[3])))
    else:
        with open(sys.argv[2]) as fa, open(sys.argv[3]) as fb:
            print(diff(json.load(fa), json.load(fb), float(sys.argv[4])))
