#!/usr/bin/env bash
# Tests of tests/layering.sh on small made-up source trees: downward includes pass; upward, sideways, unresolved
# and unlisted ones fail with their file:line message; "allow" lines excuse exactly one include and must be used.
# Prints "layering_test: N passed, N failed" and exits non-zero when any case failed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
check="$here/layering.sh"
work=$(mktemp -d)
if [ -z "$work" ] || [ ! -d "$work" ]; then
    echo "layering_test: mktemp failed" >&2
    exit 1
fi
trap 'rm -rf -- "$work"' EXIT

passed=0
failed=0

# A tree that follows its table: three layers, the last with two folders side by side, and the top level.
make_tree() { # directory to create it in
    local s=$1/src
    mkdir -p "$s/low" "$s/mid" "$s/left" "$s/right"
    cat >"$s/LAYERS" <<'END'
# lowest first
low
mid   # above low
left right
END
    printf '#pragma once\n' >"$s/low/a.h"
    printf '#include "a.h"\n' >"$s/low/a.c"
    printf '#include "low/a.h"\n#include "../low/a.h"\n' >"$s/mid/m.h"
    printf '#include "mid/m.h"\n#  include "low/a.h"\n#include <stdio.h>\n' >"$s/left/l.c"
    printf '#include "right.h"\n' >"$s/right/r.c"
    printf '#pragma once\n' >"$s/right/right.h"
    printf '#pragma once\n' >"$s/left/l.h"
    printf '#pragma once\n' >"$s/top.h"
    printf '#include "top.h"\n#include "left/l.h"\n#include "mid/m.h"\n#include "low/a.h"\n' >"$s/main.c"
}

# One case: a fresh tree, the shell commands "$2" run in its src/, then the check; its exit status must be $3 and
# its output must hold the line $4 (with SRC standing for the tree's src/).
case_() { # name, setup, expected status, expected line
    local name=$1 setup=$2 want_rc=$3 want_line=${4//SRC/$work/$1/src} out rc
    make_tree "$work/$name"
    (cd "$work/$name/src" && eval "$setup") || { echo "FAIL  $name: setup failed"; failed=$((failed + 1)); return; }
    out=$("$check" "$work/$name/src" 2>&1)
    rc=$?
    if [ "$rc" = "$want_rc" ] && grep -qFx -- "$want_line" <<<"$out"; then
        passed=$((passed + 1))
        echo "ok    $name"
    else
        failed=$((failed + 1))
        echo "FAIL  $name: status $rc (want $want_rc), want the line: $want_line"
        printf '      | %s\n' "${out//$'\n'/$'\n'      | }"
    fi
}

case_ downward_includes_pass '' 0 \
    "layering.sh: the 10 includes of 9 files follow SRC/LAYERS"
case_ upward_include_fails 'printf "#include \"a.h\"\n#include \"mid/m.h\"\n" >low/up.c' 1 \
    "SRC/low/up.c:2: includes mid/m.h from layer mid/ above low/"
case_ upward_relative_include_fails 'printf "#include \"../mid/m.h\"\n" >low/up.c' 1 \
    "SRC/low/up.c:1: includes mid/m.h from layer mid/ above low/"
case_ include_from_top_level_fails 'printf "\n# include \"top.h\"\n" >mid/up.h' 1 \
    "SRC/mid/up.h:2: includes top.h from layer SRC/ (top) above mid/"
case_ sideways_include_fails 'printf "#include \"right/right.h\"\n" >left/side.c' 1 \
    "SRC/left/side.c:1: includes right/right.h from layer right/ beside left/"
case_ unresolved_include_fails 'printf "#include \"nowhere.h\"\n" >low/x.c' 1 \
    "SRC/low/x.c:1: includes \"nowhere.h\", which is no file under SRC/"
case_ include_outside_src_fails 'printf "#include \"../../elsewhere.h\"\n" >low/x.c && touch ../elsewhere.h' 1 \
    "SRC/low/x.c:1: includes \"../../elsewhere.h\", which is no file under SRC/"
case_ unlisted_folder_fails 'mkdir extra && printf "#include \"low/a.h\"\n" >extra/x.c' 1 \
    "SRC/extra/x.c: folder extra/ is not in SRC/LAYERS"
case_ allowed_exception_passes \
    'printf "#include \"mid/m.h\"\n" >low/up.c && echo "allow low mid/m.h  # not moved yet" >>LAYERS' 0 \
    "layering.sh: the 11 includes of 10 files follow SRC/LAYERS"
case_ exception_is_for_one_header 'printf "#include \"top.h\"\n" >low/up.c && echo "allow low mid/m.h" >>LAYERS' 1 \
    "SRC/low/up.c:1: includes top.h from layer SRC/ (top) above low/"
case_ unused_exception_fails 'echo "allow low mid/m.h" >>LAYERS' 1 \
    "SRC/LAYERS:5: allow low mid/m.h: no include needs it; remove it"
case_ folder_listed_twice_is_a_table_error 'echo low >>LAYERS' 2 \
    "SRC/LAYERS:5: folder low/ is listed twice"

echo "layering_test: $passed passed, $failed failed"
[ "$failed" = 0 ]
