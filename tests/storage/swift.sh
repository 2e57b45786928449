#!/usr/bin/env bash
# A real S3 server for the tests: OpenStack Swift 2.30 (Debian's swift-proxy, swift-object, swift-container,
# swift-account) with the s3api middleware, tempauth and memcached, on 127.0.0.1 only.
#
#   tests/storage/swift.sh start DIR   start it; prints DIR/env when the S3 API answers
#   tests/storage/swift.sh stop DIR    stop every process start recorded, by PID
#
# Everything lives under DIR: etc/ (configs, rings), srv/d1 (the one device), run/*.pid, log/*.log, env.
# One replica, one device, mount_check = false, one process per server (workers = 0), so the PIDs recorded at
# start are every process there is. Ports are chosen free at start (bind to port 0 and keep the sockets until
# all five are chosen); if another process takes one before a server binds it, start tries again with new
# ports (3 attempts). Runs as root or as any user: the servers keep the user that starts them.
#
# DIR/env (sourceable shell, also read by tests/integration/harness/s3store.py):
#   S3_ENDPOINT=http://127.0.0.1:PORT  S3_REGION  S3_BUCKET  S3_ACCESS_KEY (tempauth "account:user")  S3_SECRET_KEY
#
# Both commands are idempotent: start on a running cluster only checks it answers; stop on a stopped one (or a
# DIR that never started) does nothing and succeeds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
READY_TIMEOUT=${SWIFT_READY_TIMEOUT:-90}
REGION=us-east-1
BUCKET=ug-test
ACCOUNT=test
USER_NAME=tester
SECRET=testing
SERVERS=(account container object proxy)

die() { echo "swift.sh: $*" >&2; exit 1; }

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }

# alive PIDFILE: the recorded process still runs and is one of ours (its command line names DIR), so a PID
# the kernel reused for an unrelated process is never signalled.
alive() {
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1")
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR"
}

# free_ports N: N distinct loopback ports, free now.
free_ports() {
    /usr/bin/python3 - "$1" <<'PYEOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PYEOF
}

write_configs() {
    local etc=$DIR/etc user
    user=$(id -un)
    mkdir -p "$etc" "$DIR/srv/d1" "$DIR/run" "$DIR/log" "$DIR/cache"
    # swift_server.py points Swift at this file instead of /etc/swift/swift.conf.
    cat >"$etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = ug-test-suffix
swift_hash_path_prefix = ug-test-prefix

[storage-policy:0]
name = Policy-0
default = yes
EOF
    local s port
    for s in account container object; do
        case $s in account) port=$ACCOUNT_PORT ;; container) port=$CONTAINER_PORT ;; object) port=$OBJECT_PORT ;; esac
        cat >"$etc/$s-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = $user
swift_dir = $etc
devices = $DIR/srv
mount_check = false
disable_fallocate = true
log_level = INFO
recon_cache_path = $DIR/cache

[pipeline:main]
pipeline = $s-server

[app:$s-server]
use = egg:swift#$s
EOF
    done
    # s3api goes after cache (it keeps nothing itself) and right before tempauth, its auth; slo after s3api is
    # what makes multipart uploads available (without it s3api disables them with a warning in the log).
    cat >"$etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PROXY_PORT
workers = 0
user = $user
swift_dir = $etc
log_level = INFO

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = $REGION
# virtual-hosted requests: a Host <bucket>.localhost[:port] names the bucket (curl resolves *.localhost to
# loopback itself); any other Host (127.0.0.1:port) keeps path-style addressing
storage_domain = localhost

[filter:tempauth]
use = egg:swift#tempauth
user_${ACCOUNT}_${USER_NAME} = $SECRET .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MEMCACHED_PORT

EOF
    # the filters used as they come: section name = egg entry point (proxy-logging's is proxy_logging)
    local f
    for f in catch_errors gatekeeper healthcheck proxy-logging listing_formats bulk copy slo dlo; do
        printf '\n[filter:%s]\nuse = egg:swift#%s\n' "$f" "${f//-/_}" >>"$etc/proxy-server.conf"
    done
}

# build_rings: one-replica rings (part power 6, one device d1) for account, container and object, in one
# Python process with Swift's RingBuilder (nine swift-ring-builder runs cost seconds of interpreter start-up).
build_rings() {
    /usr/bin/python3 - "$DIR/etc" "$ACCOUNT_PORT" "$CONTAINER_PORT" "$OBJECT_PORT" <<'PYEOF'
import os, sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for name, port in zip(("account", "container", "object"), sys.argv[2:5]):
    builder = RingBuilder(6, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port), "device": "d1",
                     "weight": 100})
    builder.rebalance()
    builder.save(os.path.join(etc, name + ".builder"))
    builder.get_ring().save(os.path.join(etc, name + ".ring.gz"))
PYEOF
    local s
    for s in account container object; do
        [ -s "$DIR/etc/$s.ring.gz" ] || die "ring $s was not built"
    done
}

# spawn NAME CMD...: start a process detached from our stdio (a caller capturing our output must not wait for
# it), record its PID.
spawn() {
    local name=$1
    shift
    "$@" </dev/null >"$DIR/log/$name.log" 2>&1 &
    echo $! >"$DIR/run/$name.pid"
}

