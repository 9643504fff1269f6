#!/usr/bin/env bash
# Runs a SQL file on Apache Flink (PyFlink from PyPI, local mini-cluster): the Flink side of
# issue 4's benchmark, where `sluice run FILE.sql` runs the very same file. A manual bench.
#
#   bench/flink/run_sql.sh examples/sql/pageviews.sql            # parallelism 1
#   PARALLELISM=2 EVENTS=10000000 bench/flink/run_sql.sh FILE.sql
#
# Relative paths in the file resolve against the current directory (run both from the repo
# root). Environment: FLINK_VENV (default ~/.cache/sluice/flink-venv), FLINK_VERSION (2.2.1),
# PARALLELISM (1), EVENTS (input events, for events/s; 0 = not printed).
# Prints the RESULT line of bench/flink/sql_file.py plus the process's wall time and
# /usr/bin/time's maximum resident set (the largest process: the JVM).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${FLINK_VENV:-$HOME/.cache/sluice/flink-venv}
FLINK_VERSION=${FLINK_VERSION:-2.2.1}
FILE=${1:?usage: run_sql.sh FILE.sql}

if ! "$VENV/bin/python" -c "import pyflink" 2>/dev/null; then
  echo "installing apache-flink==$FLINK_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q "apache-flink==$FLINK_VERSION"
fi

LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT
start=$(date +%s.%N)
/usr/bin/time -v -o "$LOG/time" "$VENV/bin/python" "$ROOT/bench/flink/sql_file.py" "$FILE" \
  --set "parallelism.default=${PARALLELISM:-1}" --events "${EVENTS:-0}" > "$LOG/out" 2> "$LOG/err" \
  || { cat "$LOG/err" "$LOG/out" >&2; exit 1; }
end=$(date +%s.%N)
rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$LOG/time")
printf '%s process_s=%.2f time_max_rss_mb=%d\n' "$(grep '^RESULT' "$LOG/out")" \
  "$(echo "$end - $start" | bc)" "$((rss_kb / 1024))"
