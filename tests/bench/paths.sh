#!/usr/bin/env bash
# The two streaming fronts on the same uploads: HTTP/1.1 (http1: curl --http1.1) and HTTP/2 (h2c, prior
# knowledge; until build 0f6197a this path was h2o's buffered one, see docs/benchmarks.md). For each path and each concurrency N: a fresh uploadgate (threads: 2) in
# front of a fresh example app, N parallel client processes (one connection each) upload the same random SIZE_MIB
# file as multipart/form-data; every upload must come back with the app's 201 answer naming the source's sha256
# and size (the app hashes the stored file before answering), and each file the app received is hashed again here.
# Measured per batch: wall time, uploadgate's /proc/<pid>/io write_bytes delta (page-cache dirtying of files,
# h2o's mmapped spool included), peak VmRSS / RssAnon / RssFile sampled every 20 ms.
#
#   tests/bench/paths.sh [SIZE_MIB=256] [CONCURRENCY="1 64"]
#   env: PATHS="http1 h2c"  which paths to run (default both)
#        H2C_CLIENT=nghttp  h2c client: nghttp (default; `nghttp -d` of a prebuilt multipart body) or curl
#                           (`curl --http2-prior-knowledge -F`; Debian 12's curl 7.88.1 busy-polls on HTTP/2
#                           uploads whose flow-control window is closed, curl/curl#10618, so 64 of them starve
#                           uploadgate of CPU: that measures curl)
#        UG_BIN=...         uploadgate binary (default build/uploadgate, built when missing; copied before use)
#        VERIFY_DISK=0      skip re-hashing the received files (the app has hashed them already)
#        OUT=FILE           where the report goes (default tests/bench/results/paths.md)
#        KEEP=1             keep the work dir (body files) on exit; run dirs are removed after each run
# Writes the table to tests/bench/results/paths.md (or $OUT); exit status 0 only when every upload was verified.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh   # free_port, gateway_config, wait_health, sampler
root=$PWD
size=${1:-256}
concs=${2:-"1 64"}
paths=${PATHS:-"http1 h2c"}
verify_disk=${VERIFY_DISK:-1}
out_md=${OUT:-tests/bench/results/paths.md}
py=/usr/bin/python3
case $size in ''|*[!0-9]*) echo "SIZE_MIB must be a whole number" >&2; exit 2 ;; esac
for n in $concs; do case $n in ''|*[!0-9]*|0) echo "bad concurrency '$n'" >&2; exit 2 ;; esac; done

ug_src=${UG_BIN:-build/uploadgate}
if [ ! -x "$ug_src" ]; then
    cmake -S . -B build >/dev/null && cmake --build build -j2 --target uploadgate >/dev/null
fi

work=$(mktemp -d /var/tmp/ug-paths.XXXXXX)
pids=()   # every long-running process this script starts (app, uploadgate, sampler, curls)
cleanup() {
    local p i alive
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for i in $(seq 1 100); do   # up to 10 s for a graceful exit, then SIGKILL
        alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${KEEP:-0}" = 1 ]; then echo "work dir kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Snapshot the binary: others rebuild build/ while this runs.
cp "$ug_src" "$work/uploadgate"
ug_bin=$work/uploadgate
ug_sha=$(sha256sum "$ug_bin" | cut -c1-12)
ug_mtime=$(date -u -r "$ug_src" '+%Y-%m-%d %H:%M UTC')

bytes=$((size * 1024 * 1024))
head -c "$bytes" /dev/urandom > "$work/body.bin"
want=$(sha256sum "$work/body.bin" | cut -d' ' -f1)
mkfifo "$work/tick"
# h2c client (see the top). curl/curl#10618 was fixed in curl 8.0.0 (pull request #10627).
h2c_client=${H2C_CLIENT:-nghttp}
case " $paths " in
    *" h2c "*) if [ "$h2c_client" = nghttp ]; then
                   # nghttp -d posts a file as it is: the same multipart body curl -F builds, written once here.
                   boundary=------------------------uploadgatepaths0123456789
                   { printf -- '--%s\r\nContent-Disposition: form-data; name="file"; filename="body.bin"\r\n' "$boundary"
                     printf 'Content-Type: application/octet-stream\r\n\r\n'
                     cat "$work/body.bin"
                     printf -- '\r\n--%s--\r\n' "$boundary"; } > "$work/body.multipart"
               fi ;;
esac

