#!/usr/bin/env bash
# Check that every #include "..." in the .c and .h files under src/ follows the layer order of src/LAYERS (the
# rule is written at the top of that file): a file includes only from its own folder and from lower layers, never
# upward or sideways, except where an "allow" line of the table says so.
#
#   tests/layering.sh [SRC_DIR]     default: the repository's src/
#
# An include resolves as the compiler resolves it: next to the including file first, then from SRC_DIR (the
# build's -I src). Every quoted include must resolve to a file under SRC_DIR; system headers use <...>.
# Exit status: 0 when every include follows the table, 1 when some do not (each listed as
# "file:line: includes X from layer Y above Z"), 2 when the table itself is unreadable or wrong.
set -euo pipefail

src=${1:-$(cd "$(dirname "$0")/.." && pwd)/src}
src=${src%/}
shown=${1:-src} # how paths are printed: as given, or src/ for the repository's own tree
shown=${shown%/}
table="$src/LAYERS"
TOP=. # the key of the top layer: the files directly in src/

declare -A rank=()      # folder (or TOP) -> its line in the order, 0 the lowest
declare -A allow_at=()  # "FOLDER HEADER" -> the table line that allows it
declare -A allow_used=()
declare -A unlisted=()  # folders found that the table lacks, reported once each
problems=()

table_error() {
    echo "$shown/LAYERS:$1: $2" >&2
    exit 2
}

read_table() {
    [ -f "$table" ] || { echo "layering.sh: no layer table $table" >&2; exit 2; }
    local n=0 lineno=0 line word
    local -a words
    while IFS= read -r line || [ -n "$line" ]; do
        lineno=$((lineno + 1))
        line=${line%%#*}
        read -r -a words <<<"$line" || true
        [ ${#words[@]} -gt 0 ] || continue
        if [ "${words[0]}" = allow ]; then
            [ ${#words[@]} -eq 3 ] || table_error "$lineno" "expected: allow FOLDER HEADER"
            allow_at["${words[1]} ${words[2]}"]=$lineno
            continue
        fi
        for word in "${words[@]%/}"; do # policy/ names the folder policy
            case "$word" in
            */* | . | ..) table_error "$lineno" "\"$word\": a layer is one folder directly under $shown/" ;;
            esac
            [ -z "${rank[$word]+set}" ] || table_error "$lineno" "folder $word/ is listed twice"
            rank[$word]=$n
        done
        n=$((n + 1))
    done <"$table"
    rank[$TOP]=$n
    local key
    for key in "${!allow_at[@]}"; do # an exception names a listed folder, checked here so a typo cannot hide
        if [ -z "${rank[${key%% *}]+set}" ] || [ "${key%% *}" = "$TOP" ]; then
            table_error "${allow_at[$key]}" "allow: ${key%% *}/ is not a folder of the table"
        fi
    done
}

# The folder a path under src/ belongs to (its first component), or TOP for a file directly in src/; into REPLY.
# (Results go through REPLY rather than $(...) because a subshell per include makes the check slow.)
folder_of() {
    case "$1" in
    */*) REPLY=${1%%/*} ;;
    *) REPLY=$TOP ;;
    esac
}

layer_name() {
    if [ "$1" = "$TOP" ]; then echo "$shown/ (top)"; else echo "$1/"; fi
}

# The path "$1" (relative to src/, may hold . and ..) without . and .. segments, into REPLY; empty when it
# climbs out of src/. Symbolic links are not followed: the layer is where the path says the header is.
normalise() {
    local part
    local -a parts out=()
    IFS=/ read -r -a parts <<<"$1"
    for part in "${parts[@]}"; do
        case "$part" in
        "" | .) ;;
        ..)
            [ ${#out[@]} -gt 0 ] || { REPLY=; return; }
            unset 'out[${#out[@]}-1]'
            ;;
        *) out+=("$part") ;;
        esac
    done
    local IFS=/
    REPLY="${out[*]}"
}

# Where `#include "$2"` in src/$1 leads, as a path under src/, into REPLY; empty when it leads to no file there.
resolve() {
    local dir=. cand
    case "$1" in */*) dir=${1%/*} ;; esac
    for cand in "$dir/$2" "$2"; do
        case "$cand" in /*) continue ;; esac # an absolute path is no project header
        normalise "$cand"
        [ -n "$REPLY" ] && [ -f "$src/$REPLY" ] && return
    done
    REPLY=
}

check_include() { # file (under src/), line number, the name between the quotes
    local file=$1 line=$2 name=$3 target from to
    includes=$((includes + 1))
    resolve "$file" "$name"
    target=$REPLY
    if [ -z "$target" ]; then
        problems+=("$shown/$file:$line: includes \"$name\", which is no file under $shown/")
        return
    fi
    folder_of "$file"
    from=$REPLY
    folder_of "$target"
    to=$REPLY
    [ "$from" != "$to" ] || return 0
    if [ -z "${rank[$to]+set}" ]; then
        problems+=("$shown/$file:$line: includes $target from folder $to/, which $shown/LAYERS does not list")
        return
    fi
    [ -n "${rank[$from]+set}" ] || return 0 # the file's own folder is reported once, by check_file
    [ "${rank[$to]}" -ge "${rank[$from]}" ] || return 0
    if [ -n "${allow_at["$from $target"]+set}" ]; then
        allow_used["$from $target"]=1
        return
    fi
    local how=above
    [ "${rank[$to]}" -gt "${rank[$from]}" ] || how=beside
    problems+=("$shown/$file:$line: includes $target from layer $(layer_name "$to") $how $(layer_name "$from")")
}

check_file() { # a path under src/
    local file=$1 folder hit
    folder_of "$file"
    folder=$REPLY
    if [ -z "${rank[$folder]+set}" ] && [ -z "${unlisted[$folder]+set}" ]; then
        unlisted[$folder]=1
        problems+=("$shown/$file: folder $folder/ is not in $shown/LAYERS")
    fi
    while IFS= read -r hit; do
        [ -n "$hit" ] || continue
        [[ $hit =~ ^([0-9]+):[^\"]*\"([^\"]*)\" ]] && check_include "$file" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    done < <(grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*"' "$src/$file" || true)
}

read_table
files=0 includes=0
while IFS= read -r f; do
    check_file "${f#"$src"/}"
    files=$((files + 1))
done < <(find "$src" -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)

for key in "${!allow_at[@]}"; do
    [ -n "${allow_used[$key]+set}" ] ||
        problems+=("$shown/LAYERS:${allow_at[$key]}: allow $key: no include needs it; remove it")
done

if [ ${#problems[@]} -gt 0 ]; then
    printf '%s\n' "${problems[@]}"
    echo "layering.sh: ${#problems[@]} problem(s) with the layer order of $shown/LAYERS"
    exit 1
fi
echo "layering.sh: the $includes includes of $files files follow $shown/LAYERS"
