#!/usr/bin/env bash
# A pass-through GET, then one upload of SIZE_MIB on the same connection (one curl invocation, --next), as a browser
# or an API client with a connection pool does: over HTTP/1.1 keep-alive, and over h2c reached by "Upgrade: h2c" on
# the GET (curl --http2 on http://). Prints, per path and repetition, the upload's time, the protocol curl used, and
# uploadgate's peak VmRSS; every upload is checked against the sha256 the app reports from its manifest.
#   tests/bench/keepalive_upload.sh [SIZE_MIB] [REPEAT]         (default 256 MiB, 3 times)
#   UG_BINARY=/path/to/uploadgate tests/bench/keepalive_upload.sh   (another build, e.g. an older commit's)
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh # free_port, gateway_config, wait_health, sampler, work_dir, example_app
size=${1:-256}
repeat=${2:-3}
bin=${UG_BINARY:-build/uploadgate}
if [ -z "${UG_BINARY:-}" ] && [ ! -x build/uploadgate ]; then
    cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
fi

work_dir ug-keepalive

app_port=$(free_port)
mkdir -p "$work/store" "$work/received"
example_app "$app_port" "$work/received"
head -c "$((size * 1024 * 1024))" /dev/urandom > "$work/body.bin"
want=$(sha256sum "$work/body.bin" | cut -d' ' -f1)
mkfifo "$work/tick"

echo "| path | run | upload (s) | protocol | peak RSS (MiB) |"
echo "|---|---:|---:|---|---:|"
for path in http1 h2c-upgrade; do
    flag=--http1.1
    [ "$path" = h2c-upgrade ] && flag=--http2
    for run in $(seq 1 "$repeat"); do
        # a fresh uploadgate per run, so that its peak RSS is this run's
        gw_port=$(free_port)
        gateway_config "$work/cfg.yaml" "$gw_port" "$app_port" "$work/store" 120s 2GiB
        "$bin" -c "$work/cfg.yaml" >"$work/ug.log" 2>&1 &
        ug=$!
        pids+=($ug)
        wait_health "$gw_port" || { echo "uploadgate/app did not come up" >&2; cat "$work/ug.log" >&2; exit 1; }
        rm -f "$work/stop"
        sampler "$ug" "$work/peak" "$work/stop" "$work/tick" &
        sp=$!
        got=$(/usr/bin/curl -sS "$flag" -o /dev/null "http://127.0.0.1:$gw_port/api/items" \
            --next -sS "$flag" -o "$work/answer.json" -w '%{http_code} %{time_total} %{http_version} %{num_connects}' \
            -H 'Content-Type: application/octet-stream' --data-binary @"$work/body.bin" "http://127.0.0.1:$gw_port/upload")
        touch "$work/stop"
        wait "$sp"
        kill "$ug"
        wait "$ug" 2>/dev/null || true
        read -r status seconds version connects <<< "$got"
        read -r peak _ <"$work/peak"
        sha=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["files"][0]["sha256"])' \
            "$work/answer.json" 2>/dev/null || echo "?")
        if [ "$status" != 201 ] || [ "$sha" != "$want" ] || [ "$connects" != 0 ]; then
            echo "run $run on $path: status $status, sha256 $sha, new connections $connects (expected 201, $want, 0)" >&2
            cat "$work/ug.log" >&2
            exit 1
        fi
        printf '| %s | %d | %s | HTTP/%s | %d |\n' "$path" "$run" "$seconds" "$version" "$((peak / 1024))"
        rm -rf "$work/store/"* "$work/received/"*
    done
done
