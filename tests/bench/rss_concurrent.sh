#!/usr/bin/env bash
# Peak memory of uploadgate under N concurrent uploads of SIZE_MIB each (default 16 x 100 MiB),
# whole path: parse, hash, store, manifest accepted by the example app. Prints peak VmRSS and its
# split into RssAnon (heap: what grows with body size if bodies were held in memory) and RssFile
# (page-cache pages of h2o's mmapped spool files, which the kernel can drop at any time).
#   tests/bench/rss_concurrent.sh [N] [SIZE_MIB] [PROTO]     PROTO: http1 (default) or h2c
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh   # free_port, gateway_config, wait_health, sampler, work_dir, example_app
n=${1:-16}
size=${2:-100}
proto=${3:-http1}
[ -x build/uploadgate ] || { cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" >/dev/null; }

work_dir ug-rss

app_port=$(free_port)
gw_port=$(free_port)
mkdir -p "$work/store" "$work/received"
gateway_config "$work/cfg.yaml" "$gw_port" "$app_port" "$work/store" 120s 2GiB
example_app "$app_port" "$work/received"
build/uploadgate -c "$work/cfg.yaml" >"$work/ug.log" 2>&1 &
ug=$!
pids+=($ug)
wait_health "$gw_port" || { echo "uploadgate/app did not come up" >&2; cat "$work/ug.log" >&2; exit 1; }

head -c "$((size * 1024 * 1024))" /dev/urandom > "$work/body.bin"
want=$(sha256sum "$work/body.bin" | cut -d' ' -f1)

# Sample the gateway's memory while the uploads run (polling is the measurement here, not synchronisation).
mkfifo "$work/tick"
sampler "$ug" "$work/peak" "$work/done" "$work/tick" &
sampler=$!

flag=--http1.1
[ "$proto" = h2c ] && flag=--http2-prior-knowledge
start=$(date +%s.%N)
cpids=()
for i in $(seq 1 "$n"); do
    curl -sS $flag -o "$work/out.$i" -w '%{http_code}' -F "file=@$work/body.bin" "http://127.0.0.1:$gw_port/upload" > "$work/code.$i" &
    cpids+=($!)
done
for p in "${cpids[@]}"; do wait "$p"; done
end=$(date +%s.%N)
touch "$work/done"
wait "$sampler"

ok=0
for i in $(seq 1 "$n"); do
    if [ "$(cat "$work/code.$i")" = 201 ] && grep -q "\"sha256\":\"$want\"" "$work/out.$i"; then ok=$((ok + 1)); fi
done
read -r peak_rss peak_anon peak_file _ < "$work/peak"
printf 'uploads: %d x %d MiB over %s, %d/%d verified (201 + sha256), wall %.2f s\n' "$n" "$size" "$proto" "$ok" "$n" \
    "$(echo "$end - $start" | bc)"
printf 'uploadgate peak VmRSS %d MiB (RssAnon %d MiB, RssFile %d MiB)\n' $((peak_rss / 1024)) $((peak_anon / 1024)) $((peak_file / 1024))
[ "$ok" -eq "$n" ]
