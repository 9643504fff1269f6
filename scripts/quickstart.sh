#!/usr/bin/env bash
# Sluice quick start: the main job.
#
# Part 1, the streaming demo: builds the release binary and runs `sluice demo --events COUNT`:
# COUNT generated page views appended to a topic of the embedded log while a pipeline counts
# them per URL in 5-minute tumbling windows, live. Checks that it exits 0 and that its summary
# shows COUNT events appended and read, windows emitted, and window counts + late == COUNT.
#
# Part 2, the log on its own: creates a 4-partition topic, pipes COUNT generated page views
# keyed by URL into `sluice produce`, describes the topic, shows a few records with their
# metadata, and checks that consuming the whole topic returns exactly COUNT records.
#
# Ends with a PASS or FAIL line for each part, and exits non-zero if either failed.
#
# Usage:
#   scripts/quickstart.sh                      # fresh temporary data dir, removed on exit
#   scripts/quickstart.sh DIR                  # use DIR as the data dir (kept)
#   scripts/quickstart.sh --data-dir DIR       # same
# Environment:
#   COUNT=N             events for the demo and records for the round trip (default 2000000)
#   RATE=R              the demo's appends per second (default 200000; 0 = as fast as possible)
#   KEEP_DATA=1         keep the temporary data dir instead of removing it
#   CARGO_TARGET_DIR    respected; the binary is ${CARGO_TARGET_DIR:-target}/release/sluice
set -euo pipefail

COUNT="${COUNT:-2000000}"
RATE="${RATE:-200000}"
if ! [[ "$COUNT" =~ ^[0-9]+$ ]] || [[ "$COUNT" -eq 0 ]]; then
    echo "quickstart: COUNT must be a positive integer, got '$COUNT'" >&2
    exit 2
fi
if ! [[ "$RATE" =~ ^[0-9]+$ ]]; then
    echo "quickstart: RATE must be a non-negative integer, got '$RATE'" >&2
    exit 2
fi

# Resolve a user-given data dir before changing directory, so relative paths work.
data_dir=""
data_trap=""
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
        data_trap="rm -rf -- '$data_dir'"
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

# The value of "NAME:" in the demo's summary (first word after the colon).
figure() { sed -n "s/^$1: *\([^ ]*\).*/\1/p" "$demo_out" | head -n 1; }

demo_ok=1
demo_out="$(mktemp "${TMPDIR:-/tmp}/sluice-demo-out.XXXXXX")"
trap_cmd="rm -f -- '$demo_out'"
trap "$trap_cmd${data_trap:+; $data_trap}" EXIT

step "part 1, the streaming demo: sluice demo --events $COUNT --rate $RATE"
# tee ignores Ctrl-C, so that the demo's summary after a Ctrl-C still reaches the terminal.
set +e
sluice demo --events "$COUNT" --rate "$RATE" | (trap '' INT; tee "$demo_out")
demo_status="${PIPESTATUS[0]}"
set -e
appended="$(figure 'events appended')"
read_n="$(figure 'events read')"
windows="$(figure 'windows emitted')"
sum="$(figure 'sum of window counts')"
late="$(figure 'late events')"
echo
if [[ "$demo_status" -ne 0 ]]; then
    echo "FAIL: sluice demo exited with status $demo_status"
    demo_ok=0
elif [[ "$appended" != "$COUNT" || "$read_n" != "$COUNT" ]]; then
    echo "FAIL: the demo appended '${appended}' and read '${read_n}' events, expected $COUNT"
    demo_ok=0
elif ! [[ "$windows" =~ ^[0-9]+$ ]] || [[ "$windows" -eq 0 ]]; then
    echo "FAIL: the demo emitted no window (windows emitted: '${windows}')"
    demo_ok=0
elif [[ "$((sum + late))" -ne "$COUNT" ]]; then
    echo "FAIL: window counts ($sum) + late events ($late) != $COUNT"
    demo_ok=0
else
    echo "PASS: demo: $COUNT events appended and read, $windows windows emitted, window counts $sum + late $late = $COUNT"
fi

step "part 2, the log on its own: sluice topic create page_views --partitions 4"
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
log_ok=1
if [[ "$consumed" -eq "$COUNT" ]]; then
    echo "PASS: round trip: consumed $consumed records, produced $COUNT"
else
    echo "FAIL: round trip: consumed $consumed records, produced $COUNT"
    log_ok=0
fi

[[ "$demo_ok" -eq 1 ]] || echo "FAIL: the streaming demo (see above)"
[[ "$demo_ok" -eq 1 && "$log_ok" -eq 1 ]]
