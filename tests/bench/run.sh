#!/usr/bin/env bash
# The upload benchmark - one command, as root on Debian 12, from anywhere:
#
#   tests/bench/run.sh                 # default: N=5 interleaved repetitions (6-9 min on 2 cores)
#   QUICK=1 tests/bench/run.sh         # smoke: N=1, 256 MiB instead of 1 GiB, h2load -n 128 (~1 min)
#   N=3 tests/bench/run.sh             # other repetition count
#   PROFILE=1 tests/bench/run.sh       # also profile uploadgate on the target workloads: perf record
#                                      #   (cpu-clock) + stacks.py (results[/quick]/profile/*.txt)
# Other knobs (environment): FILE_MIB (20), BIG_MIB (1024), H2LOAD_N (384), H2LOAD_C (64), CG_MIB (64),
# BENCH_RESULTS (output dir; default tests/bench/results, and tests/bench/results/quick for QUICK=1, which git ignores),
# KEEP_WORK=1 (keep the temp dir), ONLY_SERVERS / ONLY_WORKLOADS (comma lists, e.g. ONLY_SERVERS=uploadgate,sink
# ONLY_WORKLOADS=par4x20,h2load64: a subset for iterating; its report goes to results/subset/, which git ignores),
# UG_SPOOL_THRESHOLD (uploadgate's storage.spool_threshold, e.g. 4MiB; default: the project's default),
# BENCH_FS (where the servers store: "journal", the default, is a fresh ext4 with a journal made for the run - a
# 16 GiB sparse image in the temp dir, loop-mounted with direct I/O; "host" is /var/tmp's own filesystem as it is).
#
# BENCH_PAGE_REPORTING ("pause", the default, or "keep"): where the kernel reports free memory to the hypervisor
# (virtio-balloon free page reporting, /sys/module/page_reporting), pause it for the run and restore it after.
#
# Why pause it: a VM with free page reporting hands freed memory to its host in passes (about 1 GiB at a time); the host drops those
# pages, and whoever touches them next pays a host fault per page - here the first run after a pass, copying its
# upload into the page cache. Every run frees what the last one stored, so a pass lands on a contestant set by the
# order of the runs: on the 2 vCPU benchmark host each h2load -c 64 run that followed a pass took 1.5-2.3 x the CPU of one that did
# not (76-113 against 47-57 ticks), and none was slow with reporting paused (docs/design-notes.md).
#
# Why a fresh journaled ext4 by default: the benchmark host's root filesystem is ext4 *without* a journal, and there the kernel
# does not hand out an inode deleted less than 60 s ago (360 s while its inode-table block is still dirty), and
# each new file or directory walks past every such free inode, looking its table block up (fs/ext4/ialloc.c,
# find_inode_bit and recently_deleted). The bench deletes every run's files, so on that filesystem each run's file creation pays
# for the deletions of the runs just before it - a cost set by the order of the contestants, growing run after
# run (docs/design-notes.md). A journaled ext4, mkfs.ext4's default and what volumes usually are, has no such rule.
#
# It installs the Debian packages it needs (deploy/install-deps.sh bench, plus python3-uvloop and
# python3-httptools for uvicorn), builds build/uploadgate if missing (else an incremental build of
# uploadgate + ugcore, a no-op when up to date), compiles the C sink, the prototype and the callgrind
# driver, then starts side by side on 127.0.0.1 (free ports):
#   uploadgate (+ tests/bench/apps/ug_app.py under uvicorn: validates the manifest, answers 200)
#   FastAPI direct  (tests/bench/apps/fastapi_direct.py: UploadFile + aiofiles; uvicorn, uvloop, httptools)
#   aiohttp direct  (tests/bench/apps/aiohttp_direct.py: request.multipart(), 1 MiB chunks)
#   nginx           (Debian nginx-light, client_body_in_file_only on: stores the raw body)
#   the C sink      (tests/bench/sink.c: reads Content-Length bytes, writes them raw to a file)
#   the C sink + SHA-256 (sink.c -DUG_SINK_SHA256: the same, hashing every body byte as it writes it) -
#                    the floor the manifest's sha256 sets, measured
#   a streaming prototype (sink.c -DUG_STREAM + build/libugcore.a: each socket read goes through
#                    uploadgate's own parse/sha256/store pipeline, no spool, no app) - what a streaming
#                    HTTP/1.1 front could reach with today's core
# and runs the workloads interleaved (bench.py). Every server stores on a real filesystem (see BENCH_FS),
# under a temp dir in /var/tmp. Output: tests/bench/results/{results.md,runs.csv,chart.png}, and the
# markdown summary with PASS/FAIL per target on stdout. Not part of CI. Findings: docs/benchmarks.md, docs/design-notes.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: run as root (installs packages, nginx runs as root, reads /proc/<pid>/io)" >&2
    exit 1
