#!/usr/bin/env bash
# Sluice quick start: the interim "main job" (until `sluice demo` exists).
#
# Builds the release binary, creates a 4-partition topic, appends COUNT generated page views
# keyed by URL, describes the topic, shows a few records with their metadata, and checks that
# consuming the whole topic returns exactly COUNT records.
#
# Usage:
#   scripts/quickstart.sh                      # fresh temporary data dir, removed on exit
#   scripts/quickstart.sh DIR                  # use DIR as the data dir (kept)
#   scripts/quickstart.sh --data-dir DIR       # same
# Environment:
#   COUNT=N             records to generate (default 1000000)
#   KEEP_DATA=1         keep the temporary data dir instead of removing it
#   CARGO_TARGET_DIR    respected; the binary is ${CARGO_TARGET_DIR:-target}/release/sluice
set -euo pipefail

COUNT="${COUNT:-1000000}"
if ! [[ "$COUNT" =~ ^[0-9]+$ ]] || [[ "$COUNT" -eq 0 ]]; then
    echo "quickstart: COUNT must be a positive integer, got '$COUNT'" >&2
    exit 2
fi

# Resolve a user-given data dir before changing directory, so relative paths work.
data_dir=""
case "${1:-}" in
    "") ;;
    --data-dir)
        [[ -n "${2:-}" ]] || { echo "quickstart: --data-dir needs a directory" >&2; exit 2; }
        data_dir="$(realpath -m -- "$2")" ;;
    -h|--help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0 ;;
    -*)
        echo "quickstart: unknown option '$1' (expected a data dir or --data-dir DIR)" >&2
        exit 2 ;;
    *)  data_dir="$(realpath -m -- "$1")" ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "build: cargo build --release -p sluice"
cargo build --release -p sluice
SLUICE="${CARGO_TARGET_DIR:-target}/release/sluice"
if [[ ! -x "$SLUICE" ]]; then
    echo "quickstart: built binary not found at $SLUICE" >&2
    exit 1
fi

if [[ -z "$data_dir" ]]; then
    data_dir="$(mktemp -d "${TMPDIR:-/tmp}/sluice-quickstart.XXXXXX")"
    if [[ "${KEEP_DATA:-0}" == 1 ]]; then
        echo "data dir: $data_dir (kept: KEEP_DATA=1)"
    else
        trap 'rm -rf -- "$data_dir"' EXIT
        echo "data dir: $data_dir (removed on exit; set KEEP_DATA=1 to keep it)"
    fi
else
    if [[ -e "$data_dir/topics/page_views" ]]; then
        echo "quickstart: $data_dir already has a topic page_views; use an empty or new data dir" >&2
        exit 1
    fi
    echo "data dir: $data_dir"
fi

sluice() { "$SLUICE" --data-dir "$data_dir" "$@"; }

step "sluice topic create page_views --partitions 4"
sluice topic create page_views --partitions 4

step "sluice gen page-views --count $COUNT | sluice produce page_views --key url --timestamp ts"
start_ns="$(date +%s%N)"
sluice gen page-views --count "$COUNT" | sluice produce page_views --key url --timestamp ts
end_ns="$(date +%s%N)"
awk -v n="$COUNT" -v ns="$((end_ns - start_ns))" \
    'BEGIN { s = ns / 1e9; printf "generated + appended %d records in %.2f s (%.0f records/s, generator included)\n", n, s, (s > 0 ? n / s : 0) }'

step "sluice topic describe page_views"
sluice topic describe page_views

step "sluice consume page_views --from earliest --max 5 --with-metadata"
sluice consume page_views --from earliest --max 5 --with-metadata

step "sluice consume page_views --from earliest | wc -l"
consumed="$(sluice consume page_views --from earliest | wc -l)"
consumed="${consumed//[[:space:]]/}"

echo
if [[ "$consumed" -eq "$COUNT" ]]; then
    echo "PASS: consumed $consumed records, produced $COUNT"
else
    echo "FAIL: consumed $consumed records, produced $COUNT"
    exit 1
fi
