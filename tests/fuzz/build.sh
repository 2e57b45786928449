#!/bin/sh
# Build the libFuzzer targets with CMake (-DUG_FUZZ=ON, tests/fuzz/CMakeLists.txt) into build-fuzz/ at the top of
# the repository: tests/fuzz/build.sh [TARGET...], every target when none is named. CC picks the clang (default
# clang) when build-fuzz/ is first configured: CMake keeps that compiler, so remove build-fuzz/ to change it.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -gt 0 ] || set -- fuzz
CC=${CC:-clang} cmake -S "$root" -B "$root/build-fuzz" -DUG_FUZZ=ON -DUG_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug \
    >/dev/null
cmake --build "$root/build-fuzz" -j"$(nproc)" --target "$@"