# stop PID: SIGTERM, then SIGKILL after 10 s; drop it from pids.
stop() {
    local p=$1 i
    kill "$p" 2>/dev/null || true
    for i in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    local keep=() q
    for q in "${pids[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
    pids=("${keep[@]}")
}

# io PID -> "write_bytes rchar wchar cancelled_write_bytes"
io() { awk '/^write_bytes/{w=$2} /^rchar/{r=$2} /^wchar/{c=$2} /^cancelled_write_bytes/{x=$2} END{print w, r, c, x}' "/proc/$1/io"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

rows=()      # markdown rows
details=()   # second table
summary=()   # "path n peak_rss_mib ratio ok peak_anon_mib peak_file_mib"
fail=0

run_one() {  # path n
    local path=$1 n=$2 run=$work/run app_port gw_port app ug flag i
    rm -rf "$run"
    mkdir -p "$run/store" "$run/received" "$run/out"
    # MiB: the stored files (both fronts write each payload byte once); + margin
    local copies=1
    local need=$((n * size * copies + 2048))
    local avail=$(( $(df --output=avail -k /var/tmp | tail -1) / 1024 ))
    if [ "$avail" -lt "$need" ]; then
        echo "not enough disk for $path $n x $size MiB: need ~$need MiB, have $avail MiB" >&2
        fail=1; rows+=("| $path | $n × $size MiB | skipped: disk | | | |"); return
    fi
    app_port=$(free_port)
    gw_port=$(free_port)
    gateway_config "$run/cfg.yaml" "$gw_port" "$app_port" "$run/store" 600s "$((size * 2 + 64))MiB"
    EXAMPLE_APP_DEST="$run/received" $py -m uvicorn app:app --app-dir "$root/deploy/example-app" \
        --host 127.0.0.1 --port "$app_port" --log-level warning >"$run/app.log" 2>&1 &
    app=$!; pids+=("$app")
    "$ug_bin" -c "$run/cfg.yaml" >"$run/ug.log" 2>&1 &
    ug=$!; pids+=("$ug")
    wait_health "$gw_port" || { echo "uploadgate/app did not come up" >&2; cat "$run/ug.log" "$run/app.log" >&2; exit 1; }

    local client=curl
    [ "$path" = h2c ] && client=$h2c_client
    local load0 io0 cpu0 io1 cpu1 t0 t1 sp
    load0=$(cut -d' ' -f1 /proc/loadavg)
    sync   # earlier runs' dirty pages should not be flushed on our clock more than necessary
    io0=$(io "$ug"); cpu0=$(cpu_ticks "$ug")
    rm -f "$run/stop"
    sampler "$ug" "$run/peak" "$run/stop" "$work/tick" &
    sp=$!; pids+=("$sp")
    local cpids=()
    t0=$EPOCHREALTIME
    for i in $(seq 1 "$n"); do
        case $path/$client in
            http1/curl)
                curl -sS --http1.1 -o "$run/out/$i.json" -w '%{http_code}' -F "file=@$work/body.bin" \
                    "http://127.0.0.1:$gw_port/upload" >"$run/out/$i.code" 2>"$run/out/$i.err" & ;;
            h2c/curl)
                curl -sS --http2-prior-knowledge -o "$run/out/$i.json" -w '%{http_code}' -F "file=@$work/body.bin" \
                    "http://127.0.0.1:$gw_port/upload" >"$run/out/$i.code" 2>"$run/out/$i.err" & ;;
            h2c/nghttp)  # prior knowledge (no -u); the status is not printed: see the verification below
                echo nghttp >"$run/out/$i.code"
                nghttp -t 0 -d "$work/body.multipart" -H "content-type: multipart/form-data; boundary=$boundary" \
                    "http://127.0.0.1:$gw_port/upload" >"$run/out/$i.json" 2>"$run/out/$i.err" & ;;
        esac
        cpids+=($!); pids+=($!)
    done
    local rc
    for i in "${!cpids[@]}"; do
        rc=0; wait "${cpids[$i]}" || rc=$?
        echo "$rc" > "$run/out/$((i + 1)).rc"
    done
    t1=$EPOCHREALTIME
    io1=$(io "$ug"); cpu1=$(cpu_ticks "$ug")
    touch "$run/stop"
    wait "$sp" || true
    local keep=() q
    for q in "${pids[@]}"; do
        case " ${cpids[*]} $sp " in *" $q "*) ;; *) keep+=("$q") ;; esac
    done
    pids=("${keep[@]}")
    local load1; load1=$(cut -d' ' -f1 /proc/loadavg)

    # Verify: 201, one file, the source's sha256 and size; the received file exists with that size
    # (and, VERIFY_DISK=1, hashes to it again here).
    local ok
    ok=$(WANT=$want BYTES=$bytes N=$n OUT=$run/out VERIFY_DISK=$verify_disk $py - <<'PY'
import hashlib, json, os, sys
from concurrent.futures import ThreadPoolExecutor
want, size, n, out = os.environ["WANT"], int(os.environ["BYTES"]), int(os.environ["N"]), os.environ["OUT"]
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while True:
            b = f.read(1 << 22)
            if not b:
                return h.hexdigest()
            h.update(b)
good, stored, bad = 0, [], []
for i in range(1, n + 1):
    code = open(f"{out}/{i}.code").read().strip()
    rc = open(f"{out}/{i}.rc").read().strip()
    err = open(f"{out}/{i}.err").read().strip()
    try:
        body = open(f"{out}/{i}.json", "rb").read()
    except FileNotFoundError:
        body = b""
    try:
        resp = json.loads(body)
        files = resp["files"]
        fi = files[0]
        # nghttp does not report the status: the example app sends {"id", "files": [...]} only with its 201
        if code == "nghttp" and rc == "0" and len(resp.get("id", "")) == 32:
            code = "201"
        if code == "201" and len(files) == 1 and fi["sha256"] == want and fi["size"] == size \
                and os.path.getsize(fi["stored_as"]) == size:
            good += 1
            stored.append(fi["stored_as"])
            continue
    except Exception:
        pass
    bad.append(f"upload {i}: curl rc {rc}, HTTP {code or '-'}, {err[:200]!r}, body {body[:300]!r}")
if os.environ.get("VERIFY_DISK") == "1" and stored:
    with ThreadPoolExecutor(2) as ex:
        for p, d in zip(stored, ex.map(sha, stored)):
            if d != want:
                good -= 1
                bad.append(f"{p}: sha256 {d} on disk")
for b in bad[:10]:
    print(b, file=sys.stderr)
if len(bad) > 10:
    print(f"... {len(bad) - 10} more failures", file=sys.stderr)
print(good)
PY
)
    [ "$ok" -eq "$n" ] || fail=1

    local r a f ns
    read -r r a f ns < "$run/peak"
    read -r w0 rc0 wc0 x0 <<<"$io0"
    read -r w1 rc1 wc1 x1 <<<"$io1"
    local total=$((n * bytes))
    local res
    res=$($py - "$t0" "$t1" "$total" "$w0" "$w1" "$rc0" "$rc1" "$wc0" "$wc1" "$x0" "$x1" "$cpu0" "$cpu1" "$(getconf CLK_TCK)" <<'PY'
import sys
t0, t1, total, w0, w1, r0, r1, c0, c1, x0, x1, u0, u1, hz = map(float, sys.argv[1:])
wall = t1 - t0
M = 1 << 20
print(f"{wall:.2f} {total / wall / 1e6:.0f} {(w1 - w0) / total:.2f} {(w1 - w0) / M:.0f} "
      f"{(r1 - r0) / M:.0f} {(c1 - c0) / M:.0f} {(x1 - x0) / M:.0f} {(u1 - u0) / hz:.1f}")
PY
)
    local wall mbs ratio wmib rmib wcmib xmib cpu
    read -r wall mbs ratio wmib rmib wcmib xmib cpu <<<"$res"
    local label="$n × $size MiB"
    [ "$ok" -eq "$n" ] || label="$label (**$ok/$n ok**)"
    local shown=$path; [ "$path" = h2c ] && shown="h2c ($client)"
    rows+=("| $shown | $label | $wall | $mbs | $ratio ($wmib MiB) | $((r / 1024)) ($((a / 1024)) / $((f / 1024))) |")
    details+=("| $shown | $n × $size MiB | $wmib | $xmib | $rmib | $wcmib | $cpu | $ns | $load0 → $load1 |")
    summary+=("$path $n $((r / 1024)) $ratio $ok $((a / 1024)) $((f / 1024))")
    printf '%s %s x %s MiB: %s/%s ok, wall %s s, %s MB/s, written/payload %s, peak RSS %s MiB (anon %s / file %s)\n' \
        "$path" "$n" "$size" "$ok" "$n" "$wall" "$mbs" "$ratio" $((r / 1024)) $((a / 1024)) $((f / 1024))
    if [ "$ok" -ne "$n" ]; then
        echo "--- uploadgate log (tail) ---" >&2; tail -n 20 "$run/ug.log" >&2 || true
        echo "--- app log (tail) ---" >&2; tail -n 20 "$run/app.log" >&2 || true
        cp "$run/ug.log" "$work/failed-$path-$n-uploadgate.log"; cp "$run/app.log" "$work/failed-$path-$n-app.log"
        cp -r "$run/out" "$work/failed-$path-$n-responses"   # kept with KEEP=1
    fi

    stop "$ug"
    stop "$app"
    rm -rf "$run"
}

