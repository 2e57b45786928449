#!/usr/bin/env bash
# Install what uploadgate needs from Debian 12's apt, for one purpose:
#   deploy/install-deps.sh build   - compile the server
#   deploy/install-deps.sh demo    - build + run the example FastAPI app
#   deploy/install-deps.sh image   - build the container image with podman and run it next to the example app
#                                    (tests/deploy/image.sh)
#   deploy/install-deps.sh test    - build + unit, integration and image tests (incl. the S3 test server,
#                                    tests/storage/swift.sh)
#   deploy/install-deps.sh bench   - everything the benchmark starts side by side
# Idempotent: packages already present are not fetched again.
set -euo pipefail
purpose=${1:-build}

build=(build-essential cmake pkg-config libh2o-evloop-dev libnghttp2-dev libssl-dev libyaml-dev libjansson-dev
    libcurl4-openssl-dev libxml2-dev openssl ca-certificates)
app=(python3 python3-fastapi python3-uvicorn python3-pydantic python3-httpx curl)
test=(libcriterion-dev clang python3-pytest python3-h2 python3-jwt python3-cryptography nghttp2-client chromium python3-tuspy)
# The S3 server of the tests (tests/storage/swift.sh: Swift with s3api, tempauth, memcached) and the client the
# tests assert with (boto3), independent of uploadgate's own signing.
s3test=(swift-proxy swift-object swift-container swift-account memcached python3-boto3)
# crun is not enough: it refuses hosts with hybrid cgroups, so runc is the runtime (tests/deploy/image.sh).
image=(podman runc debootstrap openssl)
bench=(nginx-light python3-aiohttp python3-aiofiles python3-requests python3-multipart python3-uvloop python3-httptools gnuplot-nox valgrind linux-perf)

case "$purpose" in
build) pkgs=("${build[@]}") ;;
demo) pkgs=("${build[@]}" "${app[@]}") ;;
image) pkgs=("${app[@]}" "${image[@]}") ;;
test) pkgs=("${build[@]}" "${app[@]}" "${test[@]}" "${s3test[@]}" "${image[@]}") ;;
bench) pkgs=("${build[@]}" "${app[@]}" "${test[@]}" "${s3test[@]}" "${image[@]}" "${bench[@]}") ;;
*) echo "usage: $0 build|demo|image|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
