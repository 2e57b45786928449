#!/bin/sh
# CI: build every fuzz target, then run each once over every input of its
# committed corpus (tests/fuzz/corpus/<name>/), without fuzzing. Any crash,
# leak, sanitizer report or failed property makes the script exit non-zero.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
targets="fuzz_multipart fuzz_part_header fuzz_config fuzz_jwt fuzz_origin fuzz_front_head fuzz_stderr_lines fuzz_chunked"

"$here/build.sh" || exit 1

failed=""
for t in $targets; do
    corpus="$here/corpus/$(echo "$t" | sed 's/^fuzz_//')"
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