start_processes() {
    local mc=(memcached -l 127.0.0.1 -p "$MEMCACHED_PORT" -U 0 -m 64 -P "$DIR/run/memcached.self.pid")
    [ "$(id -u)" -ne 0 ] || mc+=(-u root) # memcached refuses to run as root without it
    # the pid file option puts DIR on memcached's command line, which alive() checks
    spawn memcached "${mc[@]}"
    local s section
    for s in "${SERVERS[@]}"; do
        section=$s-server
        spawn "$s" /usr/bin/python3 "$here/swift_server.py" "$DIR/etc" "$DIR/etc/$s-server.conf" "$section"
    done
}

# s3 METHOD PATH [curl args...]: one SigV4-signed request to the proxy; prints the HTTP status.
# The access key is tempauth's "account:user": --user would split it at its colon, so the credentials go in
# the URL, where curl percent-decodes them (%3A).
# curl 7.88 signs the payload it sends but does not add x-amz-content-sha256, which s3api requires for V4
# (it answers 400 InvalidRequest without it): the caller's header carries the hash of the (empty) body.
# Swift also wants Content-Length on every PUT, even an empty one (411 MissingContentLength), which curl omits.
s3() {
    local method=$1 path=$2
    shift 2
    curl -s -o "$DIR/log/last-s3-answer.xml" -w '%{http_code}' --max-time 10 -X "$method" \
        --aws-sigv4 "aws:amz:$REGION:s3" \
        -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" -H "Content-Length: 0" \
        "$@" "http://$ACCOUNT%3A$USER_NAME:$SECRET@127.0.0.1:$PROXY_PORT$path" || true
}

all_alive() {
    local n
    for n in memcached "${SERVERS[@]}"; do
        alive "$DIR/run/$n.pid" || return 1
    done
}

# wait_ready: poll until the bucket can be created (answer 200: proxy, auth, account and container servers
# work) and an object written and deleted in it (the object server works), or a process died, or the deadline.
wait_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT)) code
    while :; do
        all_alive || return 1
        code=$(s3 PUT "/$BUCKET")
        # 409 BucketAlreadyOwnedByYou: DIR kept the bucket from an earlier start
        [ "$code" != 409 ] || code=200
        if [ "$code" = 200 ]; then
            code=$(s3 PUT "/$BUCKET/.ready-probe")
            if [ "$code" = 200 ] && [ "$(s3 DELETE "/$BUCKET/.ready-probe")" = 204 ]; then
                return 0
            fi
        fi
        case $code in 4??) # an answer that polling will not change (bad signature, bad config)
            cat "$DIR/log/last-s3-answer.xml" >&2
            return 3 ;;
        esac
        [ $SECONDS -lt $deadline ] || return 2
        sleep 0.2 # poll interval, not synchronisation
    done
}

write_env() {
    cat >"$DIR/env.tmp" <<EOF
S3_ENDPOINT=http://127.0.0.1:$PROXY_PORT
S3_REGION=$REGION
S3_BUCKET=$BUCKET
S3_ACCESS_KEY=$ACCOUNT:$USER_NAME
S3_SECRET_KEY=$SECRET
EOF
    mv "$DIR/env.tmp" "$DIR/env"
}

cmd_start() {
    if [ -s "$DIR/env" ] && all_alive; then
        PROXY_PORT=$(sed -n 's|^S3_ENDPOINT=http://127.0.0.1:||p' "$DIR/env")
        wait_ready || die "running but not answering (logs: $DIR/log)"
        return 0
    fi
    cmd_stop
    local attempt rc
    for attempt in 1 2 3; do
        # shellcheck disable=SC2046
        set -- $(free_ports 5)
        PROXY_PORT=$1 ACCOUNT_PORT=$2 CONTAINER_PORT=$3 OBJECT_PORT=$4 MEMCACHED_PORT=$5
        write_configs
        build_rings
        start_processes
        rc=0
        wait_ready || rc=$?
        if [ $rc -eq 0 ]; then
            write_env
            return 0
        fi
        case $rc in
        2) echo "swift.sh: attempt $attempt: not ready after ${READY_TIMEOUT}s" >&2 ;;
        3) cmd_stop; die "the S3 API refused the setup requests (above)" ;;
        *) echo "swift.sh: attempt $attempt: a server exited (port taken?)" >&2 ;;
        esac
        tail -n 5 "$DIR"/log/*.log >&2 || true
        cmd_stop
    done
    die "Swift did not start (logs: $DIR/log)"
}

cmd_stop() {
    [ -d "$DIR/run" ] || return 0
    local f pid pending deadline
    for f in "$DIR"/run/*.pid; do
        [ -e "$f" ] || continue
        case $f in *.self.pid) continue ;; esac
        if alive "$f"; then kill -TERM "$(cat "$f")" 2>/dev/null || true; fi
    done
    deadline=$((SECONDS + 15))
    while :; do
        pending=""
        for f in "$DIR"/run/*.pid; do
            [ -e "$f" ] || continue
            case $f in *.self.pid) continue ;; esac
            if alive "$f"; then pending="$pending $f"; fi
        done
        [ -n "$pending" ] || break
        if [ $SECONDS -ge $deadline ]; then
            for f in $pending; do kill -KILL "$(cat "$f")" 2>/dev/null || true; done
        fi
        sleep 0.1 # poll interval
    done
    rm -f "$DIR"/run/*.pid "$DIR/env"
}

[ $# -eq 2 ] || usage
mkdir -p "$2"
DIR=$(cd "$2" && pwd)
case $1 in
start) cmd_start ;;
stop) cmd_stop ;;
*) usage ;;
esac
