#!/usr/bin/env bash
# Resumable-upload benchmark: the same tus client (tus-js-client in Node, tests/resumable/tus_upload.mjs, chunkSize
# CHUNK_MIB = 64 MiB) against each tus endpoint in turn, on loopback:
#   big    one file of BIG_MIB (1024) MiB
#   many   MANY_N (64) files of MANY_MIB (4) MiB, MANY_C (8) uploads at a time (each file is one PATCH)
# Per endpoint, workload and repetition: elapsed seconds (the client's, creation to last response), throughput
# (MiB/s), and the server's peak VmRSS (lib.sh's sampler on its PID, every 20 ms). Every stored file is checked
# against the source's sha256 when the endpoint's store directory is known.
#
#   tests/bench/resumable.sh            # N=3 repetitions
#   QUICK=1 tests/bench/resumable.sh    # N=1, 256 MiB big file, 16 x 4 MiB
#
# Endpoints: @tus/server + @tus/file-store (tests/resumable/tus_peer.mjs) is started here as "tus-node". Another
# server is one more entry in `endpoints` - "name=URL,PID[,STORE_DIR]" - in the script (a server this script starts,
# e.g. uploadgate once it speaks tus) or from the environment: EXTRA_ENDPOINTS="name=URL,PID[,STORE_DIR] ...".
# Needs: nodejs and `npm ci --prefix tests/resumable`. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh # sampler, work_dir

quick=${QUICK:-0}
n=${N:-$([ "$quick" = 1 ] && echo 1 || echo 3)}
big_mib=${BIG_MIB:-$([ "$quick" = 1 ] && echo 256 || echo 1024)}
many_n=${MANY_N:-$([ "$quick" = 1 ] && echo 16 || echo 64)}
many_mib=${MANY_MIB:-4}
many_c=${MANY_C:-8}
chunk_mib=${CHUNK_MIB:-64}

[ -d tests/resumable/node_modules/@tus/server ] ||
    npm ci --prefix tests/resumable --no-audit --no-fund --loglevel=error

work_dir ug-resumable

# start_tus_node: @tus/server on a free port, storing in $work/store-tus-node; sets started="URL,PID,STORE".
start_tus_node() {
    local store="$work/store-tus-node" out="$work/tus-node.out" url="" _
    mkdir -p "$store"
    node tests/resumable/tus_peer.mjs --dir "$store" >"$out" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 200); do # up to 10 s for its "listening" line
        url=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$out" 2>/dev/null) && break
        sleep 0.05
    done
    [ -n "$url" ] || { echo "tus_peer.mjs did not start:" >&2; cat "$out" >&2; exit 1; }
    started="$url,${pids[-1]},$store"
}

# One line per server: name=URL,PID[,STORE_DIR].
start_tus_node
endpoints=("tus-node=$started")
# shellcheck disable=SC2206 # word splitting is the format
endpoints+=(${EXTRA_ENDPOINTS:-})

mkdir -p "$work/src"
head -c "$((big_mib * 1024 * 1024))" /dev/urandom >"$work/src/big.bin"
for i in $(seq 1 "$many_n"); do head -c "$((many_mib * 1024 * 1024))" /dev/urandom >"$work/src/many-$i.bin"; done
(cd "$work/src" && sha256sum -- *.bin | sort -k2) >"$work/want.sha256"
mkfifo "$work/tick"

# verify_store STORE RESULT_JSON: every upload URL's file in STORE has the sha256 of its source.
verify_store() {
    /usr/bin/python3 - "$1" "$2" "$work/want.sha256" "$work/src" <<'PY'
import hashlib, json, os, sys
store, result, want_file, src = sys.argv[1:]
want = {name: h for h, name in (line.split() for line in open(want_file))}
r = json.loads(open(result).read().splitlines()[-1])
ups = r.get("uploads") or [r]
names = ["big.bin"] if len(ups) == 1 else [f"many-{i}.bin" for i in range(1, len(ups) + 1)]
for name, u in zip(names, ups):
    h = hashlib.sha256()
    with open(os.path.join(store, u["url"].rsplit("/", 1)[1]), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != want[name]:
        sys.exit(f"stored {u['url']} differs from {name}")
PY
}

echo "| server | workload | run | elapsed (s) | MiB/s | peak RSS (MiB) |"
echo "|---|---|---:|---:|---:|---:|"
many_files=()
for i in $(seq 1 "$many_n"); do many_files+=(--file "$work/src/many-$i.bin"); done
for run in $(seq 1 "$n"); do
    for ep in "${endpoints[@]}"; do
        name=${ep%%=*}
        IFS=, read -r url spid store <<<"${ep#*=}"
        for workload in big many; do
            if [ "$workload" = big ]; then
                files=(--file "$work/src/big.bin"); mib=$big_mib
            else
                files=("${many_files[@]}"); mib=$((many_n * many_mib))
            fi
            rm -f "$work/stop"
            sampler "$spid" "$work/peak" "$work/stop" "$work/tick" &
            sp=$!
            rc=0
            node tests/resumable/tus_upload.mjs --endpoint "$url" --chunk-size "$((chunk_mib * 1024 * 1024))" \
                --concurrency "$many_c" --retry-delays "" "${files[@]}" >"$work/result.json" || rc=$?
            touch "$work/stop"
            wait "$sp"
            read -r peak _ <"$work/peak"
            if [ "$rc" != 0 ]; then
                echo "$name $workload run $run failed (rc $rc): $(head -c 2000 "$work/result.json")" >&2
                exit 1
            fi
            if [ -n "${store:-}" ]; then
                verify_store "$store" "$work/result.json"
                find "$store" -mindepth 1 -delete
            fi
            elapsed=$(/usr/bin/python3 -c 'import json,sys; print("%.3f" % json.loads(open(sys.argv[1]).read())["elapsed"])' "$work/result.json")
            rate=$(/usr/bin/python3 -c "print('%.1f' % ($mib / $elapsed))")
            printf '| %s | %s (%s) | %d | %s | %s | %d |\n' "$name" "$workload" \
                "$([ "$workload" = big ] && echo "${big_mib} MiB" || echo "${many_n} x ${many_mib} MiB")" \
                "$run" "$elapsed" "$rate" "$((peak / 1024))"
        done
    done
done
