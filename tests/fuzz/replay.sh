#!/bin/sh
# CI: build every fuzz target (tests/fuzz/fuzz_*.c, with CMake into build-fuzz/,
# see build.sh), then run each once over every input of its committed corpus
# (tests/fuzz/corpus/<name>/), without fuzzing. Any crash, leak, sanitizer
# report or failed property makes the script exit non-zero.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# every target CMake builds: one per fuzz_*.c
targets=$(for f in "$here"/fuzz_*.c; do basename "$f" .c; done)

"$here/build.sh" || exit 1

failed=""
for t in $targets; do
    corpus="$here/corpus/$(echo "$t" | sed 's/^fuzz_//')"
    if [ ! -d "$corpus" ]; then # a target without seeds would replay nothing and pass
        failed="$failed $t"
        echo "FAIL  $t: no corpus $corpus"
        continue
    fi
    log=$(mktemp)
    # -runs=0: read the corpus (every file executed once), then stop
    if "$root/build-fuzz/$t" -runs=0 -timeout=30 "$corpus" >"$log" 2>&1; then
        echo "ok    $t: $(find "$corpus" -type f | wc -l) inputs"
    else
        failed="$failed $t"
        echo "FAIL  $t:"
        tail -n 40 "$log"
    fi
    rm -f "$log"
done
if [ -n "$failed" ]; then
    echo "replay.sh: failures:$failed"
    exit 1
fi
echo "replay.sh: all corpora replayed cleanly"
