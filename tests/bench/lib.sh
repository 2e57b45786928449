# shellcheck shell=bash
# Shell helpers shared by paths.sh, rss_concurrent.sh and keepalive_upload.sh (sourced, not run): they start a fresh
# uploadgate in front of a fresh example app and sample its peak memory while uploads run, and should do that the same
# way.

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# gateway_config FILE GW_PORT APP_PORT STORE_DIR BACKEND_TIMEOUT MAX_BODY
# uploadgate (threads: 2) on 127.0.0.1:GW_PORT for the app on 127.0.0.1:APP_PORT, one /upload route whose max_body and
# max_file are both MAX_BODY.
gateway_config() {
    cat > "$1" <<YAML
listen: [{address: 127.0.0.1:$2}]
threads: 2
backend: {url: http://127.0.0.1:$3, timeout: $5}
storage: {dir: $4, min_free: 1MiB}
routes:
  - path: /upload
    limits: {max_body: $6, max_file: $6}
YAML
}

# wait_url URL [TRIES]: polls URL every 50 ms until it answers 2xx, at most TRIES (200: 10 s) times; fails when it never
# did.
wait_url() {
    local _
    for _ in $(seq 1 "${2:-200}"); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# wait_health GW_PORT: polls uploadgate's /health for up to 10 s; fails when it never answered.
wait_health() {
    wait_url "http://127.0.0.1:$1/health"
}

# sampler PID OUT STOPFILE TICK_FIFO (run it in the background)
# Peak VmRSS / RssAnon / RssFile of PID, each taken separately, sampled every 20 ms until STOPFILE exists or PID is
# gone; then writes "peak_rss peak_anon peak_file samples" (KiB) to OUT. No forks per sample (builtins only, so the
# sampler barely loads the machine it measures): the 20 ms pause is a read timeout on TICK_FIFO, which the caller
# makes with mkfifo and nobody writes to.
sampler() {
    local pid=$1 out=$2 stopfile=$3 tick=$4 fd k v rest r=0 a=0 f=0 n=0
    exec {fd}<>"$tick"
    while [ ! -e "$stopfile" ] && [ -r "/proc/$pid/status" ]; do
        { while read -r k v rest; do
              case $k in
                  VmRSS:) if ((v > r)); then r=$v; fi ;;
                  RssAnon:) if ((v > a)); then a=$v; fi ;;
                  RssFile:) if ((v > f)); then f=$v; fi ;;
              esac
          done < "/proc/$pid/status"; } 2>/dev/null || true
        n=$((n + 1))
        read -r -t 0.02 -u "$fd" _ || true
    done
    echo "$r $a $f $n" > "$out"
}

# work_dir PREFIX: a fresh directory /var/tmp/PREFIX.XXXXXX in $work, removed at exit after every process whose PID
# the caller appended to the array `pids` is stopped (by PID).
work_dir() {
    work=$(mktemp -d "/var/tmp/$1.XXXXXX")
    pids=()
    trap _work_dir_cleanup EXIT
}
_work_dir_cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}

# example_app PORT DEST: the example app (deploy/example-app) on 127.0.0.1:PORT, moving accepted files to DEST; its
# PID goes into `pids`. Run from the repository's top.
example_app() {
    EXAMPLE_APP_DEST="$2" /usr/bin/python3 -m uvicorn app:app --app-dir deploy/example-app \
        --host 127.0.0.1 --port "$1" --log-level warning &
    pids+=($!)
}
