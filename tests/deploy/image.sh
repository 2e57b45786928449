#!/usr/bin/env bash
# Build deploy/Dockerfile with podman and run the image next to the example app, as the Kubernetes pod does:
#
#   tests/deploy/image.sh
#
#   1. installs podman, runc and debootstrap (deploy/install-deps.sh image; as root)
#   2. makes the Dockerfile's base images (FROM lines) from Debian itself: `debootstrap --variant=minbase bookworm`
#      from the mirror apt already uses, imported with `podman import`; no registry is contacted
#   3. builds deploy/Dockerfile with the repository root as context (--pull=never)
#   4. checks what the build context let through (.dockerignore)
#   5. runs the image --read-only (no tmpfs either) --cap-drop ALL --user 10001 with host networking, listening on
#      loopback, the ConfigMap's configuration (deploy/kubernetes/configmap.yaml) with loopback addresses, tokens and
#      signing key mounted where the pod's projected volume puts them, storage bind-mounted and shared with the
#      example app (uvicorn on 127.0.0.1, UPLOADGATE_APP_DIR=/uploads like the pod's app container)
#   6. asserts: the process runs as uid 10001 with no capabilities on a read-only root; an upload with the token ->
#      201 and the sha256 the app reports (and of the file it stored) is the file's; no token -> 401 with the JSON
#      error; GET /api/items passes through -> 200 with the app's items; the app logs the client from
#      X-Forwarded-For
#   7. stops the container and the app it started (by name and PID) and removes the container
#
# Everything podman keeps (images, layers, build cache) lives in UG_IMAGE_STATE (default build-image/ at the
# repository root, kept out of git and of the build context), never in the user's global podman storage. The base
# images are made only when missing there, and the layer cache keeps the apt steps of the Dockerfile, so a second
# run rebuilds only what the source changed. `rm -rf build-image` starts from scratch.
#
# Why the generated containers.conf: runc, because crun refuses hosts with hybrid (v1 + v2) cgroups; cgroupfs,
# because systemd need not be PID 1; explicit nofile/nproc ulimits (see there).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

state=$(realpath -m -- "${UG_IMAGE_STATE:-$repo/build-image}")
image=localhost/uploadgate:test
ctr=uploadgate-image-test-$$
t_start=$SECONDS