start_time=$(date -u '+%Y-%m-%d %H:%M UTC')
for path in $paths; do
    for n in $concs; do
        run_one "$path" "$n"
    done
done

sorted=$(printf '%s\n' $concs | sort -n)
nmin=$(head -1 <<<"$sorted"); nmax=$(tail -1 <<<"$sorted")
lines=()
for path in $paths; do
    pmin=; pmax=; ratios=(); allok=1
    for s in "${summary[@]}"; do
        read -r p n pk ra ok an fi <<<"$s"
        [ "$p" = "$path" ] || continue
        [ "$n" = "$nmin" ] && { pmin=$pk; amin=$an; fmin=$fi; }
        [ "$n" = "$nmax" ] && { pmax=$pk; amax=$an; fmax=$fi; }
        ratios+=("$ra")
        [ "$ok" = "$n" ] || allok=0
    done
    [ -n "$pmin" ] && [ -n "$pmax" ] || continue
    d=$((pmax - pmin))
    flat=no; [ "${d#-}" -le 16 ] && flat=yes
    one=yes; for ra in "${ratios[@]}"; do awk -v r="$ra" 'BEGIN{exit !(r <= 1.05)}' || one=no; done
    line="- **$path**: peak RSS $pmin MiB at N=$nmin, $pmax MiB at N=$nmax: difference $d MiB (anon $(printf %+d $((amax - amin))), file $(printf %+d $((fmax - fmin))); flat within 16 MiB: $flat); one write (written / payload ≤ 1.05 in every run: ${ratios[*]}): $one"
    [ "$allok" = 1 ] || line="$line; **some uploads failed**"
    lines+=("$line")
