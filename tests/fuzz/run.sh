#!/bin/sh
# Fuzz every target for SECONDS each (default 60), one after the other. Not for CI.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
#
# Each target works on a copy of its committed corpus in tests/fuzz/out/<target>/
# (gitignored); new inputs libFuzzer keeps land there, so a later run goes on
# from them. Crashes, leaks and timeouts are written to tests/fuzz/out/crashes/.
# To keep an interesting input, minimise it (-minimize_crash=1 or -merge=1) and
# copy it into tests/fuzz/corpus/<name>/, where replay.sh (CI) runs it for good.
# The exit status is non-zero when any target failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
# default: every target CMake builds, one per fuzz_*.c
targets=${*:-$(for f in "$here"/fuzz_*.c; do basename "$f" .c; done)}

# shellcheck disable=SC2086 # one argument per target; build.sh builds them with CMake into build-fuzz/
"$here/build.sh" $targets || exit 1

corpus_of() { echo "$1" | sed 's/^fuzz_//'; } # fuzz_part_header -> part_header
dict_of() {
    case "$1" in
    fuzz_multipart | fuzz_part_header) echo "$here/multipart.dict" ;;
    fuzz_config) echo "$here/config.dict" ;;
    esac
}

mkdir -p "$here/out/crashes"
failed=""
for t in $targets; do
    work="$here/out/$t"
    mkdir -p "$work"
    cp -p "$here/corpus/$(corpus_of "$t")/"* "$work/" # new finds from earlier runs stay
    dict=$(dict_of "$t")
    echo "== $t: ${secs}s on $work"
    # shellcheck disable=SC2046 # no dictionary: no argument at all
    if ! "$root/build-fuzz/$t" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$here/out/crashes/$t-" $([ -n "$dict" ] && echo "-dict=$dict") "$work" \
        >"$here/out/$t.log" 2>&1; then
        failed="$failed $t"
        echo "   FAILED, see $here/out/$t.log and $here/out/crashes/"
    fi
    grep -E '^stat::number_of_executed_units|^Done|DONE' "$here/out/$t.log" | tail -2 | sed 's/^/   /'
done
if [ -n "$failed" ]; then
    echo "run.sh: failures:$failed"
    exit 1
fi
echo "run.sh: no failures"
