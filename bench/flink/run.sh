#!/usr/bin/env bash
# Apache Flink (PyFlink from PyPI, local mini-cluster) on the page-view count — the Flink side
# of issue 3 benchmark 8a. A manual bench, not part of CI.
#
#   bench/flink/run.sh                       # 10 M events, parallelism 1 and 2
#   BENCH_EVENTS=1000000 PARALLELISM=1 bench/flink/run.sh
#
# Input: target/bench-data/page-views-N.jsonl, the file `cargo bench -p sluice-connect --bench
# pageviews_io` reads (generated here with `sluice gen page-views --count N --seed 1` if
# missing), and its two-file split page-views-N-split2/ if present (SPLIT=0 to skip) at
# parallelism ≥ 2 only: with one source task Flink's file source reads the two files one after
# the other under one watermark, so the second file's events are nearly all late (dropped).
# Environment: FLINK_VENV (default ~/.cache/sluice/flink-venv), FLINK_VERSION (2.2.1),
# BENCH_EVENTS (10000000), BENCH_DATA (target/bench-data), PARALLELISM ("1 2"),
# ROUNDS (1), SINK (file: the window rows are written and summed to check them; or blackhole).
#
# Per run it prints the job's wall time (submit → end, JVM start excluded) and events/s, the
# JVM start time, the whole process's wall time, and peak RSS: /usr/bin/time's maximum
# resident set (the largest single process: the JVM) and VmHWM of the JVM and of Python.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${FLINK_VENV:-$HOME/.cache/sluice/flink-venv}
FLINK_VERSION=${FLINK_VERSION:-2.2.1}
EVENTS=${BENCH_EVENTS:-10000000}
DATA=${BENCH_DATA:-$ROOT/target/bench-data}
PARALLELISM=${PARALLELISM:-1 2}
ROUNDS=${ROUNDS:-1}
SINK=${SINK:-file}
FILE=$DATA/page-views-$EVENTS.jsonl
SPLIT_DIR=$DATA/page-views-$EVENTS-split2

java -version 2>&1 | head -1
if ! "$VENV/bin/python" -c "import pyflink" 2>/dev/null; then
  echo "installing apache-flink==$FLINK_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q "apache-flink==$FLINK_VERSION"
fi
echo "$("$VENV/bin/python" -m pip show apache-flink | grep '^Version'), $("$VENV/bin/python" --version)"

if [ ! -f "$FILE" ]; then
  BIN=${SLUICE_BIN:-$ROOT/target/release/sluice}
  [ -x "$BIN" ] || (cd "$ROOT" && cargo build --release -p sluice)
  mkdir -p "$DATA"
  "$BIN" gen page-views --count "$EVENTS" --seed 1 > "$FILE.tmp" && mv "$FILE.tmp" "$FILE"
fi

inputs=("$FILE")
if [ "${SPLIT:-1}" = 1 ] && [ -d "$SPLIT_DIR" ]; then inputs+=("$SPLIT_DIR"); fi

LOG=$(mktemp -d)
for round in $(seq 1 "$ROUNDS"); do
  for input in "${inputs[@]}"; do
    for p in $PARALLELISM; do
      if [ "$input" = "$SPLIT_DIR" ] && [ "$p" -lt 2 ]; then continue; fi
      start=$(date +%s.%N)
      /usr/bin/time -v -o "$LOG/time" "$VENV/bin/python" "$ROOT/bench/flink/pageviews.py" \
        --path "$input" --parallelism "$p" --events "$EVENTS" --sink "$SINK" > "$LOG/out" 2> "$LOG/err" \
        || { cat "$LOG/err" "$LOG/out" >&2; exit 1; }
      end=$(date +%s.%N)
      result=$(grep '^RESULT' "$LOG/out")
      out_dir=$(sed -n 's/.* out=\(.*\)$/\1/p' <<< "$result")
      [ "$out_dir" != None ] && rm -rf "$out_dir"
      rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$LOG/time")
      printf 'round %s input=%s %s process_s=%.2f time_max_rss_mb=%d\n' "$round" "$(basename "$input")" \
        "${result% out=*}" "$(echo "$end - $start" | bc)" "$((rss_kb / 1024))"
    done
  done
done
rm -rf "$LOG"
