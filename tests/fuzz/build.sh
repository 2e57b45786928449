#!/bin/sh
# Build the libFuzzer targets into build-fuzz/ (top level of the repository).
#
#   tests/fuzz/build.sh            build every target
#   tests/fuzz/build.sh TARGET...  only these (e.g. fuzz_multipart)
#
# Needs clang with the libFuzzer runtime (Debian: clang, and on some versions
# libclang-rt-<N>-dev), libyaml, jansson and OpenSSL headers. CC overrides clang.
#
# The src/ modules are compiled once with coverage instrumentation
# (-fsanitize=fuzzer-no-link) and linked into each target that needs them.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build-fuzz"
CC=${CC:-clang}
CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -std=c11 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -Wall -Wextra -I $root/src"

# target: its own file is tests/fuzz/<target>.c; then the src/ modules and libraries it links
deps() {
    case "$1" in
    fuzz_origin) echo "policy/cors.c" ;;
    fuzz_stderr_lines) echo "log_stderr.c log.c strbuf.c utf8.c -ljansson" ;;
    fuzz_chunked) echo "chunked.c" ;;
    fuzz_jwt) echo "policy/auth.c policy/jwt.c policy/jwks.c policy/b64url.c errors.c -lcrypto -ljansson" ;;
    fuzz_multipart | fuzz_part_header) echo "multipart.c multipart_header.c delim_find.c" ;;
    fuzz_front_head)
        echo "front_parse.c forward_head.c config.c config_yaml.c config_walk.c config_values.c config_policy.c"
        echo "policy/cors.c policy/auth.c policy/jwt.c policy/jwks.c policy/b64url.c errors.c -lyaml -ljansson -lcrypto -lh2o-evloop"
        ;;
    fuzz_config)
        echo "config.c config_yaml.c config_walk.c config_values.c config_policy.c"
        echo "policy/cors.c policy/auth.c policy/jwt.c policy/jwks.c policy/b64url.c errors.c -lyaml -ljansson -lcrypto"
        ;;
    *)
        echo "build.sh: unknown target $1" >&2
        exit 2
        ;;
    esac
}

ALL="fuzz_multipart fuzz_part_header fuzz_config fuzz_jwt fuzz_origin fuzz_front_head fuzz_stderr_lines fuzz_chunked"
targets=${*:-$ALL}

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "build.sh: $CC not found (Debian: apt-get install clang)" >&2
    exit 1
fi
for t in $targets; do
    deps "$t" >/dev/null # an unknown target stops the script here
done
mkdir -p "$out/obj/policy"

# the union of the modules the chosen targets need, each compiled once, in parallel
srcs=$(for t in $targets; do deps "$t"; done | tr ' ' '\n' | grep '\.c$' | sort -u)
pids=""
for s in $srcs; do
    o="$out/obj/${s%.c}.o"
    # shellcheck disable=SC2086 # CFLAGS is a list of flags
    $CC $CFLAGS -fsanitize=fuzzer-no-link -c "$root/src/$s" -o "$o" &
    pids="$pids $!"
done
fail=0
for p in $pids; do
    wait "$p" || fail=1
done
[ "$fail" = 0 ] || exit 1

pids=""
for t in $targets; do
    objs="" libs=""
    for d in $(deps "$t"); do
        case "$d" in
        -l*) libs="$libs $d" ;;
        *) objs="$objs $out/obj/${d%.c}.o" ;;
        esac
    done
    # shellcheck disable=SC2086 # word splitting of the lists is intended
    $CC $CFLAGS -fsanitize=fuzzer "$root/tests/fuzz/$t.c" $objs $libs -o "$out/$t" &
    pids="$pids $!"
done
for p in $pids; do
    wait "$p" || fail=1
done
if [ "$fail" != 0 ]; then
    echo "build.sh: build failed (if the link misses libFuzzer, install the libFuzzer runtime, e.g. libclang-rt-14-dev)" >&2
    exit 1
fi
echo "build.sh: built $targets in $out"
