#!/usr/bin/env bash
# Build uploadgate and run the whole test suite:
#   1. Criterion unit tests (ctest), normal build
#   2. the same unit tests built with AddressSanitizer + UBSan
#   3. src/ include layering checked (tests/layering.sh against src/LAYERS); deploy/ files validated offline
#      (tests/deploy/validate.sh), then the image built and run (tests/deploy/image.sh)
#   4. integration tests: the real binary in front of the real example FastAPI app (pytest)
#   5. the integration tests again against the ASan + UBSan build of uploadgate (slow-marked cases left out)
# Installs the Debian packages it needs first (as root). Extra arguments go to pytest.
#
# Phases that do not depend on each other overlap, because most of their time is waiting (disk, dpkg, sockets,
# timeouts), not CPU: the image is built while the sanitizer build and the fuzz replay run, and the two integration
# passes run side by side (one pytest session each, in their own temporary directories, on free ports). A phase that
# runs in the background writes to a log in build/run-logs/, printed whole when it ends, so its output is never
# interleaved with another's.
set -euo pipefail
cd "$(dirname "$0")/.."

logs="$PWD/build/run-logs"
# bg NAME COMMAND...: run COMMAND in the background, its output in $logs/NAME.log; its PID in bg_pid.
bg() {
    local name=$1
    shift
    "$@" >"$logs/$name.log" 2>&1 &
    bg_pid=$!
}
# join NAME PID: wait for a background phase, print its log, and fail the run when it failed.
join() {
    local rc=0
    wait "$2" || rc=$?
    echo "==== $1 (exit $rc) ===="
    cat "$logs/$1.log"
    return "$rc"
}

# A run that fails early stops what it left running in the background.
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

deploy/install-deps.sh test

jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
mkdir -p "$logs"
ctest --test-dir build --output-on-failure

# src/ layering: every #include "..." follows the layer order of src/LAYERS (lower layers only). The checker's
# own tests run first, so a broken checker cannot pass the tree by accident.
tests/layering_test.sh
tests/layering.sh

# deploy/: Kubernetes manifests against the schemas, the Dockerfile linted, the ConfigMap's config --check'ed by this build.
UG_BINARY="$PWD/build/uploadgate" tests/deploy/validate.sh
# The image itself: deploy/Dockerfile built with podman (base images from debootstrap, cached in build-image/) and run
# read-only, without capabilities, as uid 10001 next to the example app: upload 201, no token 401, pass-through 200.
bg image tests/deploy/image.sh
image_pid=$bg_pid

cmake -S . -B build-asan -DUG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
ctest --test-dir build-asan --output-on-failure

# Replay every committed fuzz corpus once (libFuzzer, ASan+UBSan); long fuzzing runs are tests/fuzz/run.sh.
tests/fuzz/replay.sh
join image "$image_pid"

# playwright-core drives Debian's chromium for the browser test; it never downloads a browser of its own.
command -v npm >/dev/null || { echo "tests/run.sh: npm (Node.js 20) is required for the browser test" >&2; exit 1; }
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
# The resumable-upload client drivers and their reference tus server (@tus/server), Uppy bundled by esbuild.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/resumable --no-audit --no-fund --loglevel=error

# Debian's interpreter: the python3 first on PATH may be another one without the packages.
bg integration env UG_BINARY="$PWD/build/uploadgate" /usr/bin/python3 -m pytest tests/integration -q -p no:cacheprovider "$@"
integration_pid=$bg_pid

# Memory errors on paths only a real client reaches (shutdown, protocol edge cases, disconnects) show up here and not
# in the unit tests; the harness fails a test whose uploadgate log holds a sanitizer report, or whose uploadgate dies
# of a signal while stopping. Leak detection is off: the worker contexts are deliberately not freed at exit. Tests of
# the test peers alone (marked `peers`: no uploadgate runs in them) are not repeated.
bg integration-asan env ASAN_OPTIONS=detect_leaks=0 UG_BINARY="$PWD/build-asan/uploadgate" \
    /usr/bin/python3 -m pytest tests/integration -q -p no:cacheprovider -m "not slow and not peers" "$@"
asan_pid=$bg_pid

rc=0
join integration "$integration_pid" || rc=1
join integration-asan "$asan_pid" || rc=1
exit "$rc"
