#!/usr/bin/env bash
# Resumable-upload benchmark: the same tus client (tus-js-client in Node, tests/resumable/tus_upload.mjs, chunkSize
# CHUNK_MIB = 64 MiB) against each tus endpoint in turn, on loopback:
#   big    one file of BIG_MIB (1024) MiB
#   many   MANY_N (64) files of MANY_MIB (4) MiB, MANY_C (8) uploads at a time (each file is one PATCH)
# Per endpoint, workload and repetition: elapsed seconds (the client's, creation to last response), throughput
# (MiB/s), and the server's peak VmRSS (lib.sh's sampler on its PID, every 20 ms). Every stored file is checked
# against the source's sha256 when the endpoint's store directory is known.
# uploadgate gets one more row per repetition, "one-request": the big file as one POST (curl -X POST -T; the raw body
# is stored as one file) to a plain route of the same uploadgate, so resumable / one-request is measured on the same
# server, file and run; and "resumable, curl": the big file as a tus upload by curl, one PATCH per chunk streamed from a
# file, so the server's resumable and one-request ways are compared with the same light client (tus-js-client in Node
# spends more CPU than either server and sets the pace of its own rows).
#
#   tests/bench/resumable.sh            # N=3 repetitions
#   QUICK=1 tests/bench/resumable.sh    # N=1, 256 MiB big file, 16 x 4 MiB
#
# Endpoints: @tus/server + @tus/file-store (tests/resumable/tus_peer.mjs) is started here as "tus-node", and
# uploadgate (UG_BINARY, default build/uploadgate; threads: 2) with a resumable route /tus/* and a plain route /upload
# in front of tests/bench/apps/ug_app.py (uvicorn) as "uploadgate". Another server is one more entry in `endpoints` -
# "name=URL,PID[,STORE_DIR]" - or from the environment: EXTRA_ENDPOINTS="name=URL,PID[,STORE_DIR] ...". A STORE_DIR
# holds one file per upload URL (tus-node's layout); uploadgate's completed files are checked as the files of its
# storage directory instead (one per upload, outside its dot-folders).
# Needs: nodejs, `npm ci --prefix tests/resumable`, python3-uvicorn and python3-fastapi. Not part of CI.
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