fi

deploy/install-deps.sh bench
# uvicorn's fast loop and HTTP parser (used for both FastAPI servers); Debian 12 ships them.
extra=()
for p in python3-uvloop python3-httptools; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || extra+=("$p")
done
if [ ${#extra[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${extra[@]}" >/dev/null
fi

if [ ! -x build/uploadgate ] || [ ! -f build/libugcore.a ]; then
    cmake -S . -B build >/dev/null
    cmake --build build -j"$(nproc)"
else
    # Incremental (a no-op when up to date): the driver and the prototype are compiled against src/*.h below
    # and must link a libugcore.a built from the same sources; the tree is shared and changes under us.
    cmake --build build --target uploadgate ugcore -j"$(nproc)" >/dev/null
fi

work="$(mktemp -d /var/tmp/ugbench.XXXXXX)"
data="$work"  # bench.py's work dir (data, stores, logs, pids): $work/fs when BENCH_FS=journal
fs_note="/var/tmp's filesystem as it is"  # for the report's header
loopdev=""
pr_param=/sys/module/page_reporting/parameters/page_reporting_order
pr_saved=""
cleanup() {
    local rc=$?
    # Stop whatever bench.py started and did not stop itself: by PID, TERM first, KILL after a deadline.
    if [ -s "$data/pids" ]; then
        while read -r pid; do
            kill -TERM "$pid" 2>/dev/null || true
        done <"$data/pids"
        for _ in $(seq 1 50); do
            alive=0
            while read -r pid; do
                kill -0 "$pid" 2>/dev/null && alive=1
            done <"$data/pids"
            [ "$alive" -eq 0 ] && break
            sleep 0.1
        done
        while read -r pid; do
            kill -KILL "$pid" 2>/dev/null || true
        done <"$data/pids"
    fi
    if [ -n "$pr_saved" ]; then
        echo "$pr_saved" >"$pr_param" || echo "run.sh: could not restore $pr_param to $pr_saved" >&2
    fi
    if [ -n "$loopdev" ]; then
        umount "$work/fs" || echo "run.sh: could not unmount $work/fs" >&2
        losetup -d "$loopdev" || true
    fi
    if [ "${KEEP_WORK:-0}" = "1" ]; then
        echo "run.sh: work dir kept: $work${loopdev:+ (the stores are in fs.img: mount -o loop $work/fs.img DIR)}" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

case "${BENCH_FS:-journal}" in
journal)
    # Fully initialised at mkfs time (no ext4lazyinit thread writing inode tables during the runs); direct I/O on
    # the loop device, so the image's blocks are not cached a second time in /var/tmp's page cache.
    truncate -s 16G "$work/fs.img"
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$work/fs.img"
    mkdir "$work/fs"
    if loopdev="$(losetup --direct-io=on --find --show "$work/fs.img")" && mount "$loopdev" "$work/fs"; then
        data="$work/fs"
        fs_note="a fresh ext4 with a journal (16 GiB image in /var/tmp, loop device with direct I/O; BENCH_FS=journal)"
    else
        # No loop device here (e.g. in a container): measure on /var/tmp as it is, and say so in the report.
        echo "run.sh: could not loop-mount a journaled ext4; storing on /var/tmp's filesystem instead" >&2
        [ -n "$loopdev" ] && losetup -d "$loopdev"
        loopdev=""
    fi
    ;;
host) ;;
*)
    echo "run.sh: BENCH_FS must be journal or host, not '$BENCH_FS'" >&2
    exit 2
    ;;
