#!/usr/bin/env bash
# Object-storage benchmark: uploads into S3-compatible storage (OpenStack Swift + s3api, tests/storage/swift.sh, on
# loopback) three ways, side by side in the same run:
#   uploadgate   a route with `store: s3` (part_size 8 MiB, parts_in_flight 4) in front of tests/bench/apps/ug_app.py;
#                the client sends multipart/form-data (curl -F), uploadgate streams each file into an object
#   curl-direct  curl -T straight into Swift, signed by curl (--aws-sigv4, the credentials in the URL; the payload's
#                sha256 computed beforehand, outside the timing, and sent as x-amz-content-sha256, so the store checks
#                the bytes as it does uploadgate's; Swift 2.30 would take UNSIGNED-PAYLOAD over http too, and refuses a
#                PUT without the header, 400); one PutObject per file
#   fastapi-s3   tests/bench/apps/fastapi_s3.py: FastAPI's UploadFile (spooled to a temporary file) then boto3
#                upload_fileobj, the usual way without uploadgate
# Workloads: "parallel" = PAR (4) files of PAR_MIB (20) MiB sent at once, "big" = one file of BIG_MIB (1024) MiB.
# Per peer, workload and repetition: elapsed seconds (the client's, first byte to last answer), MiB/s, and the peak
# VmRSS of the server in the middle (uploadgate, or the FastAPI worker; none for curl-direct), sampled every 20 ms.
# uploadgate's answer (the manifest's sha256, computed by uploadgate as the bytes streamed) is checked against the
# source files.
#
#   tests/bench/s3.sh            # N=3 repetitions
#   QUICK=1 tests/bench/s3.sh    # N=1, 256 MiB big file
#   PEERS="uploadgate curl-direct" tests/bench/s3.sh   # only these peers (default: all three)
#   PART_SIZE=32MiB IN_FLIGHT=2 tests/bench/s3.sh       # uploadgate's part_size and parts_in_flight (default 8MiB, 4)
#   CPU_SPLIT=1 tests/bench/s3.sh  # also where the CPU time of each row went (tests/bench/cpu_split.py), after the table
#
# Needs: swift (deploy/install-deps.sh test), python3-boto3, python3-uvicorn, python3-fastapi, python3-multipart.
# Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh # sampler, work_dir, free_port, wait_health

quick=${QUICK:-0}
n=${N:-$([ "$quick" = 1 ] && echo 1 || echo 3)}
big_mib=${BIG_MIB:-$([ "$quick" = 1 ] && echo 256 || echo 1024)}
par=${PAR:-4}
par_mib=${PAR_MIB:-20}

work_dir ug-s3
swift_dir="$work/swift"
_s3_cleanup() {
    tests/storage/swift.sh stop "$swift_dir" >/dev/null 2>&1 || true
    _work_dir_cleanup
}
trap _s3_cleanup EXIT

tests/storage/swift.sh start "$swift_dir" >/dev/null
# shellcheck disable=SC1091 # written by swift.sh
. "$swift_dir/env"

mkdir -p "$work/src"
head -c "$((big_mib * 1024 * 1024))" /dev/urandom >"$work/src/big.bin"
for i in $(seq 1 "$par"); do head -c "$((par_mib * 1024 * 1024))" /dev/urandom >"$work/src/par-$i.bin"; done
(cd "$work/src" && sha256sum -- *.bin) >"$work/want.sha256"
mkfifo "$work/tick"

# uploadgate with store: s3, in front of ug_app
app_port=$(free_port)
ug_port=$(free_port)
/usr/bin/python3 -m uvicorn ug_app:app --app-dir tests/bench/apps --host 127.0.0.1 --port "$app_port" \
    --workers 1 --no-access-log --log-level warning >"$work/ug_app.out" 2>&1 &
pids+=($!)
printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >"$work/s3-credentials"
mkdir -p "$work/store-ug"
cat >"$work/uploadgate.yaml" <<YAML
listen: [{address: 127.0.0.1:$ug_port}]
threads: 2
backend: {url: http://127.0.0.1:$app_port, timeout: 60s}
storage:
  dir: $work/store-ug
  min_free: 1MiB
  s3: {endpoint: $S3_ENDPOINT, region: $S3_REGION, bucket: $S3_BUCKET, prefix: bench-ug/, credentials_file: $work/s3-credentials, part_size: ${PART_SIZE:-8MiB}, parts_in_flight: ${IN_FLIGHT:-4}}
routes:
  - path: /upload
    methods: [POST]
    store: s3
    limits: {max_body: 2GiB, max_file: 2GiB}
YAML
wait_url "http://127.0.0.1:$app_port/docs" || { echo "ug_app did not start:" >&2; cat "$work/ug_app.out" >&2; exit 1; }
"${UG_BINARY:-build/uploadgate}" -c "$work/uploadgate.yaml" >"$work/uploadgate.out" 2>&1 &
pids+=($!)
ug_pid=${pids[-1]}
wait_health "$ug_port" || { echo "uploadgate did not start:" >&2; cat "$work/uploadgate.out" >&2; exit 1; }

# the FastAPI + boto3 app
fa_port=$(free_port)
S3_ENDPOINT=$S3_ENDPOINT S3_REGION=$S3_REGION S3_BUCKET=$S3_BUCKET S3_ACCESS_KEY=$S3_ACCESS_KEY \
    S3_SECRET_KEY=$S3_SECRET_KEY BENCH_PREFIX=bench-fastapi/ TMPDIR=$work \
    /usr/bin/python3 -m uvicorn fastapi_s3:app --app-dir tests/bench/apps --host 127.0.0.1 --port "$fa_port" \
    --workers 1 --no-access-log --log-level warning >"$work/fastapi_s3.out" 2>&1 &
pids+=($!)
fa_pid=${pids[-1]}
wait_url "http://127.0.0.1:$fa_port/docs" 400 || { echo "fastapi_s3 did not start:" >&2; cat "$work/fastapi_s3.out" >&2; exit 1; }

# the store must be up for uploadgate's route (its first probe): a head with Expect: 100-continue gets 100, not 503
for _ in $(seq 1 300); do
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 -X POST -H "Expect: 100-continue" \
        -H "Content-Type: application/octet-stream" --data-binary "x" "http://127.0.0.1:$ug_port/upload" || true)
    [ "$code" != 503 ] && break
    sleep 0.1