# start_uploadgate: ug_app and uploadgate on free ports, storing in $work/store-ug; sets ug_url (the resumable
# route), ug_put (the plain route), ug_pid and ug_store.
start_uploadgate() {
    local app_port ug_port _
    app_port=$(free_port)
    ug_port=$(free_port)
    ug_store="$work/store-ug"
    mkdir -p "$ug_store"
    /usr/bin/python3 -m uvicorn ug_app:app --app-dir tests/bench/apps --host 127.0.0.1 --port "$app_port" \
        --workers 1 --no-access-log --log-level warning >"$work/ug_app.out" 2>&1 &
    pids+=($!)
    cat >"$work/uploadgate.yaml" <<YAML
listen: [{address: 127.0.0.1:$ug_port}]
threads: 2
backend: {url: http://127.0.0.1:$app_port, timeout: 60s}
storage: {dir: $ug_store, min_free: 1MiB}
routes:
  - path: /tus/*
    forward_to: /upload
    limits: {max_file: 2GiB}
    resumable: {expires: 1h, max_chunk: 64MiB, fsync: ${UG_RESUMABLE_FSYNC:-true}}
  - path: /upload
    methods: [POST, PUT]
    limits: {max_body: 2GiB, max_file: 2GiB}
YAML
    wait_url "http://127.0.0.1:$app_port/health" || true # the app first: uploadgate's health does not ask it
    "${UG_BINARY:-build/uploadgate}" -c "$work/uploadgate.yaml" >"$work/uploadgate.out" 2>&1 &
    pids+=($!)
    ug_pid=${pids[-1]}
    wait_health "$ug_port" || { echo "uploadgate did not start:" >&2; cat "$work/uploadgate.out" >&2; exit 1; }
    ug_url="http://127.0.0.1:$ug_port/tus/"
    ug_put="http://127.0.0.1:$ug_port/upload"
}

# One line per server: name=URL,PID[,STORE_DIR].
start_tus_node
endpoints=("tus-node=$started")
start_uploadgate
endpoints+=("uploadgate=$ug_url,$ug_pid")
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

# verify_ug_store WORKLOAD: uploadgate's stored files (outside its dot-folders) are exactly the workload's sources,
# by sha256; then they (and its resumable records) are removed for the next run.
verify_ug_store() {
    /usr/bin/python3 - "$ug_store" "$1" "$work/want.sha256" <<'PY'
import hashlib, os, sys
store, workload, want_file = sys.argv[1:]
want = sorted(h for h, name in (line.split() for line in open(want_file)) if name.startswith(workload))
got = []
for root, dirs, files in os.walk(store):
    dirs[:] = [d for d in dirs if not d.startswith(".")]
    for f in files:
        h = hashlib.sha256()
        with open(os.path.join(root, f), "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        got.append(h.hexdigest())
if sorted(got) != want:
    sys.exit(f"uploadgate stored {len(got)} files; they differ from the {len(want)} sources of {workload}")
PY
    find "$ug_store" -mindepth 1 -delete
}

# curl_resumable FILE: one tus upload of FILE to uploadgate by curl, a PATCH per chunk_mib slice streamed from a
# chunk file cut beforehand (outside the timing); prints the seconds from the creation to the last answer.
curl_resumable() {
    local f=$1 size off=0 code loc t0 t1 c
    size=$(stat -c %s "$f")
    rm -rf "$work/chunks" && mkdir "$work/chunks"
    split -b "$((chunk_mib * 1024 * 1024))" -d -a 4 "$f" "$work/chunks/c."
    t0=$(date +%s.%N)
    loc=$(curl -sS -D - -o /dev/null -X POST -H "Tus-Resumable: 1.0.0" -H "Upload-Length: $size" "$ug_url" |
        tr -d '\r' | awk -F': ' 'tolower($1) == "location" { print $2 }')
    [ -n "$loc" ] || { echo "curl resumable: no Location" >&2; return 1; }
    for c in "$work/chunks"/c.*; do
        code=$(curl -sS -o /dev/null -w '%{http_code}' -X PATCH -H "Tus-Resumable: 1.0.0" -H "Expect:" \
            -H "Content-Type: application/offset+octet-stream" -H "Upload-Offset: $off" -T "$c" "${ug_url%/tus/}$loc")
        [ "$code" = 204 ] || { echo "curl resumable: PATCH at $off answered $code" >&2; return 1; }
        off=$((off + $(stat -c %s "$c")))
    done
    t1=$(date +%s.%N)
    rm -rf "$work/chunks"
    /usr/bin/python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$t1"
}

# row NAME WORKLOAD RUN ELAPSED MIB PEAK_KIB
row() {
    printf '| %s | %s | %d | %s | %s | %d |\n' "$1" "$2" "$3" "$4" "$(/usr/bin/python3 -c "print('%.1f' % ($5 / $4))")" "$(($6 / 1024))"
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
            # the previous server's files are written back first, or that writeback would land in this measurement (in
            # uploadgate's fdatasyncs, or tus-node's page-cache writes)
            sync
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
            elif [ "$spid" = "$ug_pid" ]; then
                verify_ug_store "$workload"
            fi
            elapsed=$(/usr/bin/python3 -c 'import json,sys; print("%.3f" % json.loads(open(sys.argv[1]).read())["elapsed"])' "$work/result.json")
            row "$name" "$workload ($([ "$workload" = big ] && echo "${big_mib} MiB" || echo "${many_n} x ${many_mib} MiB"))" \
                "$run" "$elapsed" "$mib" "$peak"
        done
    done
    # the same big file as one request to the same uploadgate
    sync
    rm -f "$work/stop"
    sampler "$ug_pid" "$work/peak" "$work/stop" "$work/tick" &
    sp=$!
    out=$(curl -sS -X POST -T "$work/src/big.bin" -H "Content-Type: application/octet-stream" -H "Expect:" -o "$work/put.json" \
        -w '%{http_code} %{time_total}' --max-time 900 "$ug_put") || true
    touch "$work/stop"
    wait "$sp"
    read -r peak _ <"$work/peak"
    read -r code elapsed <<<"$out"
    if [ "$code" != 200 ]; then
        echo "uploadgate one-request run $run failed ($out): $(head -c 2000 "$work/put.json")" >&2
        exit 1
    fi
    verify_ug_store big
    row uploadgate "one-request (${big_mib} MiB, curl -T)" "$run" "$elapsed" "$big_mib" "$peak"

    # The same big file resumable with a light client: curl streams each chunk from its file (tus-js-client in Node
    # spends more CPU than either server), so this row and the one above compare the server's two ways, not clients.
    sync
    rm -f "$work/stop"
    sampler "$ug_pid" "$work/peak" "$work/stop" "$work/tick" &
    sp=$!
    elapsed=$(curl_resumable "$work/src/big.bin") || { touch "$work/stop"; wait "$sp"; exit 1; }
    touch "$work/stop"
    wait "$sp"
    read -r peak _ <"$work/peak"
    verify_ug_store big
    row uploadgate "resumable (${big_mib} MiB, curl PATCHes of ${chunk_mib} MiB)" "$run" "$elapsed" "$big_mib" "$peak"
done
