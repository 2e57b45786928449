#!/usr/bin/env bash
# HTTP/2 conformance: run h2spec against a freshly started uploadgate's three listeners - cleartext (h2c with prior
# knowledge), TLS (ALPN h2, a certificate generated here) and admin - and print each listener's summary.
#
#   tests/conformance/h2spec.sh [extra h2spec arguments, e.g. -S or a spec id such as http2/5.1.1]
#
# h2spec is not built here: set H2SPEC to its binary, or have `h2spec` on PATH; without one this exits 77 (skipped).
# UG_BINARY selects the uploadgate binary (default build/uploadgate). Everything listens on 127.0.0.1 only; every
# process started here is stopped by its PID on exit. Exit status: 0 when every listener passed every test, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."

h2spec=${H2SPEC:-$(command -v h2spec || true)}
if [[ -z "$h2spec" || ! -x "$h2spec" ]]; then
    echo "h2spec.sh: no h2spec binary (set H2SPEC or put h2spec on PATH): skipped" >&2
    exit 77
fi
ug=${UG_BINARY:-$PWD/build/uploadgate}
[[ -x "$ug" ]] || { echo "h2spec.sh: no uploadgate binary at $ug (build it, or set UG_BINARY)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # port: until something accepts on 127.0.0.1:port, for at most 15 s
    for _ in $(seq 150); do
        if /usr/bin/python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "h2spec.sh: nothing accepts on 127.0.0.1:$1" >&2
    return 1
}

port=$(free_port); tls_port=$(free_port); admin_port=$(free_port); backend_port=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
mkdir -p "$work/store" "$work/site"
head -c 4096 /dev/zero | tr "\\0" x > "$work/site/index.html" # long enough for every h2spec flow-control case

# The backend of pass-through requests (h2spec's requests go to "/"): a static site.
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$work/site" "$backend_port" >"$work/backend.log" 2>&1 &
pids+=($!)

cat >"$work/uploadgate.yaml" <<EOF
listen:
  - address: 127.0.0.1:$port
  - address: 127.0.0.1:$tls_port
    tls:
      certificate: $work/cert.pem
      key: $work/key.pem
threads: 1
backend:
  url: http://127.0.0.1:$backend_port
  timeout: 10s
storage:
  dir: $work/store
  min_free: 1MiB
timeouts:
  header: 10s
  body_idle: 10s
  keepalive: 60s
  request: 1h
routes:
  - path: /upload
    methods: [POST, PUT]
    forward_to: /upload
admin:
  address: 127.0.0.1:$admin_port
shutdown_grace: 1s
EOF
"$ug" -c "$work/uploadgate.yaml" >"$work/uploadgate.log" 2>&1 &
pids+=($!)
wait_port "$backend_port"
wait_port "$port"
wait_port "$tls_port"
wait_port "$admin_port"

status=0
run() { # name, h2spec arguments
    local name=$1 out
    shift
    echo "== $name"
    out=$("$h2spec" -h 127.0.0.1 -o 5 "$@" 2>&1) || status=1
    # The failures (h2spec lists them again after the run) and the totals line.
    printf '%s\n' "$out" | sed -n '/^Failures:/,/^Finished/p' | grep -v -e '^$' -e '^Finished' || true
    printf '%s\n' "$out" | grep -E '^[0-9]+ tests, [0-9]+ passed' | tail -1 || { printf '%s\n' "$out" | tail -20; status=1; }
}
run "cleartext 127.0.0.1:$port (h2c, prior knowledge)" -p "$port" "$@"
run "TLS 127.0.0.1:$tls_port (ALPN h2)" -p "$tls_port" -t -k "$@"
run "admin 127.0.0.1:$admin_port (h2c, prior knowledge)" -p "$admin_port" "$@"
exit $status