done

# curl-direct's credentials go in the URL, percent-encoded: --user splits at the first colon, and Swift's tempauth access
# key has one ("test:tester")
direct_base=$(/usr/bin/python3 -c 'import sys, urllib.parse as u; e = u.urlsplit(sys.argv[1]); print(f"{e.scheme}://{u.quote(sys.argv[2], safe=str())}:{u.quote(sys.argv[3], safe=str())}@{e.netloc}")' \
    "$S3_ENDPOINT" "$S3_ACCESS_KEY" "$S3_SECRET_KEY")

# send PEER FILE...: the peer's transfer of every FILE at once; prints the elapsed seconds. Fails on any error answer.
send() {
    local peer=$1 f i=0 t0 t1 cpids=()
    shift
    t0=$(date +%s.%N)
    for f in "$@"; do
        i=$((i + 1))
        case $peer in
            uploadgate)
                curl -sS -f -o "$work/answer-$i.json" -H "Expect:" -F "file=@$f;type=application/octet-stream" \
                    "http://127.0.0.1:$ug_port/upload" &
                ;;
            curl-direct)
                curl -sS -f -o /dev/null --aws-sigv4 "aws:amz:$S3_REGION:s3" \
                    -H "x-amz-content-sha256: $(grep " $(basename "$f")\$" "$work/want.sha256" | cut -d' ' -f1)" \
                    -T "$f" "${direct_base}/$S3_BUCKET/bench-direct/$(basename "$f").$RANDOM" &
                ;;
            fastapi-s3)
                curl -sS -f -o "$work/answer-$i.json" -H "Expect:" -F "files=@$f;type=application/octet-stream" \
                    "http://127.0.0.1:$fa_port/upload" &
                ;;
        esac
        cpids+=($!)
    done
    for p in "${cpids[@]}"; do wait "$p" || { echo "$peer: a transfer failed" >&2; return 1; }; done
    t1=$(date +%s.%N)
    /usr/bin/python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$t1"
}

# check_ug FILE...: uploadgate's answers (ug_app echoes the manifest) name one object per file with its sha256.
check_ug() {
    /usr/bin/python3 - "$work" "$work/want.sha256" "$@" <<'PY'
import json, os, sys
work, want_file, files = sys.argv[1], sys.argv[2], sys.argv[3:]
want = {name: h for h, name in (line.split() for line in open(want_file))}
for i, f in enumerate(files, start=1):
    got = json.load(open(os.path.join(work, f"answer-{i}.json")))["files"]
    if len(got) != 1 or not (got[0]["url"] or "").startswith("s3://") or got[0]["sha256"] != want[os.path.basename(f)]:
        sys.exit(f"uploadgate's manifest for {f} is wrong: {got}")
PY
}

echo "| peer | workload | run | elapsed (s) | MiB/s | peak RSS (MiB) |"
echo "|---|---|---:|---:|---:|---:|"
par_files=()
for i in $(seq 1 "$par"); do par_files+=("$work/src/par-$i.bin"); done
for run in $(seq 1 "$n"); do
    for peer in ${PEERS:-uploadgate curl-direct fastapi-s3}; do
        for workload in parallel big; do
            if [ "$workload" = big ]; then
                files=("$work/src/big.bin"); mib=$big_mib; label="1 x ${big_mib} MiB"
            else
                files=("${par_files[@]}"); mib=$((par * par_mib)); label="${par} x ${par_mib} MiB at once"
            fi
            case $peer in
                uploadgate) spid=$ug_pid ;;
                fastapi-s3) spid=$fa_pid ;;
                *) spid="" ;;
            esac
            rm -f "$work/stop" "$work/peak"
            if [ -n "$spid" ]; then
                sampler "$spid" "$work/peak" "$work/stop" "$work/tick" &
                sp=$!
            fi
            [ "${CPU_SPLIT:-0}" = 1 ] && /usr/bin/python3 tests/bench/cpu_split.py snap "${spid:-$ug_pid}" "$work" >"$work/cpu0"
            elapsed=$(send "$peer" "${files[@]}") || { touch "$work/stop"; exit 1; }
            touch "$work/stop"
            if [ "${CPU_SPLIT:-0}" = 1 ]; then
                /usr/bin/python3 tests/bench/cpu_split.py snap "${spid:-$ug_pid}" "$work" >"$work/cpu1"
                echo "$peer, $label, run $run: $(/usr/bin/python3 tests/bench/cpu_split.py diff "$work/cpu0" "$work/cpu1" "$elapsed")" \
                    >>"$work/cpu_split"
            fi
            peak="-"
            if [ -n "$spid" ]; then
                wait "$sp"
                read -r kib _ <"$work/peak"
                peak=$((kib / 1024))
            fi
            if [ "$peer" = uploadgate ]; then check_ug "${files[@]}"; fi
            printf '| %s | %s | %d | %s | %s | %s |\n' "$peer" "$label" "$run" "$elapsed" \
                "$(/usr/bin/python3 -c "print('%.1f' % ($mib / $elapsed))")" "$peak"
        done
    done
done
if [ "${CPU_SPLIT:-0}" = 1 ]; then echo; cat "$work/cpu_split"; fi