done

{
    echo "| path | N × size | wall s | MB/s | written / payload | peak RSS MiB (anon / file) |"
    echo "|---|---|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
    echo
    printf '%s\n' "${lines[@]}"
} > "$work/table.md"

mkdir -p "$(dirname "$out_md")"
{
    echo "# Ingest paths: the streaming HTTP/1.1 front (http1) and the streaming HTTP/2 front (h2c)"
    echo
    echo "\`tests/bench/paths.sh $size \"$concs\"\`, $start_time, uploadgate $ug_sha (built $ug_mtime), threads: 2,"
    echo "$(nproc) CPUs; N parallel client processes, one connection each, each uploading the same ${size} MiB random file"
    echo "as multipart/form-data (http1: \`curl --http1.1 -F file=@...\`; h2c: $( [ "$h2c_client" = nghttp ] && echo "\`nghttp -d\` (prior knowledge) of the body curl -F would send, as Debian 12's curl 7.88.1 busy-polls on HTTP/2 uploads whose window is closed (curl/curl#10618)" || echo "\`curl --http2-prior-knowledge -F file=@...\`")); every upload verified (201, sha256 and size from the app, which hashes the stored file;"
    echo "$( [ "$verify_disk" = 1 ] && echo "each received file hashed again by the bench" || echo "no second hash")). MB/s = N × size / wall, 10^6 bytes."
    echo "written = uploadgate's /proc/<pid>/io write_bytes delta (page cache dirtied by its writes and its mmapped"
    echo "spool); peak RSS sampled every 20 ms (anon and file peaks taken separately)."
    echo
    cat "$work/table.md"
    echo
    echo "Details (MiB unless noted): cancelled = cancelled_write_bytes (dirty pages dropped before writeback, e.g. the"
    echo "unlinked spool); rchar / wchar = bytes through read/write-type syscalls (sockets included); CPU = uploadgate user+sys;"
    echo "load = 1-min load average before → after the batch (foreign load makes timings noisy)."
    echo
    echo "| path | N × size | written | cancelled | rchar | wchar | CPU s | RSS samples | load |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
    printf '%s\n' "${details[@]}"
} > "$out_md"

echo
cat "$work/table.md"
echo
echo "(written to $out_md)"
exit "$fail"
