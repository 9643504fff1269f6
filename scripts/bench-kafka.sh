#!/usr/bin/env bash
# The Kafka throughput benchmark (crates/sluice-connect/benches/kafka_throughput.rs) against a
# test broker of its own (tansu, scripts/kafka-broker.sh), started fresh for each run and stopped
# at the end, failed or not.
#
#   scripts/bench-kafka.sh            # two runs: librdkafka's defaults, then every client with
#                                     # fetch.queue.backoff.ms=10 (docs/PERFORMANCE.md says why)
#   BENCH_KAFKA_PROPS=linger.ms=20 scripts/bench-kafka.sh   # one run with these client properties
#   SLUICE_KAFKA_BOOTSTRAP=host:port scripts/bench-kafka.sh # use that broker (not started or stopped)
#
# The bench's own knobs (BENCH_EVENTS, BENCH_ROUNDS, BENCH_CASES, BENCH_PARALLELISM, ...) pass
# through; see the bench's header.
set -euo pipefail
cd "$(dirname "$0")/.."

bench() {
    cargo bench -p sluice-connect --features kafka --bench kafka_throughput
}

# Build first, so that no broker waits on the compiler.
cargo bench -p sluice-connect --features kafka --bench kafka_throughput --no-run

if [ -n "${SLUICE_KAFKA_BOOTSTRAP:-}" ]; then
    if [ -n "${BENCH_KAFKA_PROPS+set}" ]; then
        bench
    else
        BENCH_KAFKA_PROPS= bench
        BENCH_KAFKA_PROPS=fetch.queue.backoff.ms=10 bench
    fi
    exit 0
fi

# A broker state directory of our own, so that a broker started by someone else (tests, another
# checkout) is neither reused nor stopped.
export SLUICE_KAFKA_DIR
SLUICE_KAFKA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-kafka.XXXXXX")"
trap 'bash scripts/kafka-broker.sh stop || true; rm -rf "$SLUICE_KAFKA_DIR"' EXIT

run_fresh() {
    bash scripts/kafka-broker.sh stop
    SLUICE_KAFKA_BOOTSTRAP="$(bash scripts/kafka-broker.sh start)"
    export SLUICE_KAFKA_BOOTSTRAP
    echo "== broker $SLUICE_KAFKA_BOOTSTRAP (tansu, in-memory); client properties: ${BENCH_KAFKA_PROPS:-librdkafka defaults}"
    bench
}

if [ -n "${BENCH_KAFKA_PROPS+set}" ]; then
    run_fresh
else
    BENCH_KAFKA_PROPS= run_fresh
    BENCH_KAFKA_PROPS=fetch.queue.backoff.ms=10 run_fresh
fi