log() { printf 'image.sh: %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

deploy/install-deps.sh image

# ---- podman configuration private to this script ---------------------------------------------------------------
mkdir -p "$state/storage" "$state/run" "$state/tmp"
# Explicit ulimits: podman's defaults (nofile/nproc 1048576) are above the hard limits, which root cannot raise
# here, and podman itself runs the OCI runtime under a lower nproc limit than this shell's (32768 on the
# development host), so the values are small fixed ones, lowered further to this shell's hard limits.
min() { if [ "$1" = unlimited ] || [ "$2" -lt "$1" ]; then echo "$2"; else echo "$1"; fi; }
nofile=$(min "$(ulimit -Hn)" 16384)
nproc=$(min "$(ulimit -Hu)" 4096)
cat >"$state/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$state/storage"
runroot = "$state/run"
EOF
cat >"$state/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$state/events.log"
tmp_dir = "$state/tmp"
image_copy_tmp_dir = "$state/tmp"
EOF
export CONTAINERS_CONF="$state/containers.conf" CONTAINERS_STORAGE_CONF="$state/storage.conf"

# ---- base images -------------------------------------------------------------------------------------------------

# The first URI apt uses for suite $1, from deb822 *.sources or one-line sources.list files (empty if none).
apt_uri() {
    local suite=$1 f
    {
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            awk -v suite="$suite" 'BEGIN { RS = "" }
                {
                    types = uris = suites = ""; enabled = "yes"
                    n = split($0, lines, "\n")
                    for (i = 1; i <= n; i++) {
                        if (lines[i] ~ /^#/) continue
                        if (lines[i] ~ /^Types:/) types = lines[i]
                        else if (lines[i] ~ /^URIs:/) uris = lines[i]
                        else if (lines[i] ~ /^Suites:/) suites = lines[i]
                        else if (lines[i] ~ /^Enabled:/) enabled = tolower(lines[i])
                    }
                    if (types " " ~ /[ \t]deb[ \t]/ && suites " " ~ ("[ \t]" suite "[ \t]") && enabled !~ /no/) {
                        split(uris, u, /[ \t]+/); print u[2]
                    }
                }' "$f"
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            awk -v suite="$suite" '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                                                   if ($(i + 1) == suite) print $i }' "$f"
        done
    } | awk 'NR == 1'
}

# The images the Dockerfile starts FROM (stage names excluded), fully qualified as podman resolves a short name.
base_images() {
    awk 'toupper($1) == "FROM" { print $2 }' deploy/Dockerfile | sort -u |
        sed -e '/\//!s|^|docker.io/library/|'
}

# What Debian's own images (debuerreotype) add to a minbase tree: apt keeps no package cache (*.bin, .debs) and
# fetches no translations, so an `apt-get install` layer holds only the packages. $1: the tree (never empty).
minimize_rootfs() {
    local r=${1:?} clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
    printf '%s\n' "DPkg::Post-Invoke { $clean };" "APT::Update::Post-Invoke { $clean };" \
        'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' >"$r/etc/apt/apt.conf.d/docker-clean"
    echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
    echo 'Acquire::GzipIndexes "true";' >"$r/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
    rm -rf "${r:?}"/var/cache/apt/archives/*.deb "${r:?}"/var/cache/apt/*.bin "${r:?}"/var/lib/apt/lists/* "${r:?}"/dev/*
}

# ... and what their -slim variant leaves out: documentation, manual pages, translations, now and in later installs.
slim_rootfs() {
    local r=${1:?} dir
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/linda/*' \
        'path-exclude /usr/share/lintian/overrides/*' 'path-exclude /usr/share/locale/*' \
        'path-exclude /usr/share/man/*' >"$r/etc/dpkg/dpkg.cfg.d/docker"
    find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
    for dir in groff info linda lintian/overrides locale man; do
        [ ! -d "$r/usr/share/$dir" ] || find "$r/usr/share/$dir" -mindepth 1 -delete
    done
}

import_rootfs() {  # $1: the tree, $2: the image name
    tar --numeric-owner -C "${1:?}" -c . | podman import --quiet --change 'CMD ["bash"]' - "$2" >/dev/null
    log "imported $2"
}

make_base_images() {
    local missing=() name
    for name in $(base_images); do
        podman image exists "$name" || missing+=("$name")
    done
    [ ${#missing[@]} -eq 0 ] && { log "base images cached: $(base_images | tr '\n' ' ')"; return; }

    local mirror security rootfs=$state/rootfs
    mirror=$(apt_uri bookworm)
    [ -n "$mirror" ] || die "no apt source for bookworm in /etc/apt: cannot choose a Debian mirror"
    security=$(apt_uri bookworm-security)
    log "debootstrap --variant=minbase bookworm from $mirror"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$state/debootstrap.log" 2>&1 ||
        { tail -n 20 "$state/debootstrap.log" >&2; die "debootstrap failed (log: $state/debootstrap.log)"; }
    # Like Debian's own images: the release, its updates and security.
    {
        echo "deb $mirror bookworm main"
        echo "deb $mirror bookworm-updates main"
        [ -z "$security" ] || echo "deb $security bookworm-security main"
    } >"$rootfs/etc/apt/sources.list"
    minimize_rootfs "$rootfs"
    for name in "${missing[@]}"; do
        [[ $name == *-slim ]] || import_rootfs "$rootfs" "$name"
    done
    slim_rootfs "$rootfs"
    for name in "${missing[@]}"; do
        [[ $name != *-slim ]] || import_rootfs "$rootfs" "$name"
    done
    rm -rf "$rootfs"
}

t0=$SECONDS
make_base_images
t_base=$((SECONDS - t0))

# ---- the image ---------------------------------------------------------------------------------------------------
t0=$SECONDS
log "podman build -f deploy/Dockerfile ."
podman build --pull=never --network host -f deploy/Dockerfile -t "$image" . >"$state/build.log" 2>&1 ||
    { tail -n 40 "$state/build.log" >&2; die "podman build failed (log: $state/build.log)"; }
t_build=$((SECONDS - t0))
size=$(podman image inspect --format '{{.Size}}' "$image")

# The build context, as the build stage saw it (.dockerignore): only what the build needs, no documentation at any
# depth, no tests, no git metadata. The build stage is cached by the build above, so this costs a second.
podman build --pull=never --network host --target build -f deploy/Dockerfile -t localhost/uploadgate-build:test . \
    >>"$state/build.log" 2>&1 || die "podman build --target build failed (log: $state/build.log)"
leaked=$(podman run --rm --network none --entrypoint /usr/bin/find localhost/uploadgate-build:test /src \
    -path /src/build -prune -o \( -name '*.md' -o -name tests -o -name .git -o -name example-app \
    -o -name kubernetes -o -name node_modules \) -print)
[ -z "$leaked" ] || die "the build context holds what .dockerignore should keep out:"$'\n'"$leaked"
# Earlier builds' images, now untagged and unused, go; the layers the builds above reuse (the apt steps) stay.
podman image prune --force >/dev/null

# ---- run it next to the example app ------------------------------------------------------------------------------
run=$(mktemp -d "${TMPDIR:-/tmp}/uploadgate-image.XXXXXX")
app_pid=
ctr_started=
cleanup() {
    local rc=$?
    if [ -n "$ctr_started" ]; then
        [ $rc -eq 0 ] || { log "uploadgate container log:"; podman logs "$ctr" 2>&1 | tail -n 30 >&2 || true; }
        podman stop --time 10 "$ctr" >/dev/null 2>&1 || true
        podman rm --force "$ctr" >/dev/null 2>&1 || true
    fi
    if [ -n "$app_pid" ]; then
        [ $rc -eq 0 ] || { log "example app log:"; tail -n 30 "$run/app.log" >&2 || true; }
        kill "$app_pid" 2>/dev/null || true
        wait "$app_pid" 2>/dev/null || true
    fi
    rm -rf "$run"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r gw_port admin_port app_port < <(/usr/bin/python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')

# /etc/uploadgate as the pod's projected volume lays it out: uploadgate.yaml, secrets/tokens, secrets/manifest.key,
# readable by group 10001 only. The configuration is the ConfigMap's, with loopback addresses and free ports.
install -d -o 0 -g 10001 -m 0750 "$run/etc" "$run/etc/secrets"
sed -n '/^  uploadgate.yaml: |$/,$ { /^  uploadgate.yaml: |$/d; s/^    //p; }' deploy/kubernetes/configmap.yaml |
    sed -e "s|\"0\.0\.0\.0:8080\"|\"127.0.0.1:$gw_port\"|" -e "s|\"0\.0\.0\.0:9901\"|\"127.0.0.1:$admin_port\"|" \
        -e "s|http://127\.0\.0\.1:8000|http://127.0.0.1:$app_port|" >"$run/etc/uploadgate.yaml"
for want in "127.0.0.1:$gw_port" "127.0.0.1:$admin_port" "http://127.0.0.1:$app_port" \
    "/etc/uploadgate/secrets/tokens" "/etc/uploadgate/secrets/manifest.key" "app_dir: /uploads"; do
    grep -qF -- "$want" "$run/etc/uploadgate.yaml" ||
        die "deploy/kubernetes/configmap.yaml changed shape: no '$want' after rewriting its addresses"
done
token=$(openssl rand -hex 24)
printf '%s\n' "$token" >"$run/etc/secrets/tokens"
openssl rand -hex 32 >"$run/etc/secrets/manifest.key"
chown 0:10001 "$run/etc/uploadgate.yaml" "$run/etc/secrets/tokens" "$run/etc/secrets/manifest.key"
chmod 0440 "$run/etc/uploadgate.yaml" "$run/etc/secrets/tokens" "$run/etc/secrets/manifest.key"
# The shared volume: uploadgate (uid 10001) writes it; the app sees it as /uploads through UPLOADGATE_APP_DIR.
install -d -o 10001 -g 10001 -m 0750 "$run/uploads"

EXAMPLE_APP_DEST="$run/received" EXAMPLE_APP_LOG="$run/app-requests.jsonl" PYTHONDONTWRITEBYTECODE=1 \
    UPLOADGATE_APP_DIR=/uploads UPLOADGATE_STORAGE_DIR="$run/uploads" \
    UPLOADGATE_SIGNING_KEY_FILE="$run/etc/secrets/manifest.key" \
    /usr/bin/python3 -m uvicorn app:app --app-dir deploy/example-app --host 127.0.0.1 --port "$app_port" \
    >"$run/app.log" 2>&1 &
app_pid=$!

ctr_started=1
podman run --detach --name "$ctr" --network host --read-only --read-only-tmpfs=false --cap-drop ALL \
    --security-opt no-new-privileges --user 10001:10001 \
    --volume "$run/uploads:/var/lib/uploadgate" --volume "$run/etc:/etc/uploadgate:ro" "$image" >/dev/null

# Ready = /readyz on the admin listener: uploadgate serves and the app answers its health path (bounded wait).
deadline=$((SECONDS + 60))
until curl -fsS -o /dev/null "http://127.0.0.1:$admin_port/readyz" 2>/dev/null; do
    kill -0 "$app_pid" 2>/dev/null || die "the example app exited"
    [ "$(podman container inspect --format '{{.State.Running}}' "$ctr")" = true ] || die "the container exited"
    [ $SECONDS -lt $deadline ] || die "not ready within 60 s"
    sleep 0.2
done

# The process as the kernel sees it: uid 10001, no effective capabilities, root filesystem mounted read-only.
pid=$(podman container inspect --format '{{.State.Pid}}' "$ctr")
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")
rootopts=$(awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo")
[ "$uid" = 10001 ] || die "uploadgate runs as uid $uid, expected 10001"
[ "$capeff" = 0000000000000000 ] || die "uploadgate has capabilities $capeff, expected none"
[[ ,$rootopts, == *,ro,* ]] || die "the container's root filesystem is mounted $rootopts, expected ro"

# JSON field of file $1 at Python expression $2 (on the parsed document d).
json() { /usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$run/upload.bin"
want=$(sha256sum "$run/upload.bin" | cut -d' ' -f1)
status=$(curl -sS -o "$run/upload.json" -w '%{http_code}' -H "Authorization: Bearer $token" \
    -F "title=image test" -F "file=@$run/upload.bin" "http://127.0.0.1:$gw_port/upload")
[ "$status" = 201 ] || die "upload with a token: status $status, expected 201: $(cat "$run/upload.json")"
got=$(json "$run/upload.json" 'd["files"][0]["sha256"]')
[ "$got" = "$want" ] || die "the app reports sha256 $got, the file's is $want"
stored=$(json "$run/upload.json" 'd["files"][0]["stored_as"]')
[ "$(sha256sum "$stored" | cut -d' ' -f1)" = "$want" ] || die "the file the app stored ($stored) differs"

status=$(curl -sS -o "$run/denied.json" -w '%{http_code}' -F "file=@$run/upload.bin" \
    "http://127.0.0.1:$gw_port/upload")
[ "$status" = 401 ] || die "upload without a token: status $status, expected 401"
[ "$(json "$run/denied.json" 'd["error"]["code"]')" = unauthorized ] ||
    die "upload without a token: body $(cat "$run/denied.json"), expected error code unauthorized"

status=$(curl -sS -o "$run/items.json" -w '%{http_code}' "http://127.0.0.1:$gw_port/api/items")
[ "$status" = 200 ] || die "GET /api/items: status $status, expected 200"
[ "$(json "$run/items.json" '[i["name"] for i in d["items"]]')" = "['alpha', 'beta']" ] ||
    die "GET /api/items: body $(cat "$run/items.json")"

# Only the accepted upload and the pass-through reached the app (the refused upload did not), and the app logged the
# client uploadgate saw (the last X-Forwarded-For entry), not uvicorn's "None".
clients=$(/usr/bin/python3 -c '
import json, sys
entries = [json.loads(line) for line in open(sys.argv[1])]
print(" ".join("%s:%s:%s" % (e["method"], e["path"], e["client"][0]) for e in entries if e["path"] != "/health"))' \
    "$run/app-requests.jsonl")
[ "$clients" = "POST:/upload:127.0.0.1 GET:/api/items:127.0.0.1" ] ||
    die "the app received (method:path:client) $clients, expected the upload and /api/items from 127.0.0.1"

log "ok: image $(numfmt --to=iec "$size") ($size bytes); base images ${t_base}s, build ${t_build}s," \
    "total $((SECONDS - t_start))s"
