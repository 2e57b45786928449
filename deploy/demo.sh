#!/usr/bin/env bash
# Build uploadgate and run the demo: the example FastAPI app on 127.0.0.1:8000 and
# uploadgate with config/uploadgate.yaml on 127.0.0.1:8080 in front of it.
# Ctrl-C stops both. Installs the Debian packages it needs first (as root).
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh demo
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUG_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"
build/uploadgate --check -c config/uploadgate.yaml

store=$(sed -n 's/^ *dir: *\([^ #]*\).*/\1/p' config/uploadgate.yaml | head -n 1)
received=${EXAMPLE_APP_DEST:-/var/lib/uploadgate-demo/received}
mkdir -p "$store" "$received"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

EXAMPLE_APP_DEST="$received" /usr/bin/python3 -m uvicorn app:app --app-dir deploy/example-app \
    --host 127.0.0.1 --port 8000 --log-level warning &
pids+=($!)
# Start uploadgate once the app answers, so the first requests are not 502s (bounded wait, not a guess).
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null http://127.0.0.1:8000/health 2>/dev/null && break
    kill -0 "${pids[0]}" 2>/dev/null || { echo "demo: the example app exited early" >&2; exit 1; }
    sleep 0.1
done
build/uploadgate -c config/uploadgate.yaml &
pids+=($!)

# Wait (bounded) until both answer, instead of guessing with sleep.
for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null http://127.0.0.1:8080/health 2>/dev/null; then break; fi
    kill -0 "${pids[0]}" "${pids[1]}" 2>/dev/null || { echo "demo: a process exited early" >&2; exit 1; }
    sleep 0.1
done
curl -fsS -o /dev/null http://127.0.0.1:8080/health

cat <<TXT

uploadgate is listening on http://127.0.0.1:8080 in front of the example app (127.0.0.1:8000).
Try an upload (the app answers with what it received; files land in $received):

  head -c 20M /dev/urandom > /tmp/demo.bin
  curl -F title=hello -F file=@/tmp/demo.bin http://127.0.0.1:8080/upload

and a request that is passed through untouched:

  curl http://127.0.0.1:8080/api/items

Probes and metrics are on the admin listener (never the public port):

  curl http://127.0.0.1:9901/readyz
  curl http://127.0.0.1:9901/metrics

Request logs are JSON lines on this terminal; kill -HUP <uploadgate pid> reloads config/uploadgate.yaml.

Ctrl-C stops both.
TXT
wait -n "${pids[@]}"
