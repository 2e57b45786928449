"""Where a server's threads are - on CPU, runnable, or blocked - by sampling their kernel stacks.

  stacks.py PID SECONDS [INTERVAL]      (as root; prints a table, most frequent first;
                                        SIGINT stops it early)

perf's cpu-clock profile only sees time on CPU; this shows the rest too (blocked in a
page fault, in a discard, waiting in epoll). Every INTERVAL seconds (default 0.005) it
reads /proc/PID/task/*/stat (state: R running/runnable, S sleeping, D uninterruptible)
and /proc/PID/task/*/stack (the kernel stack; empty when the thread is in user space)
of every thread but the main one, and counts (state, top kernel frames).
"""

from __future__ import annotations

import collections
import os
import signal
import sys
import time


def main() -> None:
    pid, seconds = sys.argv[1], float(sys.argv[2])
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.005
    counts: collections.Counter = collections.Counter()
    n = 0
    end = time.monotonic() + seconds
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))  # SIGINT ends the sampling early and prints
    while time.monotonic() < end and not stop:
        try:
            tids = [t for t in os.listdir(f"/proc/{pid}/task") if t != pid]
        except FileNotFoundError:
            break
        for t in tids:
            try:
                with open(f"/proc/{pid}/task/{t}/stat") as f:
                    st = f.read()
                state = st[st.rindex(")") + 2]
                with open(f"/proc/{pid}/task/{t}/stack") as f:
                    frames = [l.split("] ", 1)[1].split("+", 1)[0] for l in f.read().splitlines() if "] " in l]
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            key = " < ".join(frames[:7]) if frames else "(user space)"
            counts[(state, key)] += 1
            n += 1
        time.sleep(interval)
    print(f"{n} thread samples")
    for (state, key), v in counts.most_common(25):
        print(f"{100 * v / max(1, n):5.1f}%  {state}  {key}")


if __name__ == "__main__":
    main()