esac
: >"$data/pids"

vm_note=""
if [ -e "$pr_param" ]; then
    case "${BENCH_PAGE_REPORTING:-pause}" in
    pause)
        # Reporting starts at this buddy order; above the largest one (10 on x86-64) no free block qualifies.
        pr_saved="$(cat "$pr_param")"
        if echo 11 >"$pr_param" 2>/dev/null && [ "$(cat "$pr_param")" = 11 ]; then
            vm_note="free page reporting to the hypervisor paused during the run (BENCH_PAGE_REPORTING=pause)"
        else
            vm_note="free page reporting to the hypervisor could not be paused: runs after a reporting pass are slower"
        fi
        ;;
    keep) vm_note="free page reporting to the hypervisor left on (BENCH_PAGE_REPORTING=keep)" ;;
    *)
        echo "run.sh: BENCH_PAGE_REPORTING must be pause or keep, not '$BENCH_PAGE_REPORTING'" >&2
        exit 2
        ;;
    esac
fi

mkdir -p "$work/bin"
# Snapshot the binary under test: the build dir is shared, and a rebuild during the run must not change it.
cp build/uploadgate "$work/bin/uploadgate"
ug_info="build/uploadgate of $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?') built $(date -r build/uploadgate '+%F %T'), sha256 $(sha256sum build/uploadgate | cut -c1-12)"
cc -O2 -Wall -Wextra -pthread -o "$work/bin/sink" "$here/sink.c"
# shellcheck disable=SC2046
cc -O2 -Wall -Wextra -pthread -DUG_SINK_SHA256 -o "$work/bin/sink_sha256" "$here/sink.c" $(pkg-config --libs libcrypto)
# shellcheck disable=SC2046
cc -O2 -g -std=gnu11 -DUG_STREAM -Wall -Wextra -pthread -I src -o "$work/bin/ug_stream_prototype" "$here/sink.c" \
    build/libugcore.a $(pkg-config --libs yaml-0.1 jansson libcrypto)
# shellcheck disable=SC2046
cc -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -I src -o "$work/bin/parse_hash_driver" "$here/parse_hash_driver.c" \
    build/libugcore.a $(pkg-config --libs yaml-0.1 jansson libcrypto)

cmd="tests/bench/run.sh"
[ "${QUICK:-0}" != "0" ] && cmd="QUICK=1 $cmd"
[ -n "${N:-}" ] && cmd="N=$N $cmd"
[ "${PROFILE:-0}" != "0" ] && cmd="PROFILE=1 $cmd"
[ -n "${ONLY_WORKLOADS:-}" ] && cmd="ONLY_WORKLOADS=$ONLY_WORKLOADS $cmd"
[ -n "${ONLY_SERVERS:-}" ] && cmd="ONLY_SERVERS=$ONLY_SERVERS $cmd"
[ -n "${UG_SPOOL_THRESHOLD:-}" ] && cmd="UG_SPOOL_THRESHOLD=$UG_SPOOL_THRESHOLD $cmd"
[ -n "${BENCH_FS:-}" ] && cmd="BENCH_FS=$BENCH_FS $cmd"
[ -n "${BENCH_PAGE_REPORTING:-}" ] && cmd="BENCH_PAGE_REPORTING=$BENCH_PAGE_REPORTING $cmd"
BENCH_WORK="$data" BENCH_FS_NOTE="$fs_note" BENCH_VM_NOTE="$vm_note" BENCH_BIN="$work/bin" UG_BINARY="$work/bin/uploadgate" BENCH_COMMAND="$cmd" BENCH_UG_INFO="$ug_info" \
    /usr/bin/python3 "$here/bench.py"
